import { describe, expect, it } from "vitest";
import { runSimulation, type SimulationResult } from "../../src/sim/simulation.ts";

describe("seeded fault simulator with proof of stake in the application", () => {
  it("slashes and jails equivocators, agrees on every epoch's set, and never lets the Byzantine minority reach a third", async () => {
    const results: SimulationResult[] = [];
    for (let seed = 1; seed <= 40; seed++)
      results.push(await runSimulation({ seed, validators: 4, staking: true }));
    for (let seed = 1; seed <= 15; seed++)
      results.push(await runSimulation({ seed, validators: 7, staking: true }));
    const failed = results
      .filter((r) => r.safetyViolations.length > 0 || r.livenessFailure !== null)
      .map((r) => `seed ${r.seed}/${r.validators}: ${[...r.safetyViolations, r.livenessFailure].join("; ")}`);
    expect(failed).toEqual([]);
    // The schedules exercised it: epochs changed the set and equivocators were removed.
    expect(results.reduce((n, r) => n + (r.setChanges ?? 0), 0)).toBeGreaterThan(20);
    expect(results.reduce((n, r) => n + (r.jailed ?? 0), 0)).toBeGreaterThan(10);
  }, 120_000);

  it("is deterministic with staking", async () => {
    expect(await runSimulation({ seed: 7, validators: 4, staking: true })).toEqual(
      await runSimulation({ seed: 7, validators: 4, staking: true }),
    );
  });
});
