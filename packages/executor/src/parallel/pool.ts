/**
 * A pool of warm worker threads. Each task goes to one worker; a task may ask
 * the main thread for missing values (`onFetch`) while it runs. A worker that
 * dies fails its tasks with WORKER_CRASHED and is replaced.
 */
import { Worker } from "node:worker_threads";
import { MeridianError } from "@meridian/primitives";
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
};

export class WorkerCrashedError extends MeridianError {
  override name = "WorkerCrashedError";
}

export class WorkerPool {
  readonly size: number;
  readonly init: WorkerInit;
  private readonly workers: (Worker | undefined)[] = [];
  private readonly ready: Promise<void>[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  /** Crashes seen so far (a crashed worker is replaced). */
  crashes = 0;
  backend: "native" | "noble" = "noble";

  constructor(size: number, init: WorkerInit) {
    this.size = Math.max(1, size);
    this.init = init;
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
      this.pending.delete(id);
      p.reject(
        new WorkerCrashedError(`parallel executor worker ${slot} died: ${why}`, { code: "WORKER_CRASHED" }),
      );
    }
    this.spawn(slot);
  }

  private onMessage(w: Worker, m: WorkerResponse): void {
    if (m.kind === "ready") return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "fetch") {
      const handler = p.onFetch;
      if (!handler) {
        w.postMessage({ kind: "fetched", fid: m.fid, values: [] } satisfies WorkerRequest);
        return;
      }
      handler(m.keys).then(
        (values) => w.postMessage({ kind: "fetched", fid: m.fid, values } satisfies WorkerRequest),
        (err: Error) => {
          this.pending.delete(m.id);
          p.reject(err);
        },
      );
      return;
    }
    this.pending.delete(m.id);
    if (m.kind === "failed")
      p.reject(new MeridianError(`worker task failed: ${m.message}`, { code: "WORKER_FAILED" }));
    else if (m.kind === "exec-done") p.resolve(m.results);
    else if (m.kind === "root-done") p.resolve(m.root);
    else p.resolve(m.result);
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
      const w = this.workers[s];
      if (!w) {
        this.pending.delete(id);
        reject(
          new WorkerCrashedError(`parallel executor worker ${s} is not running`, { code: "WORKER_CRASHED" }),
        );
        return;
      }
      w.postMessage(build(id), transfer);
    });
  }

  exec(slot: number, req: BatchRequest, onFetch?: FetchHandler): Promise<TxResult[]> {
    return this.submit(slot, (id) => ({ kind: "exec", id, req }), onFetch);
  }

  shard(slot: number, task: ShardTask, onFetch: FetchHandler): Promise<ShardResult> {
    return this.submit(slot, (id) => ({ kind: "shard", id, task }), onFetch);
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
      this.pending.delete(id);
      p.reject(new MeridianError("worker pool closed", { code: "POOL_CLOSED" }));
    }
    await Promise.all(ws.map((w) => w?.terminate()));
  }
}
