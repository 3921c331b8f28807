/**
 * TxStateManager: the in-memory StateManagerInterface a worker (or the
 * builder's main thread) executes transactions against. It starts from a
 * pre-state map (exactly the keys the transactions read), keeps the writes of
 * earlier transactions of the same batch, journals EVM checkpoints, and for
 * every transaction reports what it read (with the value it saw at the start
 * of the transaction) and the canonical writes it left behind.
 *
 * The fee recipient is special: when the VM credits the priority fee after
 * execution and the transaction never read the fee recipient itself, the
 * credit is kept as a delta (`coinbaseDelta`), not as a read + write, so that
 * fee payment does not make every transaction depend on the previous one.
 */
import type { AccountFields, StateManagerInterface } from "@ethereumjs/common";
import { Account, type Address, KECCAK256_NULL, KECCAK256_RLP, unpadBytes } from "@ethereumjs/util";
import { equalBytes, hexKey as hex, keccak256, MeridianError } from "@meridian/primitives";
import { OverlayChanges } from "@meridian/state";
import type { AccountWrite, SlotWrite } from "./access-list.ts";
import { compareBytes } from "./access-list.ts";

/** One account as a transaction sees it; null = does not exist. */
export type AccountValue = {
  nonce: bigint;
  balance: bigint;
  storageRoot: Uint8Array;
  codeHash: Uint8Array;
  code: Uint8Array;
} | null;

/** Keys: `a<addr hex>` for an account, `s<addr hex><slot hex>` for a slot. */
export type PreState = Map<string, AccountValue | Uint8Array>;

export { hex };
export const accountKey = (addrHex: string): string => `a${addrHex}`;
export const slotKey = (addrHex: string, slotHex: string): string => `s${addrHex}${slotHex}`;

const EMPTY = new Uint8Array(0);
/** Balance the fee recipient shows while its real balance is unknown (delta mode). */
const PLACEHOLDER_BALANCE = 1n << 200n;

export class MissingReadError extends MeridianError {
  override name = "MissingReadError";
  readonly key: string;
  constructor(key: string) {
    super(`execution read ${key} which the access list does not provide`, { code: "BAL_MISSING_READ" });
    this.key = key;
  }
}

export function accountValueOf(a: Account | undefined, code: Uint8Array): AccountValue {
  if (!a) return null;
  return { nonce: a.nonce, balance: a.balance, storageRoot: a.storageRoot, codeHash: a.codeHash, code };
}

export function isEmptyAccount(v: AccountValue): boolean {
  return v !== null && v.nonce === 0n && v.balance === 0n && v.code.length === 0;
}

/** The canonical write for an account going from `pre` to `post` (undefined: no change). */
export function accountWrite(
  address: Uint8Array,
  pre: AccountValue,
  post: AccountValue,
  cleared: boolean,
  storage: SlotWrite[],
): AccountWrite | undefined {
  if (post === null) return pre === null ? undefined : { address, destroyed: true, storage: [] };
  const w: AccountWrite = { address, storage };
  if (pre === null) {
    w.nonce = post.nonce;
    if (post.balance !== 0n) w.balance = post.balance;
    if (post.code.length > 0) w.code = post.code;
  } else {
    if (post.nonce !== pre.nonce) w.nonce = post.nonce;
    if (post.balance !== pre.balance) w.balance = post.balance;
    if (!equalBytes(post.codeHash, pre.codeHash)) w.code = post.code;
  }
  if (cleared) w.storageCleared = true;
  const changed =
    w.nonce !== undefined || w.balance !== undefined || w.code !== undefined || cleared || storage.length > 0;
  return changed ? w : undefined;
}

/** Applies one write to an account value (the same rules FlatStateManager follows). */
export function applyAccountWrite(pre: AccountValue, w: AccountWrite): AccountValue {
  if (w.destroyed) return null;
  const v: NonNullable<AccountValue> = pre
    ? { ...pre }
    : { nonce: 0n, balance: 0n, storageRoot: KECCAK256_RLP, codeHash: KECCAK256_NULL, code: EMPTY };
  if (w.balance !== undefined) v.balance = w.balance;
  if (w.nonce !== undefined) v.nonce = w.nonce;
  if (w.code !== undefined) {
    v.code = w.code;
    v.codeHash = w.code.length > 0 ? keccak256(w.code) : KECCAK256_NULL;
  }
  return v;
}

/** The fee recipient's write when a transaction only credited it a fee `delta`. */
export function foldCoinbaseDelta(
  address: Uint8Array,
  pre: AccountValue,
  delta: bigint,
): AccountWrite | undefined {
  if (pre === null) {
    // Touched and still empty: removed at the end of the transaction (EIP-161), so nothing changes.
    return delta === 0n ? undefined : { address, nonce: 0n, balance: delta, storage: [] };
  }
  if (delta === 0n) return isEmptyAccount(pre) ? { address, destroyed: true, storage: [] } : undefined;
  return { address, balance: pre.balance + delta, storage: [] };
}

export type TxOutcome = {
  /** Keys read, with the value each had when the transaction started. */
  reads: Map<string, AccountValue | Uint8Array>;
  writes: AccountWrite[];
  /** Fee credited to the coinbase in delta mode (undefined: coinbase handled as a normal account). */
  coinbaseDelta: bigint | undefined;
};

export type Fetcher = (keys: string[]) => Promise<void>;

export class TxStateManager implements StateManagerInterface {
  /** Values before the batch; in fetch mode, misses are loaded through `fetcher`. */
  base: PreState = new Map();
  fetcher: Fetcher | undefined;
  coinbase = "";
  /** Set by the executor once the EVM call of the transaction returned (fee payment and cleanup follow). */
  postPhase = false;

  private committedAccounts = new Map<string, AccountValue>();
  private committedSlots = new Map<string, Map<string, Uint8Array>>();
  private committedWiped = new Set<string>();

  /** The current transaction's changes. */
  private changes = new OverlayChanges<AccountValue>();
  private delta: bigint | undefined;
  private reads = new Map<string, AccountValue | Uint8Array>();

  readonly originalStorageCache = {
    /** EIP-2200 original value: the slot as the transaction found it, not as it left it so far. */
    get: async (address: Address, key: Uint8Array): Promise<Uint8Array> => {
      const addr = hex(address.bytes);
      const slot = hex(key);
      await this.readSlot(addr, slot);
      return this.reads.get(slotKey(addr, slot)) as Uint8Array;
    },
    clear: (): void => {},
  };

  /** Starts a new batch over `base`. */
  resetBatch(base: PreState, coinbase: string, fetcher?: Fetcher): void {
    this.base = base;
    this.coinbase = coinbase;
    this.fetcher = fetcher;
    this.committedAccounts = new Map();
    this.committedSlots = new Map();
    this.committedWiped = new Set();
    this.beginTx();
  }

  /** Overrides the batch view of one account for the next transaction (the fee recipient, from the list). */
  setCommittedAccount(addr: string, value: AccountValue): void {
    this.committedAccounts.set(addr, value);
  }

  beginTx(): void {
    this.changes = new OverlayChanges();
    this.delta = undefined;
    this.reads = new Map();
    this.postPhase = false;
  }

  // --- pre-tx values --------------------------------------------------------------

  private async baseValue(key: string): Promise<AccountValue | Uint8Array> {
    let v = this.base.get(key);
    if (v === undefined && this.fetcher && !this.base.has(key)) {
      await this.fetcher([key]);
      v = this.base.get(key);
    }
    if (v === undefined && !this.base.has(key)) throw new MissingReadError(key);
    return v as AccountValue | Uint8Array;
  }

  private async preAccount(addr: string): Promise<AccountValue> {
    const c = this.committedAccounts.get(addr);
    if (c !== undefined || this.committedAccounts.has(addr)) return c as AccountValue;
    return (await this.baseValue(accountKey(addr))) as AccountValue;
  }

  private async preSlot(addr: string, slot: string): Promise<Uint8Array> {
    const c = this.committedSlots.get(addr)?.get(slot);
    if (c !== undefined) return c;
    if (this.committedWiped.has(addr)) return EMPTY;
    return (await this.baseValue(slotKey(addr, slot))) as Uint8Array;
  }

  private async readAccount(addr: string): Promise<AccountValue> {
    const key = accountKey(addr);
    if (!this.reads.has(key)) this.reads.set(key, await this.preAccount(addr));
    const cur = this.changes.accounts.get(addr);
    if (cur !== undefined || this.changes.accounts.has(addr)) return cur as AccountValue;
    return this.reads.get(key) as AccountValue;
  }

  private async readSlot(addr: string, slot: string): Promise<Uint8Array> {
    const key = slotKey(addr, slot);
    if (!this.reads.has(key)) this.reads.set(key, await this.preSlot(addr, slot));
    const cur = this.changes.slots.get(addr)?.get(slot);
    if (cur !== undefined) return cur;
    if (this.changes.wiped.has(addr)) return EMPTY;
    return this.reads.get(key) as Uint8Array;
  }

  private inDeltaMode(addr: string): boolean {
    if (addr !== this.coinbase) return false;
    if (this.delta !== undefined) return true;
    return this.postPhase && !this.reads.has(accountKey(addr)) && !this.changes.accounts.has(addr);
  }

  // --- accounts ---------------------------------------------------------------------

  async getAccount(address: Address): Promise<Account | undefined> {
    const addr = hex(address.bytes);
    if (this.inDeltaMode(addr)) {
      return new Account(0n, PLACEHOLDER_BALANCE + (this.delta ?? 0n), KECCAK256_RLP, KECCAK256_NULL);
    }
    const v = await this.readAccount(addr);
    return v === null ? undefined : new Account(v.nonce, v.balance, v.storageRoot, v.codeHash);
  }

  private setAccount(addr: string, value: AccountValue): void {
    this.changes.setAccount(addr, value);
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    if (account === undefined) return this.deleteAccount(address);
    const addr = hex(address.bytes);
    if (this.inDeltaMode(addr)) {
      if (account.nonce !== 0n || !equalBytes(account.codeHash, KECCAK256_NULL))
        throw new MeridianError("fee recipient changed beyond its balance in delta mode", {
          code: "BAL_DELTA",
        });
      const prev = this.delta;
      this.changes.onRevert(() => {
        this.delta = prev;
      });
      this.delta = account.balance - PLACEHOLDER_BALANCE;
      return;
    }
    const cur = await this.readAccount(addr);
    let code = cur?.code ?? EMPTY;
    if (cur === null || !equalBytes(cur.codeHash, account.codeHash)) {
      // Only putCode changes code; an account put with another code hash means "no code" here.
      code = equalBytes(account.codeHash, KECCAK256_NULL) ? EMPTY : code;
    }
    this.setAccount(addr, {
      nonce: account.nonce,
      balance: account.balance,
      storageRoot: account.storageRoot,
      codeHash: account.codeHash,
      code,
    });
  }

  async deleteAccount(address: Address): Promise<void> {
    const addr = hex(address.bytes);
    if (this.inDeltaMode(addr))
      throw new MeridianError("fee recipient deleted in delta mode", { code: "BAL_DELTA" });
    await this.readAccount(addr);
    this.setAccount(addr, null);
    this.changes.wipe(addr);
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account();
    if (fields.nonce !== undefined) account.nonce = fields.nonce;
    if (fields.balance !== undefined) account.balance = fields.balance;
    if (fields.codeHash !== undefined) account.codeHash = fields.codeHash;
    if (fields.storageRoot !== undefined) account.storageRoot = fields.storageRoot;
    await this.putAccount(address, account);
  }

  // --- code -------------------------------------------------------------------------

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const addr = hex(address.bytes);
    const cur = await this.readAccount(addr);
    const base = cur ?? {
      nonce: 0n,
      balance: 0n,
      storageRoot: KECCAK256_RLP,
      codeHash: KECCAK256_NULL,
      code: EMPTY,
    };
    this.setAccount(addr, {
      ...base,
      code: value,
      codeHash: value.length > 0 ? keccak256(value) : KECCAK256_NULL,
    });
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const addr = hex(address.bytes);
    if (this.inDeltaMode(addr)) return EMPTY;
    return (await this.readAccount(addr))?.code ?? EMPTY;
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length;
  }

  // --- storage ----------------------------------------------------------------------

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    if (key.length !== 32)
      throw new MeridianError("storage key must be 32 bytes", { code: "INVALID_STORAGE_KEY" });
    return this.readSlot(hex(address.bytes), hex(key));
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (key.length !== 32)
      throw new MeridianError("storage key must be 32 bytes", { code: "INVALID_STORAGE_KEY" });
    const addr = hex(address.bytes);
    this.changes.setSlot(addr, hex(key), unpadBytes(value));
  }

  async clearStorage(address: Address): Promise<void> {
    const addr = hex(address.bytes);
    if ((await this.readAccount(addr)) === null) {
      this.setAccount(addr, {
        nonce: 0n,
        balance: 0n,
        storageRoot: KECCAK256_RLP,
        codeHash: KECCAK256_NULL,
        code: EMPTY,
      });
    }
    this.changes.wipe(addr);
  }

  // --- checkpoints ------------------------------------------------------------------

  async checkpoint(): Promise<void> {
    this.changes.checkpoint();
  }

  async commit(): Promise<void> {
    this.changes.commit();
  }

  async revert(): Promise<void> {
    this.changes.revert();
  }

  // --- transaction boundary ---------------------------------------------------------

  /** Ends the transaction: computes its canonical writes and folds them into the batch view. */
  endTx(): TxOutcome {
    const { accounts, slots, wiped } = this.changes;
    const addrs = new Set<string>([...accounts.keys(), ...slots.keys(), ...wiped]);
    const writes: AccountWrite[] = [];
    for (const addr of addrs) {
      const address = Buffer.from(addr, "hex");
      const cleared = wiped.has(addr);
      const slotWrites: SlotWrite[] = [];
      const m = slots.get(addr);
      if (m) {
        for (const [slot, value] of m) {
          if (cleared) {
            if (value.length > 0) slotWrites.push({ slot: Buffer.from(slot, "hex"), value });
          } else {
            const pre = this.reads.get(slotKey(addr, slot)) as Uint8Array | undefined;
            if (pre === undefined || !equalBytes(pre, value))
              slotWrites.push({ slot: Buffer.from(slot, "hex"), value });
          }
        }
        slotWrites.sort((x, y) => compareBytes(x.slot, y.slot));
      }
      const key = accountKey(addr);
      let w: AccountWrite | undefined;
      let post: AccountValue | undefined;
      if (this.reads.has(key)) {
        const pre = this.reads.get(key) as AccountValue;
        post = accounts.has(addr) ? (accounts.get(addr) as AccountValue) : pre;
        w = accountWrite(address, pre, post, post !== null && cleared, post === null ? [] : slotWrites);
      } else {
        if (cleared || accounts.has(addr))
          throw new MeridianError(`account ${addr} written without being read`, { code: "BAL_INTERNAL" });
        if (slotWrites.length > 0) w = { address, storage: slotWrites };
      }
      if (w) writes.push(w);
      // Fold into the batch view.
      if (accounts.has(addr)) this.committedAccounts.set(addr, post as AccountValue);
      if (cleared) {
        this.committedWiped.add(addr);
        this.committedSlots.delete(addr);
      }
      if (m && post !== null) {
        let c = this.committedSlots.get(addr);
        if (!c) {
          c = new Map();
          this.committedSlots.set(addr, c);
        }
        for (const [slot, value] of m) c.set(slot, value);
      }
    }
    writes.sort((x, y) => compareBytes(x.address, y.address));
    const out: TxOutcome = { reads: this.reads, writes, coinbaseDelta: this.delta };
    this.beginTx();
    return out;
  }

  /** Ends a transaction that failed validation: nothing is kept, the reads are returned. */
  abortTx(): TxOutcome {
    const out: TxOutcome = { reads: this.reads, writes: [], coinbaseDelta: undefined };
    this.beginTx();
    return out;
  }

  // --- unused parts of the interface --------------------------------------------------

  async getStateRoot(): Promise<Uint8Array> {
    throw new MeridianError("TxStateManager has no state root", { code: "UNSUPPORTED" });
  }
  async setStateRoot(): Promise<void> {}
  async hasStateRoot(): Promise<boolean> {
    return false;
  }
  clearCaches(): void {}
  shallowCopy(): StateManagerInterface {
    return new TxStateManager();
  }
}
