/**
 * Adapter between @ethereumjs/mpt's key-value DB contract (unprefixed hex keys)
 * and the chain database. Writes never go straight to disk: they collect in
 * `pending` and reach LevelDB only inside the block's atomic batch.
 */

import type { BatchDBOp, DB } from "@ethereumjs/util";
import type { ChainDatabase, WriteBatch } from "@meridian/storage";

/** MerkleStateManager stores code under "c" ++ codeHash in the trie DB. */
const CODE_PREFIX = 0x63;

export class TrieNodeDB implements DB<string, string | Uint8Array> {
  readonly pending = new Map<string, Uint8Array>();

  private readonly db: ChainDatabase;

  constructor(db: ChainDatabase) {
    this.db = db;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const hit = this.pending.get(key);
    if (hit) return hit;
    const bytes = Buffer.from(key, "hex");
    if (bytes.length === 33 && bytes[0] === CODE_PREFIX) return this.db.code(bytes.subarray(1));
    return this.db.trieNode(bytes);
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
