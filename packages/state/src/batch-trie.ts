/**
 * Batch update of a Merkle-Patricia trie: applies a whole sorted set of
 * changes in one walk from the root, touching each affected node once and
 * hashing each new node once. Equivalent to inserting/deleting the keys one
 * by one in @ethereumjs/mpt (the FlatStateManager property test checks this),
 * without the per-key path walks and intermediate hashing.
 */
import { RLP } from "@ethereumjs/rlp";
import { KECCAK256_RLP } from "@ethereumjs/util";
import { keccak256 } from "@meridian/primitives";

type Raw = Uint8Array | Raw[];
/** A child reference: a 32-byte hash, an embedded raw node, or an updated node held in memory. */
type Ref = Uint8Array | Raw[] | TrieNode;
type TrieNode =
  | { t: "leaf"; path: Uint8Array; value: Uint8Array }
  | { t: "ext"; path: Uint8Array; child: Ref }
  | { t: "branch"; children: (Ref | null)[]; value: Uint8Array | null };

/** Reads a stored node (its RLP) by hash. */
export type NodeReader = (hash: Uint8Array) => Promise<Uint8Array | undefined>;
/** Receives every new node whose reference is a hash (root included). */
export type NodeWriter = (hash: Uint8Array, node: Uint8Array) => void;

/** A change: `value` null (or empty) deletes the key. Keys are used as given (hash them first for secure tries). */
export type TrieUpdate = { key: Uint8Array; value: Uint8Array | null };

type Item = { nibbles: Uint8Array; value: Uint8Array | null };

const EMPTY = new Uint8Array(0);

function isNode(r: Ref): r is TrieNode {
  return !(r instanceof Uint8Array) && !Array.isArray(r);
}

function toNibbles(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length * 2);
  for (let i = 0; i < key.length; i++) {
    out[2 * i] = (key[i] as number) >> 4;
    out[2 * i + 1] = (key[i] as number) & 0x0f;
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function hexPrefix(nibbles: Uint8Array, leaf: boolean): Uint8Array {
  const odd = nibbles.length % 2 === 1;
  const out = new Uint8Array(Math.floor(nibbles.length / 2) + 1);
  const flag = (leaf ? 2 : 0) + (odd ? 1 : 0);
  let i = 0;
  if (odd) {
    out[0] = (flag << 4) | (nibbles[0] as number);
    i = 1;
  } else out[0] = flag << 4;
  for (let o = 1; i < nibbles.length; i += 2, o++)
    out[o] = ((nibbles[i] as number) << 4) | (nibbles[i + 1] as number);
  return out;
}

function decodeHexPrefix(hp: Uint8Array): { path: Uint8Array; leaf: boolean } {
  const flag = (hp[0] as number) >> 4;
  const nibbles = toNibbles(hp);
  return { path: nibbles.subarray(flag & 1 ? 1 : 2), leaf: (flag & 2) !== 0 };
}

function decodeRaw(raw: Raw[]): TrieNode {
  if (raw.length === 17) {
    const children = raw
      .slice(0, 16)
      .map((c) => (c instanceof Uint8Array && c.length === 0 ? null : (c as Ref)));
    const v = raw[16] as Uint8Array;
    return { t: "branch", children, value: v.length > 0 ? v : null };
  }
  const { path, leaf } = decodeHexPrefix(raw[0] as Uint8Array);
  return leaf ? { t: "leaf", path, value: raw[1] as Uint8Array } : { t: "ext", path, child: raw[1] as Ref };
}

class Updater {
  private readonly read: NodeReader;
  private readonly write: NodeWriter;
  constructor(read: NodeReader, write: NodeWriter) {
    this.read = read;
    this.write = write;
  }

  async resolve(ref: Ref | null): Promise<TrieNode | null> {
    if (ref === null) return null;
    if (isNode(ref)) return ref;
    if (Array.isArray(ref)) return decodeRaw(ref);
    if (ref.length === 0) return null;
    const bytes = await this.read(ref);
    if (!bytes) throw new Error(`missing trie node ${Buffer.from(ref).toString("hex")}`);
    return decodeRaw(RLP.decode(bytes) as Raw[]);
  }

  /** The subtree at `ref` (reached after `depth` nibbles) with `items` applied. */
  async update(ref: Ref | null, depth: number, items: Item[]): Promise<TrieNode | null> {
    const node = await this.resolve(ref);
    if (node === null) return fresh(items, depth);
    if (node.t === "leaf") {
      const prefix = (items[0] as Item).nibbles.subarray(0, depth);
      const leafKey = concat(prefix, node.path);
      const merged = items.some((it) => equal(it.nibbles, leafKey))
        ? items
        : insertSorted(items, { nibbles: leafKey, value: node.value });
      return fresh(merged, depth);
    }
    if (node.t === "ext") {
      const end = depth + node.path.length;
      if (items.every((it) => startsWith(it.nibbles, node.path, depth))) {
        return extend(node.path, await this.update(node.child, end, items), this);
      }
      // Some keys leave the extension's path: continue as the equivalent branch.
      const children: (Ref | null)[] = new Array(16).fill(null);
      children[node.path[0] as number] =
        node.path.length === 1 ? node.child : { t: "ext", path: node.path.subarray(1), child: node.child };
      return this.branch({ t: "branch", children, value: null }, depth, items);
    }
    return this.branch(node, depth, items);
  }

  private async branch(
    node: Extract<TrieNode, { t: "branch" }>,
    depth: number,
    items: Item[],
  ): Promise<TrieNode | null> {
    const children = node.children.slice();
    let value = node.value;
    let i = 0;
    while (i < items.length) {
      const it = items[i] as Item;
      if (it.nibbles.length === depth) {
        value = it.value && it.value.length > 0 ? it.value : null;
        i++;
        continue;
      }
      const nibble = it.nibbles[depth] as number;
      let j = i + 1;
      while (j < items.length && (items[j] as Item).nibbles[depth] === nibble) j++;
      children[nibble] = await this.update(children[nibble] ?? null, depth + 1, items.slice(i, j));
      i = j;
    }
    const used: number[] = [];
    for (let n = 0; n < 16; n++) if (children[n] !== null) used.push(n);
    if (used.length === 0) return value ? { t: "leaf", path: EMPTY, value } : null;
    if (used.length === 1 && !value) {
      const n = used[0] as number;
      return extend(Uint8Array.of(n), children[n] as Ref, this);
    }
    return { t: "branch", children, value };
  }

  /** RLP structure of a node, writing every hashed child. */
  encode(node: TrieNode): Raw {
    if (node.t === "leaf") return [hexPrefix(node.path, true), node.value];
    if (node.t === "ext") return [hexPrefix(node.path, false), this.ref(node.child)];
    return [...node.children.map((c) => (c === null ? EMPTY : this.ref(c))), node.value ?? EMPTY];
  }

  private ref(r: Ref): Raw {
    if (!isNode(r)) return r;
    const raw = this.encode(r);
    const bytes = RLP.encode(raw);
    if (bytes.length < 32) return raw;
    const hash = keccak256(bytes);
    this.write(hash, bytes);
    return hash;
  }
}

/** Prepends `path` to the node at `child` (merging paths), or null when the child is gone. */
async function extend(path: Uint8Array, child: Ref | TrieNode | null, u: Updater): Promise<TrieNode | null> {
  const node = await u.resolve(child);
  if (node === null) return null;
  if (node.t === "leaf") return { t: "leaf", path: concat(path, node.path), value: node.value };
  if (node.t === "ext") return { t: "ext", path: concat(path, node.path), child: node.child };
  return { t: "ext", path, child: child as Ref };
}

/** A trie built from scratch from sorted items (deletions dropped). */
function fresh(items: Item[], depth: number): TrieNode | null {
  const live = items.filter((it) => it.value !== null && it.value.length > 0);
  return live.length === 0 ? null : build(live, 0, live.length, depth);
}

function build(items: Item[], lo: number, hi: number, depth: number): TrieNode {
  const first = items[lo] as Item;
  if (hi - lo === 1)
    return { t: "leaf", path: first.nibbles.subarray(depth), value: first.value as Uint8Array };
  const last = items[hi - 1] as Item;
  let shared = depth;
  while (
    shared < first.nibbles.length &&
    shared < last.nibbles.length &&
    first.nibbles[shared] === last.nibbles[shared]
  )
    shared++;
  if (shared > depth)
    return { t: "ext", path: first.nibbles.subarray(depth, shared), child: build(items, lo, hi, shared) };
  const children: (Ref | null)[] = new Array(16).fill(null);
  let value: Uint8Array | null = null;
  let i = lo;
  if (first.nibbles.length === depth) {
    value = first.value;
    i++;
  }
  while (i < hi) {
    const nibble = (items[i] as Item).nibbles[depth] as number;
    let j = i + 1;
    while (j < hi && (items[j] as Item).nibbles[depth] === nibble) j++;
    children[nibble] = build(items, i, j, depth + 1);
    i = j;
  }
  return { t: "branch", children, value };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function startsWith(nibbles: Uint8Array, path: Uint8Array, at: number): boolean {
  if (nibbles.length < at + path.length) return false;
  for (let i = 0; i < path.length; i++) if (nibbles[at + i] !== path[i]) return false;
  return true;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

function insertSorted(items: Item[], item: Item): Item[] {
  const out = items.slice();
  let i = 0;
  while (i < out.length && compare((out[i] as Item).nibbles, item.nibbles) < 0) i++;
  out.splice(i, 0, item);
  return out;
}

/**
 * Applies `updates` to the trie at `root` and returns the new root. New nodes
 * go to `write` (the root node always, as @ethereumjs/mpt stores it).
 */
export async function updateTrie(
  root: Uint8Array,
  updates: readonly TrieUpdate[],
  read: NodeReader,
  write: NodeWriter,
): Promise<Uint8Array> {
  if (updates.length === 0) return root;
  // Last write of a key wins; then sorted by nibble path.
  const byKey = new Map<string, Item>();
  for (const u of updates)
    byKey.set(Buffer.from(u.key).toString("hex"), { nibbles: toNibbles(u.key), value: u.value });
  const items = [...byKey.values()].sort((a, b) => compare(a.nibbles, b.nibbles));
  const u = new Updater(read, write);
  const start: Ref | null = root.length === 32 && !equal(root, KECCAK256_RLP) ? root : null;
  const node = await u.update(start, 0, items);
  if (node === null) return KECCAK256_RLP;
  const bytes = RLP.encode(u.encode(node));
  const hash = keccak256(bytes);
  write(hash, bytes);
  return hash;
}

/** Reads `key` from the trie at `root` (undefined when absent). */
export async function trieGet(
  root: Uint8Array,
  key: Uint8Array,
  read: NodeReader,
): Promise<Uint8Array | undefined> {
  if (equal(root, KECCAK256_RLP)) return undefined;
  const nibbles = toNibbles(key);
  const u = new Updater(read, () => {});
  let node = await u.resolve(root);
  let depth = 0;
  while (node) {
    if (node.t === "leaf") return equal(node.path, nibbles.subarray(depth)) ? node.value : undefined;
    if (node.t === "ext") {
      if (!startsWith(nibbles, node.path, depth)) return undefined;
      depth += node.path.length;
      node = await u.resolve(node.child);
      continue;
    }
    if (depth === nibbles.length) return node.value ?? undefined;
    const child = node.children[nibbles[depth] as number] ?? null;
    depth++;
    node = await u.resolve(child);
  }
  return undefined;
}
