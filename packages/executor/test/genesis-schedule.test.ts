import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hardforkAt, parseGenesis } from "../src/index.ts";

const devnet = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));
const T = 1_800_000_000;
const parse = (fields: Record<string, unknown>) => {
  const { hardfork: _drop, ...rest } = devnet;
  return parseGenesis({ ...rest, timestamp: T, ...fields });
};

describe("genesis fork schedule (config.pragueTime / config.osakaTime)", () => {
  it.each([
    ["no hardfork, no config: Prague as before schedules", {}, "prague", []],
    ["hardfork only", { hardfork: "osaka" }, "osaka", []],
    [
      "Prague with Osaka later",
      { hardfork: "prague", config: { osakaTime: T + 10 } },
      "prague",
      [["osaka", T + 10]],
    ],
    [
      "times only, Osaka later",
      { config: { pragueTime: 0, osakaTime: T + 10 } },
      "prague",
      [["osaka", T + 10]],
    ],
    ["times only, both at genesis", { config: { pragueTime: 0, osakaTime: T } }, "osaka", []],
    [
      "Cancun, then Prague, then Osaka",
      { config: { pragueTime: T + 5, osakaTime: T + 10 } },
      "cancun",
      [
        ["prague", T + 5],
        ["osaka", T + 10],
      ],
    ],
  ] as const)("%s", (_desc, fields, hardfork, schedule) => {
    const spec = parse(fields);
    expect(spec.hardfork).toBe(hardfork);
    expect(spec.schedule).toEqual(schedule.map(([h, t]) => ({ hardfork: h, time: BigInt(t) })));
  });

  it.each([
    [
      "a scheduled fork at or before genesis",
      { hardfork: "prague", config: { osakaTime: T } },
      /config\.osakaTime/,
    ],
    [
      "a fork the genesis fork includes scheduled later",
      { hardfork: "osaka", config: { pragueTime: T + 1 } },
      /config\.pragueTime/,
    ],
    [
      "forks out of order",
      { config: { pragueTime: T + 9, osakaTime: T + 5 } },
      /config\.osakaTime: must not be before/,
    ],
    [
      "a time that is not a number",
      { hardfork: "prague", config: { osakaTime: "soon" } },
      /config\.osakaTime/,
    ],
    ["an unknown fork", { hardfork: "amsterdam" }, /hardfork: expected one of cancun, prague, osaka/],
  ] as const)("refuses %s", (_desc, fields, message) => {
    expect(() => parse(fields)).toThrow(message);
  });

  it("switches at the first timestamp reaching an activation and never goes back", () => {
    const spec = parse({ config: { pragueTime: T + 5, osakaTime: T + 10 } });
    expect(hardforkAt(spec, BigInt(T + 4))).toBe("cancun");
    expect(hardforkAt(spec, BigInt(T + 5))).toBe("prague");
    expect(hardforkAt(spec, BigInt(T + 9))).toBe("prague");
    expect(hardforkAt(spec, BigInt(T + 10))).toBe("osaka");
    const order = ["cancun", "prague", "osaka"];
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: BigInt(T + 20) }), fc.bigInt({ min: 0n, max: 20n }), (a, d) => {
        expect(order.indexOf(hardforkAt(spec, a + d))).toBeGreaterThanOrEqual(
          order.indexOf(hardforkAt(spec, a)),
        );
      }),
    );
  });
});
