/**
 * Merkle-Patricia root of a fixed key/value set, built bottom-up from sorted
 * keys without a node database (the idea of geth's StackTrie). Transactions,
 * receipts and withdrawals tries are write-once per block: this is several
 * times faster than inserting into a full trie one key at a time.
 */
import { RLP } from "@ethereumjs/rlp";
import { keccak256 } from "./hash.ts";

type RlpNode = Uint8Array | RlpNode[];
type Item = { nibbles: Uint8Array; value: Uint8Array };

const EMPTY_TRIE_ROOT = keccak256(RLP.encode(new Uint8Array(0)));

function toNibbles(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const b = key[i] as number;
    out[2 * i] = b >> 4;
    out[2 * i + 1] = b & 0x0f;
  }
  return out;
}

/** Hex-prefix encoding of a nibble path (Yellow Paper appendix C). */
function hexPrefix(nibbles: Uint8Array, leaf: boolean): Uint8Array {
  const odd = nibbles.length % 2 === 1;
  const out = new Uint8Array(Math.floor(nibbles.length / 2) + 1);
  const flag = (leaf ? 2 : 0) + (odd ? 1 : 0);
  let i = 0;
  if (odd) {
    out[0] = (flag << 4) | (nibbles[0] as number);
    i = 1;
  } else {
    out[0] = flag << 4;
  }
  for (let o = 1; i < nibbles.length; i += 2, o++)
    out[o] = ((nibbles[i] as number) << 4) | (nibbles[i + 1] as number);
  return out;
}

/** A child reference: the node itself when its encoding is under 32 bytes, else its hash. */
function ref(node: RlpNode): RlpNode {
  const encoded = RLP.encode(node);
  return encoded.length < 32 ? node : keccak256(encoded);
}

function commonPrefix(a: Uint8Array, b: Uint8Array, from: number): number {
  let i = from;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Node for the sorted, distinct `items[lo, hi)` that all share the first `depth` nibbles. */
function build(items: Item[], lo: number, hi: number, depth: number): RlpNode {
  const first = items[lo] as Item;
  if (hi - lo === 1) return [hexPrefix(first.nibbles.subarray(depth), true), first.value];
  const last = items[hi - 1] as Item;
  // Sorted keys: the prefix shared by the first and the last is shared by all.
  const shared = commonPrefix(first.nibbles, last.nibbles, depth);
  if (shared > depth) {
    return [hexPrefix(first.nibbles.subarray(depth, shared), false), ref(build(items, lo, hi, shared))];
  }
  const branch: RlpNode[] = new Array(17).fill(new Uint8Array(0));
  let i = lo;
  if (first.nibbles.length === depth) {
    // A key that ends here (a prefix of the others) is the branch's value.
    branch[16] = first.value;
    i++;
  }
  while (i < hi) {
    const nibble = (items[i] as Item).nibbles[depth] as number;
    let j = i + 1;
    while (j < hi && (items[j] as Item).nibbles[depth] === nibble) j++;
    branch[nibble] = ref(build(items, i, j, depth + 1));
    i = j;
  }
  return branch;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/**
 * Root of the trie holding `entries` (distinct keys, any order; empty values
 * are absent keys, as in a real trie). Keys are used as given, not hashed.
 */
export function trieRoot(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const items: Item[] = [];
  for (const [key, value] of entries) if (value.length > 0) items.push({ nibbles: toNibbles(key), value });
  if (items.length === 0) return EMPTY_TRIE_ROOT;
  items.sort((a, b) => compare(a.nibbles, b.nibbles));
  return keccak256(RLP.encode(build(items, 0, items.length, 0)));
}

/** Root of an index-keyed list trie (transactions, receipts, withdrawals): key = RLP(index). */
export function orderedTrieRoot(values: readonly Uint8Array[]): Uint8Array {
  return trieRoot(values.map((v, i) => [RLP.encode(i), v] as const));
}
