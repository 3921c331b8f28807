/**
 * The state an RPC execution job runs on: a FlatStateManager overlay (the job's writes, with
 * its undo journal, never committed) over the Merkle-Patricia trie at one block's state root.
 * Trie nodes are never pruned and content-addressed, so the snapshot stays exactly that
 * block's state however far the head moves while the job runs, unlike the flat store at the
 * head; nodes come from a cache shared by every job.
 */
import { Address } from "@ethereumjs/util";
import { hexKey } from "@meridian/primitives";
import { FlatStateManager, FlatStateStore, historicalState, type TrieNodeCache } from "@meridian/state";
import type { ChainDatabase } from "@meridian/storage";

/** Reads kept per snapshot store, each kind; past it the kind's cache starts over. */
const MAX_CACHED_READS = 20_000;

/**
 * FlatStateStore's reads, answered from the trie at `stateRoot` instead of the flat tables.
 * A state root's content never changes, so one store (its trie, its decoded reads and its
 * code) serves every job on that root: consecutive calls mostly run on the same head.
 */
class TrieSnapshotStore extends FlatStateStore {
  private readonly trie: ReturnType<typeof historicalState>;
  private readonly accountRlps = new Map<string, Uint8Array | undefined>();
  private readonly slotValues = new Map<string, Uint8Array>();

  constructor(db: ChainDatabase, stateRoot: Uint8Array, cache: TrieNodeCache) {
    super(db);
    this.trie = historicalState(db, stateRoot, cache);
  }

  override async accountRlpAt(key: string, address: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.accountRlps.has(key)) return this.accountRlps.get(key);
    const rlp = (await this.trie.getAccount(new Address(address)))?.serialize();
    if (this.accountRlps.size >= MAX_CACHED_READS) this.accountRlps.clear();
    this.accountRlps.set(key, rlp);
    return rlp;
  }

  override cachedAccountRlp(): undefined {
    return undefined;
  }

  override async getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    const key = hexKey(address) + hexKey(slot);
    let value = this.slotValues.get(key);
    if (value === undefined) {
      value = await this.trie.getStorage(new Address(address), slot);
      if (this.slotValues.size >= MAX_CACHED_READS) this.slotValues.clear();
      this.slotValues.set(key, value);
    }
    return value;
  }

  // Code is stored by hash, so the flat table's entry is the snapshot's too (and cached).
}

/** Snapshot stores by state root, per node (its trie node cache), most recent last. */
const storesByCache = new WeakMap<TrieNodeCache, Map<string, TrieSnapshotStore>>();
/** State roots whose store is kept: the head's and a few before it. */
const MAX_SNAPSHOT_STORES = 8;

function snapshotStore(db: ChainDatabase, stateRoot: Uint8Array, cache: TrieNodeCache): TrieSnapshotStore {
  let stores = storesByCache.get(cache);
  if (!stores) {
    stores = new Map();
    storesByCache.set(cache, stores);
  }
  const key = hexKey(stateRoot);
  let store = stores.get(key);
  if (!store) {
    store = new TrieSnapshotStore(db, stateRoot, cache);
    if (stores.size >= MAX_SNAPSHOT_STORES) stores.delete(stores.keys().next().value as string);
    stores.set(key, store);
  }
  return store;
}

export function snapshotState(
  db: ChainDatabase,
  stateRoot: Uint8Array,
  cache: TrieNodeCache,
): FlatStateManager {
  return new FlatStateManager(snapshotStore(db, stateRoot, cache), stateRoot);
}
