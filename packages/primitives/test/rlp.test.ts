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
  type RlpInput,
  rlpDecode,
  rlpEncode,
  rlpEncodeInto,
  rlpListBounds,
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
    // Plain strings are UTF-8; one starting with "0x" is hex (malformed hex is tested apart).
    fc.string({ maxLength: 20 }).filter((t) => !t.startsWith("0x")),
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
    // A "0x" string with a non-hex character is refused by both (fast-check found "0x ").
    expect(() => RLP.encode("0x ")).toThrow();
    expect(() => rlpEncode("0x ")).toThrow(/invalid hex string/);
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

/** What @ethereumjs/rlp makes of `bytes`: the decoded tree, or "rejected". */
function referenceDecode(bytes: Uint8Array): Tree | "rejected" {
  try {
    return RLP.decode(bytes) as Tree;
  } catch {
    return "rejected";
  }
}

/** Valid encodings with one byte changed, cut short or extended: mostly near-misses of valid RLP. */
const nearMissArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    treeArb,
    fc.nat(),
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom("flip", "cut", "extend", "same"),
  )
  .map(([tree, at, byte, how]) => {
    const enc = rlpEncode(tree);
    const i = enc.length === 0 ? 0 : at % enc.length;
    if (how === "cut") return enc.subarray(0, i);
    if (how === "extend") return Uint8Array.from([...enc, byte]);
    if (how === "flip" && enc.length > 0) {
      const out = Uint8Array.from(enc);
      out[i] = byte;
      return out;
    }
    return enc;
  });

/** Long-form string and list headers around the 55-byte boundary (payload: single-byte items). */
const longFormArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.constantFrom(0xb8, 0xf8), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 0x7f }))
  .map(([prefix, len, byte]) => Uint8Array.from([prefix, len, ...new Uint8Array(len).fill(byte)]));

describe("rlpDecode against @ethereumjs/rlp", () => {
  it("accepts exactly what @ethereumjs/rlp accepts, with equal results", () => {
    fc.assert(
      fc.property(
        fc.oneof(nearMissArb, longFormArb, fc.uint8Array({ minLength: 1, maxLength: 80 })),
        (bytes) => {
          if (bytes.length === 0) return;
          const want = referenceDecode(bytes);
          if (want === "rejected") expect(() => rlpDecode(bytes)).toThrow(DecodeError);
          else expect(rlpDecode(bytes)).toEqual(want);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("rejects the non-canonical length forms @ethereumjs/rlp rejects", () => {
    const cases = [
      Uint8Array.of(0xb8, 0x05, 1, 2, 3, 4, 5), // long string form for 5 bytes
      Uint8Array.of(0xb9, 0x00, 0x40, ...new Uint8Array(64)), // length with a leading zero
      Uint8Array.of(0xf8, 0x02, 0x01, 0x02), // long list form for 2 bytes
      Uint8Array.of(0x81, 0x7f), // single byte below 0x80 with a prefix
      Uint8Array.of(0xc2, 0x01), // list shorter than its header says
    ];
    for (const bad of cases) {
      expect(referenceDecode(bad)).toBe("rejected");
      expect(() => rlpDecode(bad)).toThrow(DecodeError);
    }
  });

  it("finds each list item's byte range, and each range decodes to that item", () => {
    fc.assert(
      fc.property(fc.array(treeArb, { maxLength: 8 }), (items) => {
        const enc = rlpEncode(items);
        const bounds = rlpListBounds(enc);
        expect(bounds.length).toBe(2 * items.length);
        items.forEach((item, i) => {
          expect(rlpDecode(enc.subarray(bounds[2 * i], bounds[2 * i + 1]))).toEqual(item);
        });
      }),
      { numRuns: 500 },
    );
    expect(() => rlpListBounds(Uint8Array.of(0x80))).toThrow(DecodeError);
    expect(() => rlpListBounds(Uint8Array.of(0xc2, 0x01))).toThrow(DecodeError);
    expect(() => rlpListBounds(Uint8Array.of(0xc1, 0x82, 0x01))).toThrow(DecodeError);
    // The list's own header in long form for 55 bytes or fewer, as rlpDecode rejects it.
    expect(() => rlpListBounds(Uint8Array.of(0xf8, 0x01, 0x01))).toThrow(DecodeError);
    expect(() => rlpDecode(Uint8Array.of(0xf8, 0x01, 0x01))).toThrow(DecodeError);
  });

  it("returns views into the input, not copies", () => {
    const enc = rlpEncode([new Uint8Array(40).fill(7), [Uint8Array.of(1, 2)]]);
    const [big] = rlpDecode(enc) as [Uint8Array];
    expect(big.buffer).toBe(enc.buffer);
  });
});

describe("hex and quantities", () => {
  it("reads any big-endian bytes (leading zeros included) as the integer they spell", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const hex = Buffer.from(bytes).toString("hex");
        expect(bytesToBigInt(bytes)).toBe(hex === "" ? 0n : BigInt(`0x${hex}`));
      }),
      { numRuns: 2000 },
    );
  });

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

  it("writes integers as minimal big-endian bytes, small ones (the number path) included", () => {
    const hexBytes = (n: bigint) => {
      const hex = n === 0n ? "" : n.toString(16);
      return new Uint8Array(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
    };
    const edges = [0n, 1n, 255n, 256n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 53n + 1n];
    for (const n of edges) expect(bigIntToBytes(n)).toEqual(hexBytes(n));
    fc.assert(
      fc.property(
        fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 48n }), fc.bigInt({ min: 0n, max: 2n ** 80n })),
        (n) => {
          expect(bigIntToBytes(n)).toEqual(hexBytes(n));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("rlpEncodeInto writes rlpEncode's bytes at the offset, or nothing when they do not fit", () => {
    const inputArb: fc.Arbitrary<RlpInput> = fc.letrec<{ item: RlpInput }>((tie) => ({
      item: fc.oneof(
        { depthSize: "small" },
        fc.uint8Array({ maxLength: 80 }),
        fc.array(tie("item"), { maxLength: 4 }),
      ),
    })).item;
    fc.assert(
      fc.property(inputArb, fc.nat(8), fc.integer({ min: -1, max: 1 }), (input, offset, slack) => {
        const expected = rlpEncode(input);
        const out = new Uint8Array(Math.max(0, offset + expected.length + slack)).fill(0xee);
        const end = rlpEncodeInto(input, out, offset);
        if (slack < 0) {
          expect(end).toBe(-1);
          expect(out.every((b) => b === 0xee)).toBe(true);
        } else {
          expect(end).toBe(offset + expected.length);
          expect(out.subarray(offset, end)).toEqual(expected);
          expect(out.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
