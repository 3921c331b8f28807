/**
 * The worker side of a job's state: the VM runs on a FlatStateManager overlay in the worker
 * (writes, undo journal, fresh copies for each run of an estimate: no messages), over a
 * store whose reads of the job's snapshot are messages to the main thread. The snapshot
 * never changes during a job, so each account, slot and code is asked for once per job.
 */
import { Account, createAccountFromRLP } from "@ethereumjs/util";
import { hexKey } from "@meridian/primitives";
import { FlatStateStore } from "@meridian/state";
import type { ChainDatabase } from "@meridian/storage";
import type { Prefetched, StateOp, StateValue, WireAccount } from "./protocol.ts";

export type StateRequester = (req: StateOp) => Promise<StateValue>;

export function toWireAccount(a: Account | undefined): WireAccount {
  return a ? [a.nonce, a.balance, a.storageRoot, a.codeHash] : null;
}

export function fromWireAccount(w: WireAccount): Account | undefined {
  return w ? new Account(w[0], w[1], w[2], w[3]) : undefined;
}

/**
 * Calls and traces never compute a state root or write a batch, the only uses
 * FlatStateManager makes of the store's database; a worker has none to give.
 */
const NO_DATABASE = undefined as unknown as ChainDatabase;

/** Contract codes a worker keeps between jobs (the pool does not send them again). */
export const WORKER_CODE_CACHE = 256;

/**
 * Code by hash, kept across a worker's jobs, least recently used dropped first. Code is
 * content-addressed, so an entry is never stale; and one code object per contract lets the
 * EVM's jump analysis be reused (see jump-analysis.ts).
 */
export class CodeCache {
  private readonly byHash = new Map<string, Uint8Array>();
  private readonly capacity: number;

  constructor(capacity = WORKER_CODE_CACHE) {
    this.capacity = capacity;
  }

  get(key: string): Uint8Array | undefined {
    const code = this.byHash.get(key);
    if (code !== undefined) {
      this.byHash.delete(key);
      this.byHash.set(key, code);
    }
    return code;
  }

  set(key: string, code: Uint8Array): void {
    this.byHash.delete(key);
    if (this.byHash.size >= this.capacity) this.byHash.delete(this.byHash.keys().next().value as string);
    this.byHash.set(key, code);
  }
}

export class RemoteStateStore extends FlatStateStore {
  private readonly ask: StateRequester;
  private readonly accountRlps = new Map<string, Uint8Array | null>();
  private readonly slotValues = new Map<string, Uint8Array>();
  private readonly codeByHash = new Map<string, Uint8Array | undefined>();
  private readonly codeCache: CodeCache | undefined;

  constructor(request: StateRequester, prefetched?: Prefetched, codeCache?: CodeCache) {
    super(NO_DATABASE);
    this.ask = request;
    this.codeCache = codeCache;
    if (!prefetched) return;
    for (const [address, rlp] of prefetched.accounts) this.accountRlps.set(hexKey(address), rlp);
    for (const [codeHash, code] of prefetched.code) {
      const key = hexKey(codeHash);
      this.codeByHash.set(key, code);
      if (code) codeCache?.set(key, code);
    }
    for (const [address, key, value] of prefetched.slots)
      this.slotValues.set(hexKey(address) + hexKey(key), value);
  }

  override async accountRlpAt(key: string, address: Uint8Array): Promise<Uint8Array | undefined> {
    let rlp = this.accountRlps.get(key);
    if (rlp === undefined) {
      const w = (await this.ask({ op: "account", address })) as WireAccount;
      rlp = fromWireAccount(w)?.serialize() ?? null;
      this.accountRlps.set(key, rlp);
    }
    return rlp ?? undefined;
  }

  override cachedAccountRlp(key: string): Uint8Array | null | undefined {
    return this.accountRlps.get(key);
  }

  override async getAccount(address: Uint8Array): Promise<Account | undefined> {
    const rlp = await this.accountRlpAt(hexKey(address), address);
    return rlp ? createAccountFromRLP(rlp) : undefined;
  }

  override async getStorage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    const k = hexKey(address) + hexKey(slot);
    let v = this.slotValues.get(k);
    if (v === undefined) {
      v = (await this.ask({ op: "storage", address, key: slot })) as Uint8Array;
      this.slotValues.set(k, v);
    }
    return v;
  }

  override async getCode(codeHash: Uint8Array): Promise<Uint8Array | undefined> {
    const k = hexKey(codeHash);
    if (this.codeByHash.has(k)) return this.codeByHash.get(k);
    let code = this.codeCache?.get(k);
    if (code === undefined) {
      code = (await this.ask({ op: "code", codeHash })) as Uint8Array | undefined;
      if (code) this.codeCache?.set(k, code);
    }
    this.codeByHash.set(k, code);
    return code;
  }
}
