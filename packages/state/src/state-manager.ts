/**
 * FlatStateManager: the StateManagerInterface @ethereumjs/vm executes against.
 * Reads come from an in-memory block overlay, then the committed flat store;
 * writes land in the overlay with an undo journal for EVM checkpoints. The
 * Merkle-Patricia trie is touched only by `getStateRoot`, once per block.
 */
import type { AccountFields, StateManagerInterface } from "@ethereumjs/common";
import {
  Account,
  type Address,
  bytesToHex,
  createAccountFromRLP,
  equalsBytes,
  KECCAK256_NULL,
  KECCAK256_RLP,
  unpadBytes,
} from "@ethereumjs/util";
import { bigIntToBytes, hexKey, keccak256, MeridianError, rlpEncode } from "@meridian/primitives";
import type { ChainDatabase, WriteBatch } from "@meridian/storage";
import { type DecodedNodeCache, type TrieUpdate, trieGet, updateTrie } from "./batch-trie.ts";
import type { FlatStateStore } from "./flat-store.ts";
import { OverlayChanges } from "./overlay-changes.ts";
import { TrieNodeDB } from "./trie-db.ts";

const EMPTY = new Uint8Array(0);

/** The state changes of one block (or one eth_call), keyed by unprefixed hex. */
export type StateDiff = {
  /** null = deleted. */
  accounts: Map<string, Account | null>;
  /** Accounts whose storage was cleared (CREATE over a destroyed account, SELFDESTRUCT in the same tx). */
  wiped: Set<string>;
  /** Written slots; an empty value means zero (deleted). */
  storage: Map<string, Map<string, Uint8Array>>;
  code: Map<string, Uint8Array>;
};

export type Commitment = {
  stateRoot: Uint8Array;
  /** Account RLP as it goes to the flat store and the trie (storage roots filled in). */
  accounts: Map<string, Uint8Array | null>;
  nodes: TrieNodeDB;
};

function copyAccount(a: Account): Account {
  return new Account(a.nonce, a.balance, a.storageRoot, a.codeHash);
}

/**
 * `cur` with `fields` changed, as a new object: overlay accounts are replaced, never changed
 * (the commitment caches their RLP).
 */
function withFields(cur: Account | null | undefined, fields: AccountFields): Account {
  return new Account(
    fields.nonce ?? cur?.nonce,
    fields.balance ?? cur?.balance,
    fields.storageRoot ?? cur?.storageRoot,
    fields.codeHash ?? cur?.codeHash,
  );
}

export class FlatStateManager implements StateManagerInterface {
  private changes = new OverlayChanges<Account | null>();
  private code = new Map<string, Uint8Array>();
  private commitment: Commitment | undefined;
  private readonly originalSlots = new Map<string, Uint8Array>();

  readonly originalStorageCache = {
    get: async (address: Address, key: Uint8Array): Promise<Uint8Array> => {
      const k = hexKey(address.bytes) + hexKey(key);
      const hit = this.originalSlots.get(k);
      if (hit !== undefined) return hit;
      const v = await this.getStorage(address, key);
      this.originalSlots.set(k, v);
      return v;
    },
    clear: (): void => {
      this.originalSlots.clear();
    },
  };

  readonly store: FlatStateStore;
  /** Computes the block commitment; `computeCommitment` unless set (the parallel executor shards it). */
  committer: ((db: ChainDatabase, baseRoot: Uint8Array, diff: StateDiff) => Promise<Commitment>) | undefined;
  /** State root of the committed state the overlay starts from. */
  readonly baseRoot: Uint8Array;

  constructor(store: FlatStateStore, baseRoot: Uint8Array) {
    this.store = store;
    this.baseRoot = baseRoot;
  }

  // --- accounts ---------------------------------------------------------------

  async getAccount(address: Address): Promise<Account | undefined> {
    const a = this.changes.accounts.get(hexKey(address.bytes));
    if (a !== undefined) return a === null ? undefined : copyAccount(a);
    return this.store.getAccount(address.bytes);
  }

  /**
   * The account at `key` (the unprefixed hex of `address`) as the overlay has it, shared rather
   * than copied: for callers that only read it (getAccount hands the VM a copy it may change).
   */
  async peekAccount(key: string, address: Uint8Array): Promise<Account | undefined> {
    const now = this.peekAccountNow(key);
    if (now !== undefined) return now ?? undefined;
    const rlp = await this.store.accountRlpAt(key, address);
    return rlp ? createAccountFromRLP(rlp) : undefined;
  }

  /**
   * peekAccount when it needs no read from disk: the overlay's account or a cached committed
   * one (null: there is none); undefined when only peekAccount can tell. No promise to await,
   * for the validator's pass over a block's list, which makes tens of thousands of these.
   */
  peekAccountNow(key: string): Account | null | undefined {
    const a = this.changes.accounts.get(key);
    if (a !== undefined) return a;
    const rlp = this.store.cachedAccountRlp(key);
    if (rlp === undefined) return undefined;
    return rlp === null ? null : createAccountFromRLP(rlp);
  }

  /** modifyAccountFieldsAt done now when peekAccountNow knows the account; false when it does not. */
  modifyAccountFieldsNow(key: string, fields: AccountFields): boolean {
    const cur = this.peekAccountNow(key);
    if (cur === undefined) return false;
    this.setAccount(key, withFields(cur, fields));
    return true;
  }

  /** modifyAccountFields for a caller that has the address's key (its unprefixed hex) already. */
  async modifyAccountFieldsAt(key: string, address: Uint8Array, fields: AccountFields): Promise<void> {
    // Most writes follow an earlier one to the same account, or find it cached: no await then.
    if (this.modifyAccountFieldsNow(key, fields)) return;
    this.setAccount(key, withFields(await this.peekAccount(key, address), fields));
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    if (account === undefined) return this.deleteAccount(address);
    this.setAccount(hexKey(address.bytes), copyAccount(account));
  }

  async deleteAccount(address: Address): Promise<void> {
    const addr = hexKey(address.bytes);
    this.setAccount(addr, null);
    this.wipe(addr);
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    return this.modifyAccountFieldsAt(hexKey(address.bytes), address.bytes, fields);
  }

  private setAccount(addr: string, value: Account | null): void {
    this.changes.setAccount(addr, value);
    this.commitment = undefined;
  }

  // --- code -------------------------------------------------------------------

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const codeHash = keccak256(value);
    if (value.length > 0) this.code.set(hexKey(codeHash), value);
    const account = (await this.getAccount(address)) ?? new Account();
    account.codeHash = value.length > 0 ? codeHash : KECCAK256_NULL;
    this.setAccount(hexKey(address.bytes), account);
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const account = await this.getAccount(address);
    return account ? this.codeByHash(account.codeHash) : EMPTY;
  }

  /** The code whose hash is `codeHash` (written in this block or committed); empty for none. */
  async codeByHash(codeHash: Uint8Array): Promise<Uint8Array> {
    if (equalsBytes(codeHash, KECCAK256_NULL)) return EMPTY;
    return this.code.get(hexKey(codeHash)) ?? (await this.store.getCode(codeHash)) ?? EMPTY;
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  // --- storage ----------------------------------------------------------------

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    if (key.length !== 32)
      throw new MeridianError("storage key must be 32 bytes", { code: "INVALID_STORAGE_KEY" });
    const addr = hexKey(address.bytes);
    const v = this.changes.slots.get(addr)?.get(hexKey(key));
    if (v !== undefined) return v;
    if (this.changes.wiped.has(addr)) return EMPTY;
    return this.store.getStorage(address.bytes, key);
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (key.length !== 32)
      throw new MeridianError("storage key must be 32 bytes", { code: "INVALID_STORAGE_KEY" });
    const addr = hexKey(address.bytes);
    this.changes.setSlot(addr, hexKey(key), unpadBytes(value));
    this.commitment = undefined;
  }

  async clearStorage(address: Address): Promise<void> {
    // Like MerkleStateManager: clearing the storage of a missing account creates it empty.
    if (!(await this.getAccount(address))) this.setAccount(hexKey(address.bytes), new Account());
    this.wipe(hexKey(address.bytes));
  }

  private wipe(addr: string): void {
    this.changes.wipe(addr);
    this.commitment = undefined;
  }

  // --- checkpoints ------------------------------------------------------------

  async checkpoint(): Promise<void> {
    this.changes.checkpoint();
  }

  async commit(): Promise<void> {
    this.changes.commit();
  }

  async revert(): Promise<void> {
    this.changes.revert();
    this.commitment = undefined;
  }

  // --- roots ------------------------------------------------------------------

  /** Applies the overlay to the Merkle-Patricia trie (nodes kept in memory) and returns the root. */
  async getStateRoot(): Promise<Uint8Array> {
    if (!this.commitment)
      this.commitment = await (this.committer ?? computeCommitment)(
        this.store.db,
        this.baseRoot,
        this.diff(),
      );
    return this.commitment.stateRoot;
  }

  async setStateRoot(stateRoot: Uint8Array): Promise<void> {
    if (!equalsBytes(stateRoot, this.baseRoot)) {
      throw new MeridianError("FlatStateManager only executes on top of its base state root", {
        code: "STATE_ROOT_UNAVAILABLE",
        details: `base ${bytesToHex(this.baseRoot)}, requested ${bytesToHex(stateRoot)}`,
      });
    }
    this.reset();
  }

  async hasStateRoot(root: Uint8Array): Promise<boolean> {
    return equalsBytes(root, KECCAK256_RLP) || (await this.store.db.trieNode(root)) !== undefined;
  }

  clearCaches(): void {}

  shallowCopy(): FlatStateManager {
    return new FlatStateManager(this.store, this.baseRoot);
  }

  /** Drops every uncommitted change. */
  reset(): void {
    this.changes = new OverlayChanges();
    this.code = new Map();
    this.commitment = undefined;
    this.originalSlots.clear();
  }

  diff(): StateDiff {
    const { accounts, wiped, slots } = this.changes;
    return { accounts, wiped, storage: slots, code: this.code };
  }

  /**
   * Writes the block's state changes into `batch`: flat accounts, storage and
   * code, plus the new trie nodes. Returns what the flat store cache needs.
   */
  async writeTo(batch: WriteBatch): Promise<{
    stateRoot: Uint8Array;
    cacheUpdate: {
      accounts: Map<string, Uint8Array | null>;
      wiped: Set<string>;
      storage: Map<string, Map<string, Uint8Array>>;
    };
  }> {
    const stateRoot = await this.getStateRoot();
    const c = this.commitment as Commitment;
    for (const [addr, rlp] of c.accounts) {
      const address = Buffer.from(addr, "hex");
      if (rlp === null) batch.delAccount(address);
      else batch.putAccount(address, rlp);
    }
    const { wiped, slots: storage } = this.changes;
    for (const addr of wiped) {
      const address = Buffer.from(addr, "hex");
      for await (const [slot] of this.store.db.storageEntries(address)) batch.delStorage(address, slot);
    }
    for (const [addr, slots] of storage) {
      const address = Buffer.from(addr, "hex");
      for (const [slot, value] of slots) {
        if (value.length === 0) batch.delStorage(address, Buffer.from(slot, "hex"));
        else batch.putStorage(address, Buffer.from(slot, "hex"), value);
      }
    }
    c.nodes.flushInto(batch);
    return { stateRoot, cacheUpdate: { accounts: c.accounts, wiped, storage } };
  }
}

/** How one commitment reads and writes trie nodes, shared by all its tries. */
export type TrieAccess = {
  read: (hash: Uint8Array) => Promise<Uint8Array | undefined>;
  write: (hash: Uint8Array, node: Uint8Array) => void;
  decoded: DecodedNodeCache;
};

/**
 * The trie value of one touched account after the block (null: removed), its
 * storage trie updated. `overlay` is the account as execution left it (undefined:
 * only its storage changed; null: deleted); `key` is keccak(address). Shared by the
 * sequential commitment and the shard tasks, so both apply the same rules.
 */
export async function commitAccount(
  baseRoot: Uint8Array,
  key: Uint8Array,
  overlay: Account | null | undefined,
  wiped: boolean,
  slots: Iterable<[string, Uint8Array]> | undefined,
  trie: TrieAccess,
): Promise<Uint8Array | null> {
  let committedRaw: Uint8Array | undefined | null = null;
  const committed = async (): Promise<Account | undefined> => {
    if (committedRaw === null) committedRaw = await trieGet(baseRoot, key, trie.read, trie.decoded);
    return committedRaw ? createAccountFromRLP(committedRaw) : undefined;
  };
  const account = overlay === undefined ? ((await committed()) ?? null) : overlay && copyAccount(overlay);
  if (account === null) return null;
  if (wiped || slots) {
    // Storage root of the committed account, unless the storage was wiped in this block.
    const root = wiped ? KECCAK256_RLP : ((await committed())?.storageRoot ?? KECCAK256_RLP);
    const updates: TrieUpdate[] = [];
    for (const [slot, value] of slots ?? []) {
      updates.push({
        key: keccak256(Buffer.from(slot, "hex")),
        value: value.length === 0 ? null : rlpEncode(value),
      });
    }
    account.storageRoot = await updateTrie(root, updates, trie.read, trie.write, trie.decoded);
  } else if (overlay !== undefined) {
    // Only balance/nonce/code changed: keep the committed storage root.
    account.storageRoot = (await committed())?.storageRoot ?? KECCAK256_RLP;
  }
  return accountRlp(account);
}

/** An account's RLP (nonce, balance, storage root, code hash): Account.serialize's bytes, in one pass. */
export function accountRlp(account: Account): Uint8Array {
  return rlpEncode([
    bigIntToBytes(account.nonce),
    bigIntToBytes(account.balance),
    account.storageRoot,
    account.codeHash,
  ]);
}

/** Applies a diff to the trie at `baseRoot` in one batch update per trie; every new node stays in memory. */
export async function computeCommitment(
  db: ChainDatabase,
  baseRoot: Uint8Array,
  diff: StateDiff,
): Promise<Commitment> {
  const nodes = new TrieNodeDB(db);
  const trie: TrieAccess = {
    read: (hash) => nodes.get(hexKey(hash)),
    write: (hash, node) => void nodes.pending.set(hexKey(hash), node),
    decoded: new Map(),
  };
  const accounts = new Map<string, Uint8Array | null>();
  const accountUpdates: TrieUpdate[] = [];
  const touched = new Set<string>([...diff.accounts.keys(), ...diff.storage.keys(), ...diff.wiped]);
  // Sorted so that every node sees the same order of changes.
  for (const addr of [...touched].sort()) {
    const key = keccak256(Buffer.from(addr, "hex"));
    const rlp = await commitAccount(
      baseRoot,
      key,
      diff.accounts.get(addr),
      diff.wiped.has(addr),
      diff.storage.get(addr),
      trie,
    );
    accountUpdates.push({ key, value: rlp });
    accounts.set(addr, rlp);
  }
  for (const [hash, code] of diff.code) await nodes.put(`63${hash}`, code);
  const stateRoot = await updateTrie(baseRoot, accountUpdates, trie.read, trie.write, trie.decoded);
  return { stateRoot, accounts, nodes };
}
