import { paramsBlock } from "@ethereumjs/block";
import { createCustomCommon, Mainnet } from "@ethereumjs/common";
import { paramsEVM } from "@ethereumjs/evm";
import { paramsTx } from "@ethereumjs/tx";
import { paramsVM } from "@ethereumjs/vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { memoizeParamsUpdates } from "../src/index.ts";

const tables = [paramsTx, paramsBlock, paramsVM, paramsEVM];
const hardforks = ["berlin", "london", "shanghai", "cancun", "prague"];
const fresh = () => createCustomCommon({ chainId: 7331, name: "meridian" }, Mainnet, { hardfork: "prague" });
const cacheOf = (c: object) => ({ ...(c as { _paramsCache: object })._paramsCache });

type Step = { kind: "update"; table: number } | { kind: "copy" } | { kind: "hardfork"; name: string };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("update" as const), table: fc.integer({ min: 0, max: tables.length - 1 }) }),
  fc.record({ kind: fc.constant("copy" as const) }),
  fc.record({ kind: fc.constant("hardfork" as const), name: fc.constantFrom(...hardforks) }),
);

describe("memoizeParamsUpdates", () => {
  it("leaves every parameter as plain @ethereumjs computes it, across copies and hardfork changes", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), (steps) => {
        let plain = fresh();
        let memo = memoizeParamsUpdates(fresh());
        for (const s of steps) {
          if (s.kind === "copy") {
            plain = plain.copy();
            memo = memo.copy();
          } else if (s.kind === "hardfork") {
            plain.setHardfork(s.name);
            memo.setHardfork(s.name);
          } else {
            plain.updateParams(tables[s.table] as (typeof tables)[number]);
            memo.updateParams(tables[s.table] as (typeof tables)[number]);
          }
          expect(cacheOf(memo)).toEqual(cacheOf(plain));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("reuses the built cache for a copy that applies a table already seen", () => {
    const root = memoizeParamsUpdates(fresh());
    const a = root.copy();
    a.updateParams(paramsTx);
    const b = root.copy();
    b.updateParams(paramsTx);
    const internals = (c: object) => (c as { _paramsCache: object })._paramsCache;
    expect(internals(b)).toBe(internals(a));
    expect(b.param("txGas")).toBe(21000n);
  });
});
