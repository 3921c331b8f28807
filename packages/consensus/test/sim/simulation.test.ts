import { describe, expect, it } from "vitest";
import { runSimulation, type SimulationResult } from "../../src/sim/simulation.ts";

async function runSeeds(seeds: number, validators: number, mutation?: "ignoreLock" | "quorumIsOneThird") {
  const results: SimulationResult[] = [];
  for (let seed = 1; seed <= seeds; seed++)
    results.push(await runSimulation({ seed, validators, ...(mutation ? { mutation } : {}) }));
  return results;
}

function failures(results: readonly SimulationResult[]): string[] {
  return results
    .filter((r) => r.safetyViolations.length > 0 || r.livenessFailure !== null || r.evidenceMissed > 0)
    .map(
      (r) =>
        `seed ${r.seed} (${r.validators} validators): ${[...r.safetyViolations, r.livenessFailure].join("; ")}`,
    );
}

describe("seeded fault simulator", () => {
  it("is deterministic: a seed replays to the same result", async () => {
    const a = await runSimulation({ seed: 42, validators: 4 });
    const b = await runSimulation({ seed: 42, validators: 4 });
    expect(a).toEqual(b);
  });

  it("keeps agreement, validity, evidence and liveness over 160 seeds of 4 validators and 60 of 7", async () => {
    const results = [...(await runSeeds(160, 4)), ...(await runSeeds(60, 7))];
    expect(failures(results)).toEqual([]);
    // The schedules did exercise the faults: Byzantine validators equivocated and were caught.
    expect(results.reduce((n, r) => n + r.evidenceCaught, 0)).toBeGreaterThan(100);
    expect(results.filter((r) => r.byzantine > 0).length).toBeGreaterThan(30);
    expect(results.reduce((n, r) => n + r.heights, 0)).toBeGreaterThan(220 * 3);
  }, 120_000);

  it("mutation check: counting +1/3 as +2/3 breaks agreement and the simulator reports it", async () => {
    const results = await runSeeds(30, 4, "quorumIsOneThird");
    const violations = results.reduce((n, r) => n + r.safetyViolations.length, 0);
    expect(violations).toBeGreaterThan(0);
  }, 60_000);
});
