import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { bytesToHex } from "@ethereumjs/util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DecodedNodeCache, prefetchPaths, trieGet, updateTrie } from "../src/batch-trie.ts";

type Op = { key: Uint8Array; value: Uint8Array | null };

// Short keys from a small alphabet so rounds overwrite, delete and split each other's paths.
const keyArb = fc.uint8Array({ minLength: 1, maxLength: 3 }).map((k) => k.map((b) => b & 0x13));
const opArb: fc.Arbitrary<Op> = fc.record({
  key: keyArb,
  value: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: null, freq: 3 }),
});

describe("updateTrie", () => {
  it("equals @ethereumjs/mpt after rounds of inserts, overwrites and deletes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
        async (rounds) => {
          const reference = new MerklePatriciaTrie();
          const nodes = new Map<string, Uint8Array>();
          const read = async (h: Uint8Array) => nodes.get(bytesToHex(h));
          const write = (h: Uint8Array, n: Uint8Array) => void nodes.set(bytesToHex(h), n);
          let root = reference.root();
          const live = new Map<string, Uint8Array>();
          for (const ops of rounds) {
            for (const op of ops) {
              if (op.value) await reference.put(op.key, op.value);
              else await reference.del(op.key);
              if (op.value) live.set(bytesToHex(op.key), op.value);
              else live.delete(bytesToHex(op.key));
            }
            root = await updateTrie(root, ops, read, write);
            expect(bytesToHex(root)).toBe(bytesToHex(reference.root()));
            for (const op of ops) {
              const want = live.get(bytesToHex(op.key));
              const got = await trieGet(root, op.key, read);
              expect(got === undefined ? undefined : bytesToHex(got)).toBe(
                want === undefined ? undefined : bytesToHex(want),
              );
            }
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe("prefetchPaths", () => {
  it("loads every node a walk to the keys needs, one batched read per trie level", async () => {
    const longKeyArb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((k) => k.map((b) => b & 0x31));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(longKeyArb, fc.uint8Array({ minLength: 1, maxLength: 40 })), { maxLength: 60 }),
        fc.array(longKeyArb, { minLength: 1, maxLength: 12 }),
        async (entries, queries) => {
          const nodes = new Map<string, Uint8Array>();
          const read = async (h: Uint8Array) => nodes.get(bytesToHex(h));
          const write = (h: Uint8Array, n: Uint8Array) => void nodes.set(bytesToHex(h), n);
          const root = await updateTrie(
            new Uint8Array(0),
            entries.map(([key, value]) => ({ key, value })),
            read,
            write,
          );
          const cache: DecodedNodeCache = new Map();
          let batches = 0;
          await prefetchPaths(
            root,
            queries,
            async (hashes) => {
              batches++;
              return hashes.map((h) => nodes.get(bytesToHex(h)));
            },
            cache,
          );
          // 4-byte keys: at most 8 nibbles deep, so at most 9 levels.
          expect(batches).toBeLessThanOrEqual(9);
          const noReads = async (): Promise<Uint8Array | undefined> => {
            throw new Error("read after prefetch");
          };
          for (const key of queries) {
            const want = await trieGet(root, key, read);
            const got = await trieGet(root, key, noReads, cache);
            expect(got === undefined ? undefined : bytesToHex(got)).toBe(
              want === undefined ? undefined : bytesToHex(want),
            );
          }
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
});
