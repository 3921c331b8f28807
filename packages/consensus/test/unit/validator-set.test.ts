import { hexKey } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConsensusError, ValidatorSet } from "../../src/index.ts";

function address(i: number): Uint8Array {
  const a = new Uint8Array(20);
  a[0] = 0x10 + i;
  return a;
}

function setOf(powers: readonly number[]): ValidatorSet {
  return ValidatorSet.create(powers.map((power, i) => ({ address: address(i), power })));
}

/** Proposer of round 0 at each of `heights` consecutive heights. */
function proposers(set: ValidatorSet, heights: number): string[] {
  const out: string[] = [];
  let s = set;
  for (let h = 0; h < heights; h++) {
    out.push(hexKey(s.proposer(0)));
    s = s.next();
  }
  return out;
}

describe("ValidatorSet proposer selection (CometBFT weighted round robin)", () => {
  it("equal powers: ties go to the lower address, then strict rotation", () => {
    const set = setOf([1, 1, 1]);
    expect(proposers(set, 6)).toEqual([0, 1, 2, 0, 1, 2].map((i) => hexKey(address(i))));
  });

  it("matches CometBFT's sequence for powers 1, 2, 3 (priorities by hand)", () => {
    // Step 1: +power → [1,2,3], pick v2 (3) → [1,2,-3]. Step 2: [2,4,0] pick v1 → [2,-2,0].
    // Step 3: [3,0,3] tie v0/v2 → v0 → [-3,0,3]. Step 4: [-2,2,6] pick v2 → [-2,2,0]. Step 5: [-1,4,3] → v1.
    expect(proposers(setOf([1, 2, 3]), 5)).toEqual([2, 1, 0, 2, 1].map((i) => hexKey(address(i))));
  });

  it("is deterministic and independent of input order", () => {
    const a = setOf([5, 1, 3, 2]);
    const b = ValidatorSet.create(
      [3, 1, 0, 2].map((i) => ({ address: address(i), power: [5, 1, 3, 2][i] as number })),
    );
    expect(proposers(a, 50)).toEqual(proposers(b, 50));
  });

  it("round r's proposer is the set incremented r more times (rounds rotate too)", () => {
    const set = setOf([1, 1, 1, 1]);
    const rounds = [0, 1, 2, 3].map((r) => hexKey(set.proposer(r)));
    expect(new Set(rounds).size).toBe(4);
    expect(hexKey(set.proposer(1))).toBe(hexKey(set.next().proposer(0)));
  });

  it("fairness: over many heights each validator proposes in proportion to its power", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 12 }), (powers) => {
        const set = setOf(powers);
        const total = powers.reduce((a, b) => a + b, 0);
        const heights = total * 20;
        const counts = new Map<string, number>();
        for (const p of proposers(set, heights)) counts.set(p, (counts.get(p) ?? 0) + 1);
        powers.forEach((power, i) => {
          const expected = (heights * power) / total;
          // Weighted round robin keeps every validator within a small constant of its share.
          expect(Math.abs((counts.get(hexKey(address(i))) ?? 0) - expected)).toBeLessThanOrEqual(
            powers.length + 1,
          );
        });
      }),
      { numRuns: 40 },
    );
  });

  it("a new validator starts at -1.125 x total priority and does not propose at once", () => {
    const set = setOf([10, 10, 10]);
    const updated = set.update([{ address: address(7), power: 10 }]);
    expect(updated.size).toBe(4);
    expect(hexKey(updated.proposer(0))).not.toBe(hexKey(address(7)));
    const removed = updated.update([{ address: address(0), power: 0 }]);
    expect(removed.has(address(0))).toBe(false);
    expect(removed.totalPower).toBe(30);
  });

  it("rejects empty sets, zero or fractional power and duplicates", () => {
    expect(() => setOf([])).toThrow(ConsensusError);
    expect(() => setOf([0])).toThrow(/invalid power/);
    expect(() => setOf([1.5])).toThrow(/invalid power/);
    expect(() =>
      ValidatorSet.create([
        { address: address(1), power: 1 },
        { address: address(1), power: 2 },
      ]),
    ).toThrow(/duplicate validator/);
  });
});
