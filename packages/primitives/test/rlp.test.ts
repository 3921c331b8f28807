import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  DecodeError,
  fromQuantity,
  hexToBytes,
  rlpDecode,
  rlpEncode,
  toQuantity,
} from "../src/index.ts";

type Tree = Uint8Array | Tree[];
const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.uint8Array({ maxLength: 80 }),
    fc.array(tie("tree"), { maxLength: 5 }),
  ),
})).tree;

describe("rlp", () => {
  it("decode(encode(x)) = x for nested byte trees", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        expect(rlpDecode(rlpEncode(tree))).toEqual(tree);
      }),
      { numRuns: 500 },
    );
  });

  it("rejects malformed and oversized input with DecodeError", () => {
    // Long string header promising 100 bytes with 1 present; list header with trailing garbage.
    for (const bad of [
      Uint8Array.of(0xb8, 100, 1),
      Uint8Array.of(0xc1, 0x01, 0x02),
      Uint8Array.of(0x81, 0x05),
    ]) {
      expect(() => rlpDecode(bad)).toThrow(DecodeError);
    }
    expect(() => rlpDecode(new Uint8Array(10), 4)).toThrow(/too large/);
  });

  it("rejects arbitrary bytes without crashing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          const decoded = rlpDecode(bytes);
          // Whatever decodes must re-encode to the same canonical bytes.
          expect(bytesToHex(rlpEncode(decoded as Tree))).toBe(bytesToHex(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("hex and quantities", () => {
  it("round-trips bytes through hex and bigints through quantities", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
        (bytes, n) => {
          expect(hexToBytes(bytesToHex(bytes))).toEqual(bytes);
          expect(fromQuantity(toQuantity(n))).toBe(n);
          expect(bytesToBigInt(bigIntToBytes(n))).toBe(n);
          expect(toQuantity(n)).toMatch(/^0x(0|[1-9a-f][0-9a-f]*)$/);
        },
      ),
      { numRuns: 500 },
    );
  });
});
