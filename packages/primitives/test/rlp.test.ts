import { RLP } from "@ethereumjs/rlp";
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

type Mixed = Uint8Array | bigint | number | string | null | undefined | Mixed[];
const mixedArb: fc.Arbitrary<Mixed> = fc.letrec<{ item: Mixed }>((tie) => ({
  item: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.uint8Array({ maxLength: 70 }),
    fc.constantFrom(new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0x7f), Uint8Array.of(0x80)),
    // Long payloads cross the 55-byte and 256-byte length-of-length boundaries.
    fc.integer({ min: 50, max: 300 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
    fc.bigInt({ min: 0n, max: 1n << 300n }),
    fc.nat(),
    fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), maxLength: 40 }).map((h) => `0x${h}`),
    fc.string({ maxLength: 20 }),
    fc.constantFrom(null, undefined),
    fc.array(tie("item"), { maxLength: 6 }),
  ),
})).item;

describe("rlp", () => {
  it("encodes byte-for-byte what @ethereumjs/rlp encodes", () => {
    fc.assert(
      fc.property(mixedArb, (item) => {
        expect(bytesToHex(rlpEncode(item))).toBe(
          bytesToHex(RLP.encode(item as Parameters<typeof RLP.encode>[0])),
        );
      }),
      { numRuns: 2000 },
    );
    const big = Array.from({ length: 3000 }, (_, i) => [BigInt(i), new Uint8Array(i % 90)]);
    expect(bytesToHex(rlpEncode(big))).toBe(bytesToHex(RLP.encode(big)));
  });

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
