/**
 * Adapter between @ethereumjs/mpt's key-value DB contract (unprefixed hex keys)
 * and the chain database. Writes never go straight to disk: they collect in
 * `pending` and reach LevelDB only inside the block's atomic batch.
 */

import type { BatchDBOp, DB } from "@ethereumjs/util";
import type { ChainDatabase, WriteBatch } from "@meridian/storage";

/** MerkleStateManager stores code under "c" ++ codeHash in the trie DB. */
const CODE_PREFIX = 0x63;

/**
 * Committed trie nodes and code by key, shared by many readers. Both are content-addressed
 * (the key is the value's hash), so an entry never goes stale; the oldest go first past
 * `maxEntries`.
 */
export class TrieNodeCache {
  private readonly entries = new Map<string, Uint8Array>();
  private readonly maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.maxEntries = maxEntries;
  }

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Uint8Array): void {
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, value);
  }
}

export class TrieNodeDB implements DB<string, string | Uint8Array> {
  readonly pending = new Map<string, Uint8Array>();

  private readonly db: ChainDatabase;
  private readonly cache: TrieNodeCache | undefined;

  constructor(db: ChainDatabase, cache?: TrieNodeCache) {
    this.db = db;
    this.cache = cache;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const hit = this.pending.get(key) ?? this.cache?.get(key);
    if (hit) return hit;
    const bytes = Buffer.from(key, "hex");
    const value =
      bytes.length === 33 && bytes[0] === CODE_PREFIX
        ? await this.db.code(bytes.subarray(1))
        : await this.db.trieNode(bytes);
    if (value && this.cache) this.cache.set(key, value);
    return value;
  }

  async put(key: string, value: string | Uint8Array): Promise<void> {
    this.pending.set(key, typeof value === "string" ? Buffer.from(value, "hex") : value);
  }

  // Nodes are content-addressed and never pruned: deleting would break historical reads.
  async del(_key: string): Promise<void> {}

  async batch(ops: BatchDBOp<string, string | Uint8Array>[]): Promise<void> {
    for (const op of ops) if (op.type === "put") await this.put(op.key, op.value);
  }

  shallowCopy(): DB<string, string | Uint8Array> {
    return this;
  }

  async open(): Promise<void> {}

  /** Moves the collected nodes into the block batch. */
  flushInto(batch: WriteBatch): void {
    for (const [k, v] of this.pending) {
      const bytes = Buffer.from(k, "hex");
      if (bytes.length === 33 && bytes[0] === CODE_PREFIX) batch.putCode(bytes.subarray(1), v);
      else batch.putTrieNode(bytes, v);
    }
  }
}
