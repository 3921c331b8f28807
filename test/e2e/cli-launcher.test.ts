/**
 * `npx meridian <command>` in a clone: the root package's `bin` is a launcher
 * (bin/meridian.js) that runs the CLI on the project's Node 22 whatever Node
 * started it, and passes signals on so a devnet still shuts down cleanly.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/paths.ts";
import { getFreePorts } from "../helpers/ports.ts";
import { cleanupAll, runToCompletion, spawnManaged, waitForRpc } from "../helpers/process.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const LAUNCHER = join(REPO_ROOT, "bin", "meridian.js");
const PROJECT_NODE_VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", "node", "package.json"), "utf8")) as {
    version: string;
  }
).version;

/** A Node on this machine older than 22.18 (a typical system Node), if there is one. */
function olderNode(): string | undefined {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    if (!existsSync(candidate)) continue;
    const [major = 0, minor = 0] = execFileSync(candidate, ["-p", "process.versions.node"], {
      encoding: "utf8",
    })
      .trim()
      .split(".")
      .map(Number);
    if (major < 22 || (major === 22 && minor < 18)) return candidate;
  }
  return undefined;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return runToCompletion(cmd, args, { cwd: REPO_ROOT, env });
}

afterAll(async () => {
  await cleanupAll();
});

describe("meridian launcher (real processes)", () => {
  it("the root package declares it as the `meridian` bin", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin).toEqual({ meridian: "bin/meridian.js" });
  });

  it("`npx meridian version` runs the CLI on the project's Node", async () => {
    // --no: never fetch a package called "meridian" from the registry; the clone's own bin must answer.
    const r = await run("npx", ["--no", "meridian", "version", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ meridian: "0.1.0", node: `v${PROJECT_NODE_VERSION}` });
  });

  const older = olderNode();
  it.skipIf(older === undefined)(
    "hands over to the project's Node when an older Node starts it",
    async () => {
      const r = await run(older as string, [LAUNCHER, "version", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ node: `v${PROJECT_NODE_VERSION}` });
    },
  );

  it("passes on the exit code of a failing command", async () => {
    const r = await run(process.execPath, [LAUNCHER, "frobnicate"]);
    expect(r.code).toBe(1);
  });

  it("runs a devnet that answers RPC and stops cleanly on SIGINT", async () => {
    const datadir = await makeTempDir("meridian-launcher-");
    const [port] = await getFreePorts(1);
    const args = [LAUNCHER, "devnet", "--datadir", datadir, "--http.port", String(port), "--no-metrics"];
    const devnet = spawnManaged(older ?? process.execPath, [...args, "--log.format", "json"], REPO_ROOT);
    const url = `http://127.0.0.1:${port}`;
    await waitForRpc(url, devnet, 60_000, "meridian devnet (launcher)");
    const stopped = await devnet.stop("SIGINT", 15_000);
    expect(stopped).toMatchObject({ code: 0, forced: false });
    expect(devnet.logs()).toContain('"msg":"stopped"');
  }, 120_000);
});
