import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, orderedTrieRoot, trieRoot } from "../src/index.ts";

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
});
