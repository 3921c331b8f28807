/**
 * The state an RPC execution job runs on: a FlatStateManager overlay (the job's writes, with
 * its undo journal, never committed) over the Merkle-Patricia trie at one block's state root.
 * Trie nodes are never pruned and content-addressed, so the snapshot stays exactly that
 * block's state however far the head moves while the job runs, unlike the flat store at the
 * head; nodes come from a cache shared by every job.
 */
import { Address } from "@ethereumjs/util";
import { FlatStateManager, FlatStateStore, historicalState, type TrieNodeCache } from "@meridian/state";
import type { ChainDatabase } from "@meridian/storage";

/** FlatStateStore's reads, answered from the trie at `stateRoot` instead of the flat tables. */
class TrieSnapshotStore extends FlatStateStore {
  private readonly trie: ReturnType<typeof historicalState>;

  constructor(db: ChainDatabase, stateRoot: Uint8Array, cache: TrieNodeCache) {
    super(db);
    this.trie = historicalState(db, stateRoot, cache);
  }

  override async accountRlpAt(_key: string, address: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.trie.getAccount(new Address(address)))?.serialize();
  }

  override cachedAccountRlp(): undefined {
    return undefined;
  }

  override getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    return this.trie.getStorage(new Address(address), slot);
  }

  // Code is stored by hash, so the flat table's entry is the snapshot's too (and cached).
}

export function snapshotState(
  db: ChainDatabase,
  stateRoot: Uint8Array,
  cache: TrieNodeCache,
): FlatStateManager {
  return new FlatStateManager(new TrieSnapshotStore(db, stateRoot, cache), stateRoot);
}
