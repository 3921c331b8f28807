import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToHex,
  listTrieLeafRef,
  OrderedTrie,
  orderedTrieRoot,
  rlpEncode,
  trieRoot,
} from "../src/index.ts";

/** The list trie's root by the general builder (sorted keys), which OrderedTrie must equal. */
const generalRoot = (values: Uint8Array[]) => trieRoot(values.map((v, i) => [rlpEncode(i), v] as const));

async function reference(entries: [Uint8Array, Uint8Array][]): Promise<string> {
  const trie = new MerklePatriciaTrie();
  for (const [k, v] of entries) await trie.put(k, v);
  return bytesToHex(trie.root());
}

/** Distinct keys; the last write of a duplicated key wins, as in a trie. */
function dedupe(entries: [Uint8Array, Uint8Array][]): [Uint8Array, Uint8Array][] {
  const m = new Map<string, [Uint8Array, Uint8Array]>();
  for (const e of entries) m.set(bytesToHex(e[0]), e);
  return [...m.values()];
}

describe("trieRoot", () => {
  it("equals @ethereumjs/mpt for random key/value sets (prefix keys and short values included)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.uint8Array({ minLength: 0, maxLength: 6 }),
            fc.uint8Array({ minLength: 1, maxLength: 40 }),
          ),
          {
            maxLength: 60,
          },
        ),
        async (raw) => {
          const entries = dedupe(raw);
          expect(bytesToHex(trieRoot(entries))).toBe(await reference(entries));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("equals @ethereumjs/mpt for index-keyed lists (transactions, receipts)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 120 }), { maxLength: 300 }),
        async (values) => {
          const want = await reference(values.map((v, i) => [RLP.encode(i), v]));
          expect(bytesToHex(orderedTrieRoot(values))).toBe(want);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("gives the empty-trie root for no entries", async () => {
    expect(bytesToHex(orderedTrieRoot([]))).toBe(await reference([]));
  });

  it("leaves out an entry whose value is empty, as the trie does", async () => {
    const values = [Uint8Array.of(1, 2, 3), new Uint8Array(0), new Uint8Array(40).fill(7)];
    const want = await reference([
      [RLP.encode(0), values[0] as Uint8Array],
      [RLP.encode(2), values[2] as Uint8Array],
    ]);
    expect(bytesToHex(orderedTrieRoot(values))).toBe(want);
  });
});

describe("OrderedTrie", () => {
  it("has the general builder's root, whatever the order entries are set in", () => {
    fc.assert(
      fc.property(
        // Lengths across the RLP key boundaries (1, 128, 256) with short (inlined) and long leaves.
        fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 120, max: 300 })),
        fc.integer({ min: 1, max: 70 }),
        fc.integer(),
        (count, maxLength, seed) => {
          const values = Array.from({ length: count }, (_, i) =>
            new Uint8Array(1 + (((i * 7 + seed) >>> 0) % maxLength)).fill((i + seed) & 0xff),
          );
          const order = values.map((_, i) => i);
          // A seeded shuffle.
          let s = seed >>> 0;
          for (let i = order.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) >>> 0;
            const j = s % (i + 1);
            [order[i], order[j]] = [order[j] as number, order[i] as number];
          }
          const trie = new OrderedTrie(count);
          for (const i of order) trie.set(i, values[i] as Uint8Array);
          expect(bytesToHex(trie.root())).toBe(bytesToHex(generalRoot(values)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keeps no reference to the values it is given (callers may reuse their buffer)", () => {
    for (const count of [1, 2, 17, 200]) {
      const values = Array.from({ length: count }, (_, i) => new Uint8Array(1 + (i % 40)).fill(i + 1));
      const trie = new OrderedTrie(count);
      const reused = new Uint8Array(64);
      for (const [i, v] of values.entries()) {
        reused.set(v);
        trie.set(i, reused.subarray(0, v.length));
        reused.fill(0xff);
      }
      expect(bytesToHex(trie.root())).toBe(bytesToHex(generalRoot(values)));
    }
  });

  it("takes leaf references computed elsewhere (listTrieLeafRef) for the same root, mixed with set", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 90 }), (count, maxLength) => {
        const values = Array.from({ length: count }, (_, i) =>
          new Uint8Array(1 + ((i * 13) % maxLength)).fill((i * 3 + 1) & 0xff),
        );
        const trie = new OrderedTrie(count);
        for (const [i, v] of values.entries()) {
          if (i % 2 === 0) trie.setRef(i, listTrieLeafRef(count, i, v));
          else trie.set(i, v);
        }
        expect(bytesToHex(trie.root())).toBe(bytesToHex(generalRoot(values)));
      }),
      { numRuns: 60 },
    );
    const trie = new OrderedTrie(2);
    expect(() => trie.setRef(0, new Uint8Array(31))).toThrow(/not a hash/);
    expect(() => listTrieLeafRef(2, 2, new Uint8Array([1]))).toThrow(/unknown/);
  });

  it("refuses an entry set twice, an unknown index, an empty value and a root with entries missing", () => {
    const trie = new OrderedTrie(3);
    trie.set(0, new Uint8Array([1]));
    expect(() => trie.set(0, new Uint8Array([2]))).toThrow(/set twice/);
    expect(() => trie.set(3, new Uint8Array([2]))).toThrow(/unknown/);
    expect(() => trie.set(1, new Uint8Array(0))).toThrow(/empty/);
    expect(() => trie.root()).toThrow(/2 of 3 entries not set/);
  });
});
