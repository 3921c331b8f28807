import { EpochValidatorSets, ValidatorSet } from "@meridian/consensus";
import { bytesToHex } from "@meridian/primitives";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { setChanges } from "../src/chain.ts";

const address = (i: number): Uint8Array => {
  const a = new Uint8Array(20);
  a[19] = i;
  a[0] = 0xaa;
  return a;
};
/** A set drawn from 8 possible validators with powers 1..1000. */
const setArb = fc
  .uniqueArray(fc.record({ i: fc.integer({ min: 1, max: 8 }), power: fc.integer({ min: 1, max: 1000 }) }), {
    minLength: 1,
    maxLength: 8,
    selector: (v) => v.i,
  })
  .map((vs) => vs.map((v) => ({ address: address(v.i), power: v.power })));
const asMap = (vs: readonly { address: Uint8Array; power: number }[]) =>
  Object.fromEntries(vs.map((v) => [bytesToHex(v.address), v.power]));

describe("validator-set changes of staking epochs", () => {
  it("setChanges turns the current set into exactly the contract's set", () => {
    fc.assert(
      fc.property(setArb, setArb, (current, next) => {
        const set = ValidatorSet.create(current);
        const updates = setChanges(set, next);
        expect(asMap(set.update(updates).validators)).toEqual(asMap(next));
        if (JSON.stringify(asMap(current)) === JSON.stringify(asMap(next))) expect(updates).toEqual([]);
      }),
    );
  });

  it("EpochValidatorSets advances as the driver does, and survives encoding", () => {
    fc.assert(
      fc.property(
        setArb,
        fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), setArb), { maxLength: 4 }),
        fc.integer({ min: 1, max: 200 }),
        (genesis, epochs, probe) => {
          const start = ValidatorSet.create(genesis);
          const sets = new EpochValidatorSets(start);
          // The driver: at each height the set of the next is update(changes) or next().
          let driver = start;
          for (let h = 1n; h <= 45n; h++) {
            const epoch = epochs.find(([at]) => BigInt(at) === h);
            const updates = epoch ? setChanges(driver, epoch[1]) : [];
            sets.record(h, updates);
            driver = updates.length > 0 ? driver.update(updates) : driver.next();
            const mine = sets.at(h + 1n);
            expect(asMap(mine.validators)).toEqual(asMap(driver.validators));
            expect([...mine.priorities]).toEqual([...driver.priorities]);
          }
          const reopened = new EpochValidatorSets(start, EpochValidatorSets.decodeUpdates(sets.encode()));
          const h = BigInt(probe);
          expect([...reopened.at(h).priorities]).toEqual([...sets.at(h).priorities]);
          expect(asMap(reopened.at(h).validators)).toEqual(asMap(sets.at(h).validators));
        },
      ),
      { numRuns: 60 },
    );
  });
});
