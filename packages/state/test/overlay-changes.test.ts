/**
 * OverlayChanges' law: after any changes, reverting a checkpoint restores exactly
 * what the maps held when it was taken; committing keeps the changes and leaves
 * the enclosing checkpoint able to undo them too.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OverlayChanges } from "../src/overlay-changes.ts";

type Value = { v: number } | null;
type Op =
  | { t: "account"; addr: string; value: Value }
  | { t: "slot"; addr: string; slot: string; value: number }
  | { t: "wipe"; addr: string }
  | { t: "other"; value: number }
  | { t: "checkpoint" }
  | { t: "commit" }
  | { t: "revert" };

const addr = fc.constantFrom("aa", "bb", "cc");
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    t: fc.constant("account" as const),
    addr,
    value: fc.option(fc.record({ v: fc.nat(9) }), { nil: null }),
  }),
  fc.record({ t: fc.constant("slot" as const), addr, slot: fc.constantFrom("01", "02"), value: fc.nat(9) }),
  fc.record({ t: fc.constant("wipe" as const), addr }),
  fc.record({ t: fc.constant("other" as const), value: fc.nat(9) }),
  fc.constant({ t: "checkpoint" as const }),
  fc.constant({ t: "commit" as const }),
  fc.constant({ t: "revert" as const }),
);

/** Everything the maps hold, plus the owner's own value that `onRevert` restores. */
function snapshot(c: OverlayChanges<Value>, other: number): string {
  const byKey = <T>(entries: [string, T][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const accounts = byKey([...c.accounts].map(([a, v]) => [a, v === null ? null : v.v]));
  const slots = byKey([...c.slots].map(([a, m]) => [a, byKey([...m].map(([k, v]) => [k, [...v]]))]));
  return JSON.stringify([accounts, slots, [...c.wiped].sort(), other]);
}

describe("OverlayChanges", () => {
  it("revert restores the maps as they were at the checkpoint; commit folds into the enclosing one", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const c = new OverlayChanges<Value>();
        let other = 0;
        const saved: string[] = [];
        for (const o of ops) {
          if (o.t === "account") c.setAccount(o.addr, o.value);
          else if (o.t === "slot") c.setSlot(o.addr, o.slot, Uint8Array.of(o.value));
          else if (o.t === "wipe") c.wipe(o.addr);
          else if (o.t === "other") {
            const prev = other;
            c.onRevert(() => {
              other = prev;
            });
            other = o.value;
          } else if (o.t === "checkpoint") {
            saved.push(snapshot(c, other));
            c.checkpoint();
          } else if (saved.length > 0) {
            const at = saved.pop() as string;
            if (o.t === "commit") c.commit();
            else {
              c.revert();
              expect(snapshot(c, other)).toBe(at);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a wipe drops the account's written slots and marks its storage cleared", () => {
    const c = new OverlayChanges<Value>();
    c.setSlot("aa", "01", Uint8Array.of(1));
    c.checkpoint();
    c.wipe("aa");
    expect(c.slots.has("aa")).toBe(false);
    expect(c.wiped.has("aa")).toBe(true);
    c.revert();
    expect(c.slots.get("aa")?.get("01")).toEqual(Uint8Array.of(1));
    expect(c.wiped.has("aa")).toBe(false);
  });
});
