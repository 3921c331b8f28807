/**
 * The datadir lock on real processes: while `meridian devnet` runs on a directory, every
 * command that would touch it (devnet --reset, a second devnet/start, init --force, keys new)
 * is refused with DATADIR_LOCKED, exits non-zero and changes nothing; a lock left by kill -9
 * does not block the next start.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MERIDIAN_BIN, startMeridian } from "../helpers/meridian-process.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { getFreePorts } from "../helpers/ports.ts";
import {
  cleanupAll,
  type NodeHandle,
  type RunResult,
  runToCompletion,
  withLogs,
} from "../helpers/process.ts";
import { blockNumber, waitForBlock } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

/** Runs one CLI command to completion (bounded: killed after `timeoutMs`). */
function runCli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runToCompletion(process.execPath, [MERIDIAN_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, MERIDIAN_KEYSTORE_SCRYPT_N: "1024", NO_COLOR: "1" },
    timeoutMs,
  });
}

/** Every path under `dir` with its size and mtime: "changes nothing" is checked against this. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith("LOG")) {
        const s = statSync(p);
        out.set(p, `${s.size}`);
      }
    }
  };
  walk(dir);
  return out;
}

let datadir: string;
let node: NodeHandle;

beforeAll(async () => {
  datadir = await makeTempDir("meridian-lock-");
  // One block a day: the chain database does not change while the refusals are checked, so
  // "changes nothing" can be compared file by file.
  node = await startMeridian({ datadir, blockTimeMs: 86_400_000 });
  // Consensus decides height 1 at once (the block time is the wait after a commit); the round's
  // remaining timeouts land in its WAL within 1.5 s. After that nothing is written for a day.
  await waitForBlock(node.rpcUrl, 1n);
  await new Promise((resolve) => setTimeout(resolve, 2500));
}, 90_000);

afterAll(async () => {
  await cleanupAll();
});

describe("datadir lock", () => {
  it("refuses devnet --reset on a running node's datadir and deletes nothing", async () => {
    await withLogs(node, async () => {
      const before = snapshot(datadir);
      expect([...before.keys()].some((p) => p.includes("chaindata"))).toBe(true);
      const [port] = await getFreePorts(1);
      const res = await runCli([
        "devnet",
        "--reset",
        "--datadir",
        datadir,
        "--http.port",
        String(port),
        "--no-metrics",
      ]);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain("is in use by another process");
      expect(res.stderr).toContain("[DATADIR_LOCKED]");
      expect(res.stderr).not.toContain("Deleting");
      expect(existsSync(join(datadir, "chaindata", "CURRENT"))).toBe(true);
      expect(snapshot(datadir)).toEqual(before);
      // The running node still serves.
      expect(await blockNumber(node.rpcUrl)).toBeGreaterThanOrEqual(0n);
    });
  }, 60_000);

  it("refuses a second devnet and a start with the same error", async () => {
    const [p1, p2] = await getFreePorts(2);
    const devnet = await runCli(["devnet", "--datadir", datadir, "--http.port", String(p1), "--no-metrics"]);
    const start = await runCli(["start", "--datadir", datadir, "--http.port", String(p2), "--no-metrics"]);
    for (const res of [devnet, start]) {
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(
        /error: .* is in use by another process \(pid \d+, meridian devnet\) \[DATADIR_LOCKED\]/,
      );
    }
  }, 60_000);

  it("refuses init --force and keys new on the running node's datadir", async () => {
    const before = snapshot(datadir);
    const init = await runCli(["init", "--force", "--datadir", datadir]);
    expect(init.code).not.toBe(0);
    expect(init.stderr).toContain("[DATADIR_LOCKED]");
    const password = join(await makeTempDir("meridian-pw-"), "pw.txt");
    writeFileSync(password, "correct horse\n");
    const keys = await runCli(["keys", "new", "--datadir", datadir, "--password", password]);
    expect(keys.code).not.toBe(0);
    expect(keys.stderr).toContain("[DATADIR_LOCKED]");
    const keysDir = await runCli([
      "keys",
      "new",
      "--keystore-dir",
      join(datadir, "keystore"),
      "--password",
      password,
    ]);
    expect(keysDir.code).not.toBe(0);
    expect(keysDir.stderr).toContain("[DATADIR_LOCKED]");
    expect(snapshot(datadir)).toEqual(before);
    expect(existsSync(join(datadir, "keystore"))).toBe(false);
  }, 60_000);

  it("a lock left behind by kill -9 does not block the next start, and --reset then works", async () => {
    await node.kill9();
    expect(existsSync(join(datadir, "meridian.lock"))).toBe(true);
    const again = await startMeridian({ datadir, blockTimeMs: 100, extraArgs: ["--reset"] });
    try {
      await withLogs(again, async () => {
        expect(await waitForBlock(again.rpcUrl, 2n)).toBeGreaterThanOrEqual(2n);
        expect(existsSync(join(datadir, "meridian.lock"))).toBe(true);
      });
    } finally {
      await again.stop();
    }
    // A clean stop removes the lock.
    expect(existsSync(join(datadir, "meridian.lock"))).toBe(false);
  }, 90_000);
});
