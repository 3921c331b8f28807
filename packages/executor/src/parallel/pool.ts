/**
 * A pool of warm worker threads. Each task goes to one worker: a named one, or
 * for tasks that may run anywhere (state-root shards), the first worker with
 * nothing to do. A task may ask the main thread for missing values (`onFetch`)
 * while it runs. A worker that dies fails its tasks with WORKER_CRASHED and is
 * replaced.
 */
import { Worker } from "node:worker_threads";
import { KECCAK256_NULL, KECCAK256_RLP } from "@ethereumjs/util";
import { ByteArena, MeridianError } from "@meridian/primitives";
import type { ShardResult, ShardTask } from "@meridian/state";
import type { BatchRequest, TxResult } from "./exec-core.ts";
import type { WorkerInit, WorkerRequest, WorkerResponse } from "./protocol.ts";
import type { AccountValue } from "./tx-state.ts";

export type FetchHandler = (keys: string[]) => Promise<[string, AccountValue | Uint8Array | undefined][]>;

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onFetch: FetchHandler | undefined;
  slot: number;
  /** Failed here (its fetch failed) while its worker still runs it: the answer is dropped. */
  abandoned?: boolean;
};

/** A task for any worker, waiting for one to be idle. */
type Waiting = {
  build: (id: number) => WorkerRequest;
  onFetch: FetchHandler | undefined;
  transfer: ArrayBuffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
};

/**
 * Gives a batch its own copies of the bytes it carries (see ByteArena): transactions are views
 * into the proposal, and so are slot values the list wrote, so without this a batch's message
 * would copy the whole proposal. The empty-trie and empty-code constants stay shared.
 */
function ownBatchBytes(req: BatchRequest): void {
  let txBytes = 0;
  for (const t of req.txs) txBytes += t.rlp.length;
  // One chunk for the transactions, and room for the slot values and code most batches carry.
  const arena = new ByteArena(txBytes + 1024);
  for (const t of req.txs) t.rlp = arena.copy(t.rlp);
  const own = (v: AccountValue | Uint8Array): AccountValue | Uint8Array => {
    if (v instanceof Uint8Array) return arena.copy(v);
    if (v === null) return v;
    const plain = v.storageRoot === KECCAK256_RLP && v.codeHash === KECCAK256_NULL && v.code.length === 0;
    if (plain) return v;
    return {
      nonce: v.nonce,
      balance: v.balance,
      storageRoot: v.storageRoot === KECCAK256_RLP ? v.storageRoot : arena.copy(v.storageRoot),
      codeHash: v.codeHash === KECCAK256_NULL ? v.codeHash : arena.copy(v.codeHash),
      code: arena.copy(v.code),
    };
  };
  for (const [k, v] of req.pre) req.pre.set(k, own(v));
  if (req.coinbasePre) for (const [i, v] of req.coinbasePre) req.coinbasePre.set(i, own(v) as AccountValue);
  if (req.expected) req.expected.coinbase = own(req.expected.coinbase) as AccountValue;
}

/**
 * A copy of `task` whose bytes sit in one arena of its own (see ByteArena): a message copies
 * the whole buffer behind every byte view, so a task carried two or three buffers per account
 * (its key, its encoding, slot values that may be views into a whole proposal).
 */
function ownShardBytes(task: ShardTask): ShardTask {
  let size = task.baseRoot.length;
  for (const a of task.accounts) {
    size += a.key.length + (a.account?.length ?? 0);
    if (a.slots) for (const [, v] of a.slots) size += v.length;
  }
  const arena = new ByteArena(size);
  return {
    shard: task.shard,
    baseRoot: arena.copy(task.baseRoot),
    accounts: task.accounts.map((a) => ({
      addr: a.addr,
      key: arena.copy(a.key),
      account: a.account ? arena.copy(a.account) : a.account,
      wiped: a.wiped,
      slots: a.slots?.map(([slot, value]): [string, Uint8Array] => [slot, arena.copy(value)]),
    })),
  };
}

export class WorkerCrashedError extends MeridianError {
  override name = "WorkerCrashedError";
}

export class WorkerPool {
  readonly size: number;
  readonly init: WorkerInit;
  private readonly workers: (Worker | undefined)[] = [];
  private readonly ready: Promise<void>[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Unfinished tasks per worker. */
  private readonly load: number[];
  private readonly waiting: Waiting[] = [];
  private nextId = 0;
  private closed = false;
  /** Crashes seen so far (a crashed worker is replaced). */
  crashes = 0;
  backend: "native" | "noble" = "noble";

  constructor(size: number, init: WorkerInit) {
    this.size = Math.max(1, size);
    this.init = init;
    this.load = new Array<number>(this.size).fill(0);
    for (let i = 0; i < this.size; i++) this.spawn(i);
  }

  private spawn(slot: number): void {
    const w = new Worker(new URL("./worker.ts", import.meta.url), { workerData: this.init });
    w.unref();
    this.workers[slot] = w;
    this.ready[slot] = new Promise<void>((resolve, reject) => {
      const onMsg = (m: WorkerResponse) => {
        if (m.kind === "ready") {
          this.backend = m.backend;
          w.off("message", onMsg);
          resolve();
        }
      };
      w.on("message", onMsg);
      w.once("error", reject);
    });
    this.ready[slot]?.catch(() => {});
    w.on("message", (m: WorkerResponse) => this.onMessage(w, m));
    w.on("error", (err) => this.onExit(slot, w, err.message));
    w.on("exit", (code) => this.onExit(slot, w, `exit code ${code}`));
  }

  private onExit(slot: number, w: Worker, why: string): void {
    if (this.workers[slot] !== w) return;
    this.workers[slot] = undefined;
    if (this.closed) return;
    this.crashes++;
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.settled(id, p);
      p.reject(
        new WorkerCrashedError(`parallel executor worker ${slot} died: ${why}`, { code: "WORKER_CRASHED" }),
      );
    }
    this.spawn(slot);
    this.dispatchWaiting();
  }

  /** Forgets a finished task; its worker may then take a waiting one. */
  private settled(id: number, p: Pending): void {
    this.pending.delete(id);
    this.load[p.slot] = (this.load[p.slot] as number) - 1;
  }

  /** Hands waiting tasks to idle workers, lowest slot first. */
  private dispatchWaiting(): void {
    for (let s = 0; s < this.size && this.waiting.length > 0; s++) {
      if (this.load[s] !== 0 || !this.workers[s]) continue;
      const t = this.waiting.shift() as Waiting;
      this.submit(s, t.build, t.onFetch, t.transfer).then(t.resolve, t.reject);
    }
  }

  private onMessage(w: Worker, m: WorkerResponse): void {
    if (m.kind === "ready") return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "fetch") {
      const reply = (values: [string, AccountValue | Uint8Array | undefined][]) =>
        w.postMessage({ kind: "fetched", fid: m.fid, values } satisfies WorkerRequest);
      const handler = p.onFetch;
      if (!handler || p.abandoned) {
        reply([]);
        return;
      }
      handler(m.keys).then(reply, (err: Error) => {
        // The task fails now; its worker gets an empty answer so that it finishes and frees up.
        p.abandoned = true;
        p.reject(err);
        reply([]);
      });
      return;
    }
    this.settled(m.id, p);
    // A task that already failed here (its fetch failed) has nothing more to report.
    if (!p.abandoned) {
      if (m.kind === "failed")
        p.reject(new MeridianError(`worker task failed: ${m.message}`, { code: "WORKER_FAILED" }));
      else if (m.kind === "exec-done") p.resolve(m.results);
      else if (m.kind === "root-done") p.resolve(m.root);
      else if (m.kind === "hash-done") p.resolve(m.hash);
      else if (m.kind === "leaves-done") p.resolve(m.refs);
      else p.resolve(m.result);
    }
    this.dispatchWaiting();
  }

  async whenReady(): Promise<void> {
    await Promise.all(this.ready);
  }

  private submit<T>(
    slot: number,
    build: (id: number) => WorkerRequest,
    onFetch?: FetchHandler,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    if (this.closed)
      return Promise.reject(new MeridianError("worker pool is closed", { code: "POOL_CLOSED" }));
    const s = slot % this.size;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onFetch, slot: s });
      this.load[s] = (this.load[s] as number) + 1;
      const w = this.workers[s];
      if (!w) {
        this.settled(id, this.pending.get(id) as Pending);
        reject(
          new WorkerCrashedError(`parallel executor worker ${s} is not running`, { code: "WORKER_CRASHED" }),
        );
        return;
      }
      w.postMessage(build(id), transfer);
    });
  }

  exec(slot: number, req: BatchRequest, onFetch?: FetchHandler): Promise<TxResult[]> {
    ownBatchBytes(req);
    return this.submit(slot, (id) => ({ kind: "exec", id, req }), onFetch);
  }

  /**
   * A state-root shard on the first worker that is idle: a worker that finishes its
   * transaction batches early takes more shards, so no worker's queue decides the block's end.
   */
  shard(task: ShardTask, onFetch: FetchHandler): Promise<ShardResult> {
    const own = ownShardBytes(task);
    return this.submitToAny((id) => ({ kind: "shard", id, task: own }), onFetch);
  }

  /**
   * Receipts-trie leaf hashes of the batch whose receipts worker `slot` keeps under `key` (see
   * BatchRequest.receiptsKey): 32 bytes per receipt, in order. Fails when that worker does not
   * have them (it was replaced after a crash, or the batch ran elsewhere).
   */
  receiptLeaves(
    slot: number,
    key: number,
    count: number,
    first: number,
    gasBefore: bigint,
  ): Promise<Uint8Array> {
    return this.submit(slot, (id) => ({ kind: "receipt-leaves", id, key, count, first, gasBefore }));
  }

  /** keccak256 of `bytes` on the first idle worker; a copy of them travels (transferred). */
  keccak(bytes: Uint8Array): Promise<Uint8Array> {
    const copy = bytes.slice();
    return this.submitToAny((id) => ({ kind: "keccak", id, bytes: copy }), undefined, [copy.buffer]);
  }

  private submitToAny<T>(
    build: (id: number) => WorkerRequest,
    onFetch?: FetchHandler,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    if (this.closed)
      return Promise.reject(new MeridianError("worker pool is closed", { code: "POOL_CLOSED" }));
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ build, onFetch, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.dispatchWaiting();
    });
  }

  /** orderedTrieRoot of `values` on worker `slot`; the values travel packed in one transferred buffer. */
  orderedRoot(slot: number, values: Uint8Array[]): Promise<Uint8Array> {
    let total = 0;
    for (const v of values) total += v.length;
    const bytes = new Uint8Array(total);
    const ends = new Uint32Array(values.length);
    let at = 0;
    for (const [i, v] of values.entries()) {
      bytes.set(v, at);
      at += v.length;
      ends[i] = at;
    }
    return this.submit(slot, (id) => ({ kind: "root", id, bytes, ends }), undefined, [
      bytes.buffer,
      ends.buffer,
    ]);
  }

  /** Test hook: makes worker `slot` exit abruptly. */
  crash(slot: number): void {
    this.workers[slot % this.size]?.postMessage({ kind: "crash" } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    this.closed = true;
    const ws = this.workers.splice(0);
    for (const [id, p] of this.pending) {
      this.settled(id, p);
      p.reject(new MeridianError("worker pool closed", { code: "POOL_CLOSED" }));
    }
    for (const t of this.waiting.splice(0))
      t.reject(new MeridianError("worker pool closed", { code: "POOL_CLOSED" }));
    await Promise.all(ws.map((w) => w?.terminate()));
  }
}
