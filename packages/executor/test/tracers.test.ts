import fc from "fast-check";
import { encodeErrorResult, hexToBytes, parseAbi } from "viem";
import { describe, expect, it } from "vitest";
import { revertReason } from "../src/tracers.ts";

const ERRORS = parseAbi(["error Error(string)", "error Panic(uint256)"]);

describe("revertReason (callTracer)", () => {
  it("decodes any Error(string) revert, as geth's abi.UnpackRevert", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (reason) => {
        const output = hexToBytes(encodeErrorResult({ abi: ERRORS, errorName: "Error", args: [reason] }));
        expect(revertReason(output)).toBe(reason);
      }),
    );
  });

  it("gives nothing for other revert data or a truncated Error(string)", () => {
    const panic = hexToBytes(encodeErrorResult({ abi: ERRORS, errorName: "Panic", args: [0x11n] }));
    expect(revertReason(panic)).toBeUndefined();
    const error = hexToBytes(encodeErrorResult({ abi: ERRORS, errorName: "Error", args: ["no luck"] }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: error.length - 1 }), (cut) => {
        // The string's bytes end at 4 + 32 + 32 + 7; a shorter output cannot hold it.
        if (cut < 4 + 64 + 7) expect(revertReason(error.subarray(0, cut))).toBeUndefined();
      }),
    );
    expect(revertReason(new Uint8Array())).toBeUndefined();
  });
});
