/**
 * Batch update of a Merkle-Patricia trie: applies a whole sorted set of
 * changes in one walk from the root, touching each affected node once and
 * hashing each new node once. Equivalent to inserting/deleting the keys one
 * by one in @ethereumjs/mpt (property-tested), without the per-key path walks
 * and intermediate hashing. Node building and encoding are shared with the
 * write-once list tries in @meridian/primitives.
 */
import { RLP } from "@ethereumjs/rlp";
import {
  buildTrieNode,
  compareNibbles,
  decodeHexPrefix,
  EMPTY_TRIE_ROOT,
  equalBytes,
  hexKey,
  isTrieNode,
  type RawTrieNode,
  sortedTrieItems,
  type TrieItem,
  type TrieNode,
  type TrieNodeWriter,
  type TrieRef,
  toNibbles,
  trieRootOf,
} from "@meridian/primitives";

/** Reads a stored node (its RLP) by hash. */
export type NodeReader = (hash: Uint8Array) => Promise<Uint8Array | undefined>;

/** Reads many stored nodes at once: the RLP of each (undefined when absent), in order. */
export type NodeBatchReader = (hashes: Uint8Array[]) => Promise<(Uint8Array | undefined)[]>;

/**
 * Decoded nodes by hash (hex), shared by the reads and updates of one commitment:
 * the upper nodes of a trie are on every path, so each is decoded once, not once per key.
 * Decoded nodes are never modified.
 */
export type DecodedNodeCache = Map<string, TrieNode>;

/** A change: `value` null (or empty) deletes the key. Keys are used as given (hash them first for secure tries). */
export type TrieUpdate = { key: Uint8Array; value: Uint8Array | null };

const EMPTY = new Uint8Array(0);

function decodeRaw(raw: RawTrieNode[]): TrieNode {
  if (raw.length === 17) {
    const children = raw
      .slice(0, 16)
      .map((c) => (c instanceof Uint8Array && c.length === 0 ? null : (c as TrieRef)));
    const v = raw[16] as Uint8Array;
    return { t: "branch", children, value: v.length > 0 ? v : null };
  }
  const { path, leaf } = decodeHexPrefix(raw[0] as Uint8Array);
  return leaf
    ? { t: "leaf", path, value: raw[1] as Uint8Array }
    : { t: "ext", path, child: raw[1] as TrieRef };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function startsWith(nibbles: Uint8Array, path: Uint8Array, at: number): boolean {
  if (nibbles.length < at + path.length) return false;
  for (let i = 0; i < path.length; i++) if (nibbles[at + i] !== path[i]) return false;
  return true;
}

/** A subtree built from scratch from sorted items (deletions dropped). */
function fresh(items: TrieItem[], depth: number): TrieNode | null {
  const live = items.filter((it) => it.value !== null && it.value.length > 0);
  return live.length === 0 ? null : buildTrieNode(live, depth);
}

class Updater {
  private readonly read: NodeReader;
  private readonly cache: DecodedNodeCache | undefined;
  constructor(read: NodeReader, cache?: DecodedNodeCache) {
    this.read = read;
    this.cache = cache;
  }

  async resolve(ref: TrieRef | null): Promise<TrieNode | null> {
    if (ref === null) return null;
    if (isTrieNode(ref)) return ref;
    if (Array.isArray(ref)) return decodeRaw(ref);
    if (ref.length === 0) return null;
    const key = this.cache ? hexKey(ref) : undefined;
    if (key !== undefined) {
      const hit = this.cache?.get(key);
      if (hit) return hit;
    }
    const bytes = await this.read(ref);
    if (!bytes) throw new Error(`missing trie node ${Buffer.from(ref).toString("hex")}`);
    const node = decodeRaw(RLP.decode(bytes) as RawTrieNode[]);
    if (key !== undefined) this.cache?.set(key, node);
    return node;
  }

  /** The subtree at `ref` (reached after `depth` nibbles) with `items` applied. */
  async update(ref: TrieRef | null, depth: number, items: TrieItem[]): Promise<TrieNode | null> {
    const node = await this.resolve(ref);
    if (node === null) return fresh(items, depth);
    if (node.t === "leaf") {
      const leafKey = concat((items[0] as TrieItem).nibbles.subarray(0, depth), node.path);
      if (items.some((it) => equalBytes(it.nibbles, leafKey))) return fresh(items, depth);
      const merged = [...items, { nibbles: leafKey, value: node.value }];
      merged.sort((a, b) => compareNibbles(a.nibbles, b.nibbles));
      return fresh(merged, depth);
    }
    if (node.t === "ext") {
      if (items.every((it) => startsWith(it.nibbles, node.path, depth))) {
        return this.extend(node.path, await this.update(node.child, depth + node.path.length, items));
      }
      // Some keys leave the extension's path: continue as the equivalent branch.
      const children: (TrieRef | null)[] = new Array(16).fill(null);
      children[node.path[0] as number] =
        node.path.length === 1 ? node.child : { t: "ext", path: node.path.subarray(1), child: node.child };
      return this.branch({ t: "branch", children, value: null }, depth, items);
    }
    return this.branch(node, depth, items);
  }

  private async branch(
    node: Extract<TrieNode, { t: "branch" }>,
    depth: number,
    items: TrieItem[],
  ): Promise<TrieNode | null> {
    const children = node.children.slice();
    let value = node.value;
    let i = 0;
    while (i < items.length) {
      const it = items[i] as TrieItem;
      if (it.nibbles.length === depth) {
        value = it.value && it.value.length > 0 ? it.value : null;
        i++;
        continue;
      }
      const nibble = it.nibbles[depth] as number;
      let j = i + 1;
      while (j < items.length && (items[j] as TrieItem).nibbles[depth] === nibble) j++;
      children[nibble] = await this.update(children[nibble] ?? null, depth + 1, items.slice(i, j));
      i = j;
    }
    const used: number[] = [];
    for (let n = 0; n < 16; n++) if (children[n] !== null) used.push(n);
    if (used.length === 0) return value ? { t: "leaf", path: EMPTY, value } : null;
    if (used.length === 1 && !value) {
      const n = used[0] as number;
      return this.extend(Uint8Array.of(n), children[n] as TrieRef);
    }
    return { t: "branch", children, value };
  }

  /** Prepends `path` to the node at `child` (merging paths), or null when the child is gone. */
  async extend(path: Uint8Array, child: TrieRef | null): Promise<TrieNode | null> {
    const node = await this.resolve(child);
    if (node === null) return null;
    if (node.t === "leaf") return { t: "leaf", path: concat(path, node.path), value: node.value };
    if (node.t === "ext") return { t: "ext", path: concat(path, node.path), child: node.child };
    return { t: "ext", path, child: child as TrieRef };
  }
}

/**
 * Applies `updates` to the trie at `root` and returns the new root. New nodes
 * go to `write` (the root node always, as @ethereumjs/mpt stores it).
 */
export async function updateTrie(
  root: Uint8Array,
  updates: readonly TrieUpdate[],
  read: NodeReader,
  write: TrieNodeWriter,
  cache?: DecodedNodeCache,
): Promise<Uint8Array> {
  if (updates.length === 0) return root;
  const items = sortedTrieItems(updates.map((u) => [u.key, u.value] as const));
  const start = root.length === 32 && !equalBytes(root, EMPTY_TRIE_ROOT) ? root : null;
  return trieRootOf(await new Updater(read, cache).update(start, 0, items), write);
}

/** Reads `key` from the trie at `root` (undefined when absent). */
export async function trieGet(
  root: Uint8Array,
  key: Uint8Array,
  read: NodeReader,
  cache?: DecodedNodeCache,
): Promise<Uint8Array | undefined> {
  if (equalBytes(root, EMPTY_TRIE_ROOT)) return undefined;
  const nibbles = toNibbles(key);
  const u = new Updater(read, cache);
  let node = await u.resolve(root);
  let depth = 0;
  while (node) {
    if (node.t === "leaf") return equalBytes(node.path, nibbles.subarray(depth)) ? node.value : undefined;
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

type PathVisit = { ref: TrieRef; depth: number; keys: Uint8Array[] };

/**
 * Loads every stored node on the paths from `root` to `keys` into `cache`, decoded, one
 * level of the trie at a time: one `readMany` per level instead of one read per node. A walk
 * for these keys afterwards (trieGet, updateTrie with the same cache) reads nothing. Only warms
 * the cache: a node it cannot read is left for the walk itself to read (and report).
 */
export async function prefetchPaths(
  root: Uint8Array,
  keys: readonly Uint8Array[],
  readMany: NodeBatchReader,
  cache: DecodedNodeCache,
): Promise<void> {
  if (keys.length === 0 || root.length !== 32 || equalBytes(root, EMPTY_TRIE_ROOT)) return;
  let level: PathVisit[] = [{ ref: root, depth: 0, keys: keys.map(toNibbles) }];
  while (level.length > 0) {
    const missing = new Map<string, Uint8Array>();
    for (const v of level) {
      if (!(v.ref instanceof Uint8Array) || v.ref.length === 0) continue;
      const k = hexKey(v.ref);
      if (!cache.has(k)) missing.set(k, v.ref);
    }
    if (missing.size > 0) {
      const hashes = [...missing.values()];
      const nodes = await readMany(hashes);
      for (let i = 0; i < hashes.length; i++) {
        const bytes = nodes[i];
        if (bytes) cache.set(hexKey(hashes[i] as Uint8Array), decodeRaw(RLP.decode(bytes) as RawTrieNode[]));
      }
    }
    const next: PathVisit[] = [];
    for (const v of level) {
      const node = cachedNode(v.ref, cache);
      if (node === null || node.t === "leaf") continue;
      if (node.t === "ext") {
        const below = v.keys.filter((k) => startsWith(k, node.path, v.depth));
        if (below.length > 0) next.push({ ref: node.child, depth: v.depth + node.path.length, keys: below });
        continue;
      }
      const groups: Uint8Array[][] = [];
      for (const k of v.keys) {
        const nibble = k[v.depth];
        if (nibble === undefined) continue;
        const group = groups[nibble];
        if (group) group.push(k);
        else groups[nibble] = [k];
      }
      groups.forEach((ks, nibble) => {
        const child = node.children[nibble];
        if (child) next.push({ ref: child, depth: v.depth + 1, keys: ks });
      });
    }
    level = next;
  }
}

/** The node `ref` stands for, without reading: inline, already decoded, or in `cache`. */
function cachedNode(ref: TrieRef, cache: DecodedNodeCache): TrieNode | null {
  if (isTrieNode(ref)) return ref;
  if (Array.isArray(ref)) return decodeRaw(ref);
  if (ref.length === 0) return null;
  return cache.get(hexKey(ref)) ?? null;
}
