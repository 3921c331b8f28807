/**
 * Merkle-Patricia trie building blocks shared by the write-once list tries
 * (transactions, receipts) and the state package's batch update: nibble paths,
 * hex-prefix encoding, building a subtree from sorted keys, and encoding nodes
 * with <32-byte children embedded and larger ones hashed.
 */
import { keccak256 } from "./hash.ts";
import { rlpEncode, rlpEncodeInto } from "./rlp.ts";

export type RawTrieNode = Uint8Array | RawTrieNode[];
/** A child reference: a 32-byte hash, an embedded raw node, or a node held in memory. */
export type TrieRef = Uint8Array | RawTrieNode[] | TrieNode;
export type TrieNode =
  | { t: "leaf"; path: Uint8Array; value: Uint8Array }
  | { t: "ext"; path: Uint8Array; child: TrieRef }
  | { t: "branch"; children: (TrieRef | null)[]; value: Uint8Array | null };
/** A key as nibbles and its value; null (or empty) means "absent". */
export type TrieItem = { nibbles: Uint8Array; value: Uint8Array | null };

const EMPTY = new Uint8Array(0);
export const EMPTY_TRIE_ROOT = keccak256(rlpEncode(EMPTY));

export function toNibbles(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    const b = key[i] as number;
    out[2 * i] = b >> 4;
    out[2 * i + 1] = b & 0x0f;
  }
  return out;
}

/** Hex-prefix encoding of a nibble path (Yellow Paper appendix C). */
export function hexPrefix(nibbles: Uint8Array, leaf: boolean): Uint8Array {
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

export function decodeHexPrefix(hp: Uint8Array): { path: Uint8Array; leaf: boolean } {
  const flag = (hp[0] as number) >> 4;
  return { path: toNibbles(hp).subarray(flag & 1 ? 1 : 2), leaf: (flag & 2) !== 0 };
}

export function compareNibbles(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/** The subtree for sorted, distinct, present `items` that share their first `depth` nibbles. */
export function buildTrieNode(
  items: readonly TrieItem[],
  depth: number,
  lo = 0,
  hi = items.length,
): TrieNode {
  const first = items[lo] as TrieItem;
  if (hi - lo === 1)
    return { t: "leaf", path: first.nibbles.subarray(depth), value: first.value as Uint8Array };
  const last = items[hi - 1] as TrieItem;
  // Sorted keys: the prefix shared by the first and the last is shared by all.
  let shared = depth;
  while (
    shared < first.nibbles.length &&
    shared < last.nibbles.length &&
    first.nibbles[shared] === last.nibbles[shared]
  )
    shared++;
  if (shared > depth) {
    return {
      t: "ext",
      path: first.nibbles.subarray(depth, shared),
      child: buildTrieNode(items, shared, lo, hi),
    };
  }
  const children: (TrieRef | null)[] = new Array(16).fill(null);
  let value: Uint8Array | null = null;
  let i = lo;
  if (first.nibbles.length === depth) {
    // A key that ends here (a prefix of the others) is the branch's value.
    value = first.value;
    i++;
  }
  while (i < hi) {
    const nibble = (items[i] as TrieItem).nibbles[depth] as number;
    let j = i + 1;
    while (j < hi && (items[j] as TrieItem).nibbles[depth] === nibble) j++;
    children[nibble] = buildTrieNode(items, depth + 1, i, j);
    i = j;
  }
  return { t: "branch", children, value };
}

export function isTrieNode(r: TrieRef): r is TrieNode {
  return !(r instanceof Uint8Array) && !Array.isArray(r);
}

/** Receives every node referenced by hash (new nodes a database must keep). */
export type TrieNodeWriter = (hash: Uint8Array, node: Uint8Array) => void;

/** RLP structure of `node`; children of 32 bytes or more are hashed and passed to `write`. */
export function encodeTrieNode(
  node: TrieNode,
  write: TrieNodeWriter,
  /** References already computed for some nodes (OrderedTrie's hashed leaves). */
  known?: ReadonlyMap<TrieNode, RawTrieNode>,
): RawTrieNode {
  const ref = (r: TrieRef): RawTrieNode => {
    if (!isTrieNode(r)) return r;
    const given = known?.get(r);
    if (given) return given;
    const raw = encodeTrieNode(r, write, known);
    const bytes = rlpEncode(raw);
    if (bytes.length < 32) return raw;
    const hash = keccak256(bytes);
    write(hash, bytes);
    return hash;
  };
  if (node.t === "leaf") return [hexPrefix(node.path, true), node.value];
  if (node.t === "ext") return [hexPrefix(node.path, false), ref(node.child)];
  return [...node.children.map((c) => (c === null ? EMPTY : ref(c))), node.value ?? EMPTY];
}

/** Hash of the root node (always hashed and written, as @ethereumjs/mpt stores it). */
export function trieRootOf(node: TrieNode | null, write: TrieNodeWriter): Uint8Array {
  if (node === null) return EMPTY_TRIE_ROOT;
  const bytes = rlpEncode(encodeTrieNode(node, write));
  const hash = keccak256(bytes);
  write(hash, bytes);
  return hash;
}

/** Sorted, last-write-wins items from key/value pairs. */
export function sortedTrieItems(entries: Iterable<readonly [Uint8Array, Uint8Array | null]>): TrieItem[] {
  const byKey = new Map<string, TrieItem>();
  for (const [key, value] of entries) {
    byKey.set(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex"), {
      nibbles: toNibbles(key),
      value,
    });
  }
  return [...byKey.values()].sort((a, b) => compareNibbles(a.nibbles, b.nibbles));
}

const ignore: TrieNodeWriter = () => {};

/**
 * Root of the trie holding `entries` (keys used as given; an empty value is
 * an absent key), built bottom-up from sorted keys without a node database
 * (geth's StackTrie idea): several times faster than inserting keys one by one.
 */
export function trieRoot(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const items = sortedTrieItems(entries).filter((it) => it.value !== null && it.value.length > 0);
  return trieRootOf(items.length === 0 ? null : buildTrieNode(items, 0), ignore);
}

/** Root of an index-keyed list trie (transactions, receipts, withdrawals): key = RLP(index). */
export function orderedTrieRoot(values: readonly Uint8Array[]): Uint8Array {
  // An empty value is an absent key: only the general builder has that case.
  if (values.some((v) => v.length === 0)) return trieRoot(values.map((v, i) => [rlpEncode(i), v] as const));
  const trie = new OrderedTrie(values.length);
  for (const [i, v] of values.entries()) trie.set(i, v);
  return trie.root();
}

/** Where OrderedTrie encodes a leaf before hashing it (the encoding is not kept). */
const leafScratch = new Uint8Array(4096);

/** The shape of the list trie for `count` entries (it depends on the count alone) and its leaf per index. */
type ListTrieShape = { root: TrieNode; leaves: Extract<TrieNode, { t: "leaf" }>[] };

let lastShape: { count: number; shape: ListTrieShape } | undefined;

function listTrieShape(count: number): ListTrieShape {
  if (lastShape?.count === count) return lastShape.shape;
  const placeholder = new Uint8Array(1);
  const items: TrieItem[] = [];
  // A leaf's path is a view of its key's nibbles: the buffer tells which index it is.
  const indexOf = new Map<ArrayBufferLike, number>();
  for (let i = 0; i < count; i++) {
    const nibbles = toNibbles(rlpEncode(i));
    indexOf.set(nibbles.buffer, i);
    items.push({ nibbles, value: placeholder });
  }
  items.sort((a, b) => compareNibbles(a.nibbles, b.nibbles));
  const root = buildTrieNode(items, 0);
  const leaves: ListTrieShape["leaves"] = new Array(count);
  const visit = (node: TrieRef | null): void => {
    if (node === null || !isTrieNode(node)) return;
    if (node.t === "leaf") leaves[indexOf.get(node.path.buffer) as number] = node;
    else if (node.t === "ext") visit(node.child);
    else for (const c of node.children) visit(c);
  };
  visit(root);
  const shape = { root, leaves };
  lastShape = { count, shape };
  return shape;
}

/**
 * The reference entry `index` of a list trie of `count` entries has in its parent node: the
 * hash of its leaf, or the leaf itself when it encodes to under 32 bytes (then it holds a copy
 * of `value`). Depends on the count, the index and the value alone, so it can be computed
 * wherever the value is (see OrderedTrie.setRef).
 */
export function listTrieLeafRef(count: number, index: number, value: Uint8Array): Uint8Array | RawTrieNode[] {
  const leaf = count > 0 ? listTrieShape(count).leaves[index] : undefined;
  if (!leaf) throw new RangeError(`entry ${index} unknown in a list of ${count}`);
  if (value.length === 0) throw new RangeError(`entry ${index} is empty`);
  const raw: RawTrieNode[] = [hexPrefix(leaf.path, true), value];
  const end = rlpEncodeInto(raw, leafScratch, 0);
  const bytes = end >= 0 ? leafScratch.subarray(0, end) : rlpEncode(raw);
  // A leaf under 32 bytes is embedded in its parent: keep its own copy of the value.
  return bytes.length < 32 ? [raw[0] as Uint8Array, value.slice()] : keccak256(bytes);
}

/**
 * The root of an index-keyed list trie (as orderedTrieRoot) for a list whose length is known
 * up front, filled entry by entry in any order. Where each key's leaf sits depends only on the
 * length, so each leaf is encoded and hashed as its value arrives (most of the work), and
 * `root()` only hashes the branch nodes above them.
 */
export class OrderedTrie {
  readonly count: number;
  private readonly shape: ListTrieShape | undefined;
  /** Each leaf's reference in its parent: its hash, or the node itself when under 32 bytes. */
  private readonly refs = new Map<TrieNode, Uint8Array | RawTrieNode[]>();

  constructor(count: number) {
    this.count = count;
    this.shape = count > 0 ? listTrieShape(count) : undefined;
  }

  /** Sets entry `index` (non-empty; each index once). `value` is not kept: it may be reused after. */
  set(index: number, value: Uint8Array): void {
    this.setRef(index, listTrieLeafRef(this.count, index, value));
  }

  /**
   * Sets entry `index` by its leaf's reference, as `listTrieLeafRef` computed it (possibly
   * elsewhere, e.g. on a worker thread, from the same count): the leaf's hash, or the leaf
   * itself when under 32 bytes.
   */
  setRef(index: number, ref: Uint8Array | RawTrieNode[]): void {
    const leaf = this.shape?.leaves[index];
    if (!leaf || this.refs.has(leaf)) throw new RangeError(`entry ${index} unknown or set twice`);
    if (ref instanceof Uint8Array && ref.length !== 32) throw new RangeError(`entry ${index}: not a hash`);
    this.refs.set(leaf, ref);
  }

  root(): Uint8Array {
    if (this.refs.size < this.count)
      throw new RangeError(`${this.count - this.refs.size} of ${this.count} entries not set`);
    if (this.shape === undefined) return EMPTY_TRIE_ROOT;
    const top = this.shape.root;
    if (top.t === "leaf") {
      // A single entry: the root node is that leaf, always hashed.
      const ref = this.refs.get(top) as Uint8Array | RawTrieNode[];
      return ref instanceof Uint8Array ? ref : keccak256(rlpEncode(ref));
    }
    return keccak256(rlpEncode(encodeTrieNode(top, ignore, this.refs)));
  }
}
