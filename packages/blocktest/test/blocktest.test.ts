import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadParallelExecutor, readKnownFailures, runBlocktests } from "../src/index.ts";

const FIXTURES = fileURLToPath(
  new URL("../../../test/fixtures/ethereum-tests/BlockchainTests", import.meta.url),
);
const BIN = fileURLToPath(new URL("../src/bin.ts", import.meta.url));
const KNOWN = readKnownFailures(fileURLToPath(new URL("../KNOWN_FAILURES", import.meta.url)));
const at = (p: string) => join(FIXTURES, p);

/** ~60 cases across the categories the vendored subset covers. */
const FAST_SLICE = [
  "ValidBlocks/bcEIP1559",
  "InvalidBlocks/bcEIP1559",
  "InvalidBlocks/bc4895-withdrawals/incorrectWithdrawalsRoot.json",
  "InvalidBlocks/bc4895-withdrawals/warmup.json",
  "InvalidBlocks/bcMultiChainTest",
  "InvalidBlocks/bcInvalidHeaderTest/GasLimitHigherThan2p63m1.json",
  "ValidBlocks/bcEIP4844-blobtransactions",
  "ValidBlocks/bcRandomBlockhashTest/randomStatetest101BC.json",
  "GeneralStateTests/Cancun/stEIP1153-transientStorage/10_revertUndoesStoreAfterReturn.json",
  "GeneralStateTests/Pyspecs/cancun/eip4788_beacon_root/beacon_root_contract_calls.json",
  "GeneralStateTests/Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json",
  "GeneralStateTests/Pyspecs/cancun/eip6780_selfdestruct/selfdestruct_pre_existing.json",
  "GeneralStateTests/stSStoreTest/InitCollisionParis.json",
  "GeneralStateTests/stPreCompiledContracts/modexp.json",
  "GeneralStateTests/stCreate2/CREATE2_Bounds.json",
  "GeneralStateTests/stRefundTest/refund50_1.json",
  "GeneralStateTests/stLogTests/log0_emptyMem.json",
  "GeneralStateTests/stEIP2930/addressOpcodes.json",
  "GeneralStateTests/stSystemOperationsTest/ABAcallsSuicide0.json",
].map(at);

const tmp = mkdtempSync(join(tmpdir(), "meridian-blocktest-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of a one-case fixture file with `edit` applied to the case. */
function tampered(name: string, edit: (c: Record<string, unknown>) => void): string {
  const json = JSON.parse(readFileSync(at("ValidBlocks/bcEIP1559/burnVerify.json"), "utf8")) as Record<
    string,
    Record<string, unknown>
  >;
  for (const c of Object.values(json)) edit(c);
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(json));
  return file;
}

const SENDER = "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b";

describe("runBlocktests", () => {
  it("passes a fast slice of the vendored ethereum/tests fixtures", async () => {
    const lines: string[] = [];
    const summary = await runBlocktests({
      paths: FAST_SLICE,
      executor: "sequential",
      json: true,
      out: (l) => lines.push(l),
    });
    expect(summary.failures).toEqual([]);
    expect(summary.total).toBeGreaterThanOrEqual(45);
    expect(summary.passed).toBe(summary.total);
    expect(summary.failed).toBe(0);
    const last = JSON.parse(lines.at(-1) as string);
    expect(last).toMatchObject({ total: summary.total, passed: summary.passed, failed: 0, skipped: 0 });
  });

  it("passes the fast slice with --executor both (parallel build + parallel validation)", async () => {
    const summary = await runBlocktests({
      paths: FAST_SLICE,
      executor: "both",
      json: true,
      out: () => {},
      knownFailures: KNOWN,
    });
    expect(summary.failures).toEqual([]);
    expect(summary.total).toBeGreaterThanOrEqual(45);
    expect(summary.passed + summary.knownFailures.length).toBe(summary.total);
    expect(summary.fixed).toEqual([]);
  }, 60_000);

  it("reports a wrong post-state balance with a diff naming the account and field", async () => {
    const file = tampered("bad-balance", (c) => {
      const post = c.postState as Record<string, { balance: string }>;
      const acct = post[SENDER] as { balance: string };
      acct.balance = `0x${(BigInt(acct.balance) + 1n).toString(16)}`;
    });
    const lines: string[] = [];
    const summary = await runBlocktests({
      paths: [file],
      executor: "sequential",
      json: false,
      out: (l) => lines.push(l),
    });
    expect(summary.failed).toBe(1);
    const diffs = summary.failures[0]?.diffs ?? [];
    expect(diffs).toHaveLength(1);
    expect(diffs[0]?.path).toBe(`account ${SENDER} balance`);
    expect(lines.join("\n")).toContain(`account ${SENDER} balance:`);
  });

  it("reports a wrong expected storage slot and lastblockhash", async () => {
    const file = tampered("bad-head", (c) => {
      c.lastblockhash = `0x${"11".repeat(32)}`;
      const post = c.postState as Record<string, { storage: Record<string, string> }>;
      (post[SENDER] as { storage: Record<string, string> }).storage["0x05"] = "0x07";
    });
    const lines: string[] = [];
    const summary = await runBlocktests({
      paths: [file],
      executor: "sequential",
      json: true,
      out: (l) => lines.push(l),
    });
    expect(summary.failed).toBe(1);
    const paths = summary.failures[0]?.diffs.map((d) => d.path);
    expect(paths).toContain("lastblockhash");
    expect(paths).toContain(`account ${SENDER} storage[0x5]`);
    const failure = JSON.parse(lines[0] as string);
    expect(failure.status).toBe("failed");
    expect(failure.diffs.find((d: { path: string }) => d.path === "lastblockhash").expected).toBe(
      `0x${"11".repeat(32)}`,
    );
  });

  it("rejects a tampered block and keeps the chain at the last valid block", async () => {
    const file = tampered("bad-block", (c) => {
      const blocks = c.blocks as { rlp: string; expectException?: string }[];
      // Flip a byte inside the last block's RLP (its state root): the block must be rejected.
      const b = blocks.at(-1) as { rlp: string };
      const i = 20;
      b.rlp = b.rlp.slice(0, i) + (b.rlp[i] === "0" ? "1" : "0") + b.rlp.slice(i + 1);
    });
    const summary = await runBlocktests({ paths: [file], executor: "sequential", json: true, out: () => {} });
    expect(summary.failed).toBe(1);
    const paths = summary.failures[0]?.diffs.map((d) => d.path) ?? [];
    expect(paths.some((p) => p.endsWith("import"))).toBe(true);
    expect(paths).toContain("lastblockhash");
  });

  it("counts KNOWN_FAILURES apart and skips unsupported networks with a reason", async () => {
    const file = tampered("known", (c) => {
      c.lastblockhash = `0x${"22".repeat(32)}`;
    });
    const skipFile = tampered("transition", (c) => {
      c.network = "OsakaToBPO1AtTime15k";
    });
    const summary = await runBlocktests({
      paths: [file, skipFile],
      executor: "sequential",
      json: true,
      out: () => {},
      knownFailures: new Map([["burnVerify_Cancun", "tampered on purpose"]]),
    });
    expect(summary.total).toBe(2);
    expect(summary.failed).toBe(0);
    expect(summary.knownFailures).toHaveLength(1);
    expect(summary.skipped).toBe(1);
    expect(summary.skips[0]?.reason).toMatch(/transition network/);
  });

  it("reports cases over --timeout as timeout, restarts the worker and goes on", async () => {
    const lines: string[] = [];
    const paths = [at("ValidBlocks/bcEIP1559/burnVerify.json"), at("ValidBlocks/bcEIP1559/tips.json")];
    // 1 ms: no case finishes in time; each timed-out worker is replaced for the next case.
    const summary = await runBlocktests({
      paths,
      executor: "sequential",
      json: true,
      out: (l) => lines.push(l),
      timeout: 0.001,
    });
    expect(summary).toMatchObject({ total: 2, passed: 0, failed: 0, skipped: 0, timedout: 2 });
    expect(summary.timeouts.map((t) => t.name).sort()).toEqual(["burnVerify_Cancun", "tips_Cancun"]);
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.slice(0, 2).map((l) => l.status)).toEqual(["timeout", "timeout"]);
    expect(parsed[0].reason).toBe("timed out after 0.001s");
    expect(parsed[2]).toMatchObject({ total: 2, passed: 0, failed: 0, skipped: 0, timedout: 2 });

    // A listed case that times out is a known failure; a generous limit lets the cases pass.
    const known = await runBlocktests({
      paths: paths.slice(0, 1),
      executor: "sequential",
      json: true,
      out: () => {},
      timeout: 0.001,
      knownFailures: new Map([["burnVerify_Cancun", "slow"]]),
    });
    expect(known).toMatchObject({ total: 1, timedout: 0, failed: 0 });
    expect(known.knownFailures[0]?.reason).toMatch(/timed out/);
    const ok = await runBlocktests({ paths, executor: "sequential", json: true, out: () => {}, timeout: 60 });
    expect(ok).toMatchObject({ total: 2, passed: 2, timedout: 0 });
  });

  it("plugs a parallel executor in only with build() and validate()", async () => {
    await expect(loadParallelExecutor({})).rejects.toThrow(
      /parallel executor not available: .* does not export/,
    );
    await expect(loadParallelExecutor({ ParallelExecutor: class {} })).rejects.toThrow(
      /parallel executor not available: ParallelExecutor has no build/,
    );
    class WithBoth {
      build() {}
      validate() {}
    }
    await expect(loadParallelExecutor({ ParallelExecutor: WithBoth })).resolves.toBe(WithBoth);
    await expect(loadParallelExecutor()).resolves.toBeTypeOf("function");
  });

  it("rejects a tampered block in both executors alike", async () => {
    const file = tampered("bad-block-both", (c) => {
      const b = (c.blocks as { rlp: string }[]).at(-1) as { rlp: string };
      const i = 20;
      b.rlp = b.rlp.slice(0, i) + (b.rlp[i] === "0" ? "1" : "0") + b.rlp.slice(i + 1);
    });
    for (const executor of ["parallel", "both"] as const) {
      const summary = await runBlocktests({ paths: [file], executor, json: true, out: () => {} });
      expect(summary.failed).toBe(1);
      const diffs = summary.failures[0]?.diffs ?? [];
      // Both reject: no verdict disagreement, only the import and the head differ from the fixture.
      expect(diffs.some((d) => d.path.includes("verdict"))).toBe(false);
      const imports = diffs.filter((d) => d.path.endsWith("import"));
      expect(imports.length).toBeGreaterThan(0);
      for (const d of imports) expect(d.actual).toMatch(/rejected/);
    }
  });

  it("runs a fixture with --executor parallel alone", async () => {
    const summary = await runBlocktests({
      paths: [at("ValidBlocks/bcEIP1559/burnVerify.json"), at("InvalidBlocks/bcEIP1559/badBlocks.json")],
      executor: "parallel",
      json: true,
      out: () => {},
    });
    expect(summary.failures).toEqual([]);
    expect(summary.passed).toBe(summary.total);
  });
});

describe("bin.ts", () => {
  it("prints JSON failure and summary lines and exits 1 on a failure", () => {
    const file = tampered("cli", (c) => {
      c.lastblockhash = `0x${"33".repeat(32)}`;
    });
    const r = spawnSync(process.execPath, [BIN, file, at("ValidBlocks/bcEIP1559/tips.json"), "--json"], {
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].diffs[0].path).toBe("lastblockhash");
    expect(lines[1]).toMatchObject({ total: 2, passed: 1, failed: 1, skipped: 0 });
    expect(typeof lines[1].seconds).toBe("number");
  });

  it("prints timeout lines and exits 1 when a case exceeds --timeout", () => {
    const r = spawnSync(
      process.execPath,
      [BIN, at("ValidBlocks/bcEIP1559/tips.json"), "--timeout", "0.001", "--json"],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(1);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ status: "timeout", name: "tips_Cancun", diffs: [] });
    expect(lines[1]).toMatchObject({ total: 1, passed: 0, failed: 0, skipped: 0, timedout: 1 });
    const bad = spawnSync(process.execPath, [BIN, at("ValidBlocks/bcEIP1559/tips.json"), "--timeout", "x"], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--timeout must be a positive number/);
  });

  it("runs --executor both from the command line", () => {
    const r = spawnSync(
      process.execPath,
      [BIN, at("ValidBlocks/bcEIP1559/tips.json"), "--executor", "both", "--json"],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").at(-1) as string)).toMatchObject({ failed: 0 });
  });
});
