import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../src/sim/cli.ts", import.meta.url));

function sim(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run sim (the CLI as a process)", () => {
  it("--json prints one JSON line with the run summary and exits 0", () => {
    const r = sim(["--seeds", "3", "--validators", "4,7", "--json"]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0] as string) as Record<string, number>;
    expect(Object.keys(summary)).toEqual([
      "runs",
      "heights",
      "safety_violations",
      "liveness_failures",
      "evidence_missed",
    ]);
    expect(summary.runs).toBe(6);
    expect(summary.heights).toBeGreaterThan(6);
    expect(summary.safety_violations).toBe(0);
  });

  it("a failing run names the seed that reproduces it", () => {
    const r = sim(["--seeds", "12", "--validators", "4", "--mutation", "quorumIsOneThird", "--json"]);
    const summary = JSON.parse(r.stdout.trim()) as { safety_violations: number };
    expect(summary.safety_violations).toBeGreaterThan(0);
    const failed = /FAIL --seed (\d+) --validators 4: agreement/.exec(r.stderr);
    expect(failed).not.toBeNull();
    const seed = (failed as RegExpExecArray)[1] as string;
    const again = sim(["--seed", seed, "--validators", "4", "--mutation", "quorumIsOneThird", "--json"]);
    expect(
      (JSON.parse(again.stdout.trim()) as { safety_violations: number }).safety_violations,
    ).toBeGreaterThan(0);
  });

  it("rejects an unknown mutation", () => {
    const r = sim(["--seeds", "1", "--mutation", "nonsense"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown --mutation nonsense/);
  });
});
