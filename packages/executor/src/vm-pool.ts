/**
 * Reusable VMs for eth_call / eth_estimateGas. Creating a VM costs ~3 ms
 * (EVM, precompiles, journal), far more than a typical call; a small pool of
 * VMs whose state manager is swapped per call removes that from the hot path.
 */
import type { AccountFields, Common, StateManagerInterface } from "@ethereumjs/common";
import type { EVMMockBlockchainInterface } from "@ethereumjs/evm";
import type { Account, Address } from "@ethereumjs/util";
import { createVM, type VM } from "@ethereumjs/vm";

/** Thrown when a call runs past its time limit (geth's wording). */
export class CallTimeoutError extends Error {
  readonly code = "EXECUTION_TIMEOUT";
}

/**
 * Forwards every call to `target`, which the pool points at the caller's state for one call.
 * The deadline is checked on every state access: the VM has no interrupt, and loops that
 * touch no state are bounded by the call's gas cap instead.
 */
export class DelegatingStateManager implements StateManagerInterface {
  target: StateManagerInterface;
  /** performance.now() after which state access throws; Infinity = no limit. */
  deadline = Number.POSITIVE_INFINITY;
  timeoutMs = 0;

  constructor(target: StateManagerInterface) {
    this.target = target;
  }

  private check(): void {
    if (performance.now() > this.deadline) {
      throw new CallTimeoutError(`execution aborted (timeout = ${this.timeoutMs / 1000}s)`);
    }
  }

  get originalStorageCache(): StateManagerInterface["originalStorageCache"] {
    return this.target.originalStorageCache;
  }
  getAccount(address: Address): Promise<Account | undefined> {
    this.check();
    return this.target.getAccount(address);
  }
  putAccount(address: Address, account?: Account): Promise<void> {
    this.check();
    return this.target.putAccount(address, account);
  }
  deleteAccount(address: Address): Promise<void> {
    return this.target.deleteAccount(address);
  }
  modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    return this.target.modifyAccountFields(address, fields);
  }
  putCode(address: Address, value: Uint8Array): Promise<void> {
    return this.target.putCode(address, value);
  }
  getCode(address: Address): Promise<Uint8Array> {
    this.check();
    return this.target.getCode(address);
  }
  getCodeSize(address: Address): Promise<number> {
    return this.target.getCodeSize(address);
  }
  getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    this.check();
    return this.target.getStorage(address, key);
  }
  putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    this.check();
    return this.target.putStorage(address, key, value);
  }
  clearStorage(address: Address): Promise<void> {
    return this.target.clearStorage(address);
  }
  checkpoint(): Promise<void> {
    return this.target.checkpoint();
  }
  commit(): Promise<void> {
    return this.target.commit();
  }
  revert(): Promise<void> {
    return this.target.revert();
  }
  getStateRoot(): Promise<Uint8Array> {
    return this.target.getStateRoot();
  }
  setStateRoot(root: Uint8Array, clearCache?: boolean): Promise<void> {
    return this.target.setStateRoot(root, clearCache);
  }
  hasStateRoot(root: Uint8Array): Promise<boolean> {
    return this.target.hasStateRoot(root);
  }
  clearCaches(): void {
    this.target.clearCaches();
  }
  shallowCopy(): StateManagerInterface {
    return this.target.shallowCopy();
  }
}

/** Canonical block hash by number for BLOCKHASH; undefined = no such block (BLOCKHASH yields zero). */
export type BlockHashLookup = (number: bigint) => Promise<Uint8Array | undefined>;

const ZERO_HASH = new Uint8Array(32);

/** The VM's BLOCKHASH source, pointed by the pool at the caller's lookup for one call. */
export class DelegatingBlockchain implements EVMMockBlockchainInterface {
  lookup: BlockHashLookup | undefined;

  async getBlock(n: number): Promise<{ hash(): Uint8Array }> {
    const hash = (await this.lookup?.(BigInt(n))) ?? ZERO_HASH;
    return { hash: () => hash };
  }
  async putBlock(): Promise<void> {}
  shallowCopy(): EVMMockBlockchainInterface {
    return this;
  }
}

type PooledVm = { vm: VM; state: DelegatingStateManager; chain: DelegatingBlockchain };

export class VmPool {
  private readonly idle: PooledVm[] = [];
  private readonly common: Common;
  private readonly maxIdle: number;

  constructor(common: Common, maxIdle = 8) {
    this.common = common;
    this.maxIdle = maxIdle;
  }

  /** Runs `fn` with a VM executing against `state`; the VM returns to the pool afterwards. */
  async with<T>(
    state: StateManagerInterface,
    fn: (vm: VM) => Promise<T>,
    timeoutMs = 0,
    blockHash?: BlockHashLookup,
  ): Promise<T> {
    let entry = this.idle.pop();
    if (!entry) {
      const delegate = new DelegatingStateManager(state);
      const chain = new DelegatingBlockchain();
      const vm = await createVM({ common: this.common.copy(), stateManager: delegate, blockchain: chain });
      entry = { vm, state: delegate, chain };
    }
    entry.state.target = state;
    entry.chain.lookup = blockHash;
    entry.state.timeoutMs = timeoutMs;
    entry.state.deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
    // A VM whose call threw may hold a half-unwound journal: it is dropped, not reused.
    const result = await fn(entry.vm);
    if (this.idle.length < this.maxIdle) this.idle.push(entry);
    return result;
  }
}
