/**
 * bench:executor's figures mean something only if its four paths (plain @ethereumjs baseline,
 * sequential, parallel validate and build) compute the same block: run it as a process on a
 * small block of every workload and check that each line says so. Correctness only; its
 * timings are not looked at.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BENCH = fileURLToPath(new URL("../bench/executor.bench.ts", import.meta.url));

describe("npm run bench:executor", () => {
  it("prints one JSON line per workload, every path reaching the header's state root", () => {
    const run = spawnSync(
      process.execPath,
      [BENCH, "--json", "--txs", "40", "--reps", "1", "--workers", "2"],
      { encoding: "utf8", timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { workload: string; txs: number; roots_equal: boolean });
    expect(lines.map((l) => l.workload)).toEqual(["eth-transfers", "erc20-transfers", "hot-slot", "mixed"]);
    for (const line of lines) {
      expect(line.txs).toBe(40);
      expect(line.roots_equal, line.workload).toBe(true);
    }
  }, 150_000);
});
