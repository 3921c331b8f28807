/**
 * The committed flat state at the head block: accounts, storage and code by
 * key, read from LevelDB with a bounded in-memory cache. Execution reads it;
 * it changes only when a block commits (`applyCommitted`).
 */
import { type Account, createAccountFromRLP } from "@ethereumjs/util";
import { hexKey } from "@meridian/primitives";
import type { ChainDatabase } from "@meridian/storage";

/** Bounded map that drops the oldest entries first; good enough for hot accounts. */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(k: string): V | undefined {
    return this.map.get(k);
  }
  has(k: string): boolean {
    return this.map.has(k);
  }
  set(k: string, v: V): void {
    if (this.map.size >= this.max && !this.map.has(k)) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(k, v);
  }
  delete(k: string): void {
    this.map.delete(k);
  }
  deletePrefix(prefix: string): void {
    for (const k of this.map.keys()) if (k.startsWith(prefix)) this.map.delete(k);
  }
}

export class FlatStateStore {
  private readonly accounts = new BoundedCache<Uint8Array | null>(100_000);
  private readonly slots = new BoundedCache<Uint8Array>(200_000);
  private readonly codes = new BoundedCache<Uint8Array>(2_000);

  readonly db: ChainDatabase;
  constructor(db: ChainDatabase) {
    this.db = db;
  }

  /** The account's RLP as stored; cached, including absence. */
  async accountRlp(address: Uint8Array): Promise<Uint8Array | undefined> {
    return this.accountRlpAt(hexKey(address), address);
  }

  /** accountRlp for a caller that has the address's key (its unprefixed hex) already. */
  async accountRlpAt(k: string, address: Uint8Array): Promise<Uint8Array | undefined> {
    const hit = this.accounts.get(k);
    if (hit !== undefined) return hit ?? undefined;
    const rlp = await this.db.account(address);
    this.accounts.set(k, rlp ?? null);
    return rlp;
  }

  /** The account's RLP if the cache has it (null: known to be absent); undefined when it does not. */
  cachedAccountRlp(k: string): Uint8Array | null | undefined {
    return this.accounts.get(k);
  }

  async getAccount(address: Uint8Array): Promise<Account | undefined> {
    const rlp = await this.accountRlp(address);
    return rlp ? createAccountFromRLP(rlp) : undefined;
  }

  /** Storage value without leading zeros; empty when unset. */
  async getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    const k = hexKey(address) + hexKey(slot);
    const hit = this.slots.get(k);
    if (hit !== undefined) return hit;
    const v = (await this.db.storage(address, slot)) ?? new Uint8Array(0);
    this.slots.set(k, v);
    return v;
  }

  async getCode(codeHash: Uint8Array): Promise<Uint8Array | undefined> {
    const k = hexKey(codeHash);
    const hit = this.codes.get(k);
    if (hit !== undefined) return hit;
    const code = await this.db.code(codeHash);
    if (code) this.codes.set(k, code);
    return code;
  }

  /** Called after a block's batch is on disk: keeps the cache equal to the database. */
  applyCommitted(diff: {
    accounts: Map<string, Uint8Array | null>;
    wiped: Set<string>;
    storage: Map<string, Map<string, Uint8Array>>;
  }): void {
    for (const addr of diff.wiped) this.slots.deletePrefix(addr);
    for (const [addr, rlp] of diff.accounts) this.accounts.set(addr, rlp);
    for (const [addr, slots] of diff.storage) {
      for (const [slot, value] of slots) this.slots.set(addr + slot, value);
    }
  }
}
