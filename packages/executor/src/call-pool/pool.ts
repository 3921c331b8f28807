/**
 * The RPC execution pool: eth_call, eth_estimateGas, eth_createAccessList and
 * debug_traceTransaction run on worker threads, each with a warm VM, so the main thread
 * (block production, every other RPC) never runs the EVM for them. Jobs queue and up to one
 * per worker runs at once. Each job has a hard deadline kept here: a worker still running
 * at the deadline is terminated (precompiles and tight loops included) and replaced, and the
 * job fails with the caller's timeout error. Workers read state through messages answered
 * from the job's snapshot and keep the job's writes themselves (see remote-state.ts).
 */
import { Worker } from "node:worker_threads";
import { type Account, Address, equalsBytes, KECCAK256_NULL } from "@ethereumjs/util";
import { hexKey, MeridianError, rlpDecode } from "@meridian/primitives";
import type { ForkActivation } from "../genesis.ts";
import type {
  CallJob,
  CallWorkerInit,
  FromWorker,
  Prefetched,
  StateOp,
  StateValue,
  ToWorker,
  WireAccount,
} from "./protocol.ts";
import { toWireAccount, WORKER_CODE_CACHE } from "./remote-state.ts";

export type CallPoolOptions = {
  /** Worker threads, at least 1. */
  workers: number;
  chainId: bigint;
  /** The genesis fork; with `schedule`, the forks later blocks run (by timestamp). */
  hardfork: string;
  schedule?: ForkActivation[];
  /** Heap limit of one worker; a job that passes it fails instead of taking the node down. */
  maxWorkerHeapMb?: number;
};

/** The reads a job's snapshot answers (FlatStateManager has them). */
export type JobState = {
  getAccount(address: Address): Promise<Account | undefined>;
  getStorage(address: Address, key: Uint8Array): Promise<Uint8Array>;
  codeByHash(codeHash: Uint8Array): Promise<Uint8Array>;
};

/** Where a job's state and block hashes come from (main thread). */
export type JobContext = {
  /** The snapshot the job reads (with the request's overrides applied); opened once per job. */
  state: () => Promise<JobState>;
  /** Canonical block hash by number, for BLOCKHASH. */
  blockHash: (number: bigint) => Promise<Uint8Array | undefined>;
};

export type SubmitOptions = {
  /** Hard deadline from submission (queueing included), in ms. */
  timeoutMs: number;
  /** The error a job that reaches its deadline fails with. */
  onTimeout: () => Error;
};

export class CallPoolError extends MeridianError {
  override name = "CallPoolError";
}

type Task = {
  id: number;
  job: CallJob;
  ctx: JobContext;
  state: JobState | undefined;
  /** State reads of the job, one after the other. */
  serving: Promise<void>;
  /** The reads sent with the job, started at submission so they overlap its wait in the queue. */
  prefetched: Promise<Prefetched | undefined>;
  /** The job has been sent to its worker (a deadline before that needs no termination). */
  posted: boolean;
  /** Storage slots the worker asked for, as [address, key] (see `slotsByCallee`). */
  slotReads: [Uint8Array, Uint8Array][];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  slot: number | undefined;
};

type Slot = {
  worker: Worker;
  /** Loaded and not being replaced: may take a job. */
  ready: boolean;
  /** Has loaded once. */
  loaded: boolean;
  task: Task | undefined;
  started: Promise<void>;
  /** Code hashes (hex) this worker was sent and keeps (see WORKER_CODE_CACHE): not sent again. */
  sentCode: Set<string>;
};

/** Workers that exit before loading, in a row, after which the pool gives up. */
const MAX_LOAD_FAILURES = 3;

const DEFAULT_WORKER_HEAP_MB = 1024;

/** A copy of `b` with its own buffer: posting a view would copy the whole buffer behind it. */
const own = (b: Uint8Array): Uint8Array => new Uint8Array(b);

const ZERO_ADDRESS = new Uint8Array(20);

/** Slots remembered per callee, and callees remembered (oldest forgotten first). */
const MAX_REMEMBERED_SLOTS = 16;
const MAX_REMEMBERED_CALLEES = 1024;

const calleeKey = (to: Uint8Array): string =>
  Buffer.from(to.buffer, to.byteOffset, to.byteLength).toString("hex");

const wireCopy = (w: WireAccount): WireAccount => w && [w[0], w[1], own(w[2]), own(w[3])];

/**
 * `prefetched` less the code this worker was already sent (it keeps code by hash, and asks
 * for any it has dropped since); what is sent now is recorded as sent.
 */
function withoutSentCode(prefetched: Prefetched, sent: Set<string>): Prefetched {
  const code = prefetched.code.filter(([hash]) => {
    const key = hexKey(hash);
    if (sent.has(key)) return false;
    if (sent.size >= WORKER_CODE_CACHE) sent.delete(sent.values().next().value as string);
    sent.add(key);
    return true;
  });
  return code.length === prefetched.code.length ? prefetched : { ...prefetched, code };
}

/** Header field 2 of a header's RLP: the coinbase, which every transaction run reads. */
function coinbaseOf(headerRlp: Uint8Array): Uint8Array | undefined {
  const fields = rlpDecode(headerRlp);
  const coinbase = Array.isArray(fields) ? fields[2] : undefined;
  return coinbase instanceof Uint8Array && coinbase.length === 20 ? coinbase : undefined;
}

export class CallPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private readonly init: CallWorkerInit;
  private readonly heapMb: number;
  private nextId = 0;
  private closed = false;
  private loadFailures = 0;
  private broken: CallPoolError | undefined;
  /**
   * Storage slots the last call to each contract read. The next call to it gets their values
   * with the job (read from its own snapshot, so always right for it; a slot it does not need
   * costs one read here): repeated calls (a token's balanceOf, a price feed) then make no round trip.
   */
  private readonly slotsByCallee = new Map<string, [Uint8Array, Uint8Array][]>();
  /** Workers terminated at a deadline or lost to a crash, and replaced (counted once they exited). */
  replaced = 0;

  constructor(opts: CallPoolOptions) {
    this.init = { chainId: Number(opts.chainId), hardfork: opts.hardfork, schedule: opts.schedule ?? [] };
    this.heapMb = opts.maxWorkerHeapMb ?? DEFAULT_WORKER_HEAP_MB;
    const n = Math.max(1, opts.workers);
    for (let i = 0; i < n; i++) this.slots.push(this.spawn(i));
  }

  get size(): number {
    return this.slots.length;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Jobs running on a worker now. */
  get running(): number {
    return this.slots.filter((s) => s.task !== undefined).length;
  }

  private spawn(index: number): Slot {
    const worker = new Worker(new URL("./worker-entry.ts", import.meta.url), {
      workerData: this.init,
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    worker.unref();
    let started = () => {};
    const slot: Slot = {
      worker,
      ready: false,
      loaded: false,
      task: undefined,
      sentCode: new Set(),
      started: new Promise<void>((resolve) => {
        started = resolve;
      }),
    };
    worker.on("message", (m: FromWorker) => {
      if (m.kind === "ready") started();
      this.onMessage(slot, m);
    });
    worker.once("exit", () => started());
    // An error event is followed by exit; the exit handler replaces the worker.
    worker.on("error", (err) => {
      const task = slot.task;
      if (task) {
        const oom = (err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY";
        this.finish(
          task,
          new CallPoolError(
            oom ? "execution aborted (out of memory)" : `execution aborted (${err.message})`,
            {
              code: oom ? "EXECUTION_OUT_OF_MEMORY" : "WORKER_CRASHED",
              cause: err,
            },
          ),
        );
      }
    });
    worker.on("exit", () => this.onExit(index, slot));
    return slot;
  }

  private onExit(index: number, slot: Slot): void {
    if (this.slots[index] !== slot) return;
    const task = slot.task;
    if (task)
      this.finish(task, new CallPoolError("execution aborted (worker exited)", { code: "WORKER_CRASHED" }));
    if (this.closed) return;
    this.loadFailures = slot.loaded ? 0 : this.loadFailures + 1;
    if (this.loadFailures >= MAX_LOAD_FAILURES) {
      // A worker that cannot load will not load on the next try either: stop, fail what waits.
      this.broken = new CallPoolError("execution workers fail to start", { code: "POOL_BROKEN" });
      for (const t of this.queue.splice(0)) this.finish(t, this.broken);
      return;
    }
    this.replaced++;
    this.slots[index] = this.spawn(index);
  }

  /**
   * Resolves once every worker has loaded (a cold worker takes a second or more, which
   * would count against the first requests' deadlines).
   */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.started));
    // A slot whose worker is being replaced is not ready until the new one has loaded.
    while (!this.closed && !this.broken && this.slots.some((s) => !s.ready))
      await new Promise((r) => setTimeout(r, 10));
    if (this.broken) throw this.broken;
  }

  /** Runs `job` on a worker; its state and block hashes come from `ctx`. */
  submit(job: CallJob, ctx: JobContext, opts: SubmitOptions): Promise<unknown> {
    if (this.closed)
      return Promise.reject(new CallPoolError("execution pool closed", { code: "POOL_CLOSED" }));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      const task: Task = {
        id: this.nextId++,
        job,
        ctx,
        state: undefined,
        serving: Promise.resolve(),
        prefetched: Promise.resolve(undefined),
        posted: false,
        slotReads: [],
        resolve,
        reject,
        slot: undefined,
        timer: setTimeout(() => this.onDeadline(task, opts.onTimeout()), opts.timeoutMs),
      };
      const prefetched = this.prefetch(task);
      task.prefetched = prefetched;
      task.serving = prefetched.then(() => {});
      this.queue.push(task);
      this.dispatch();
    });
  }

  /**
   * Reads every call makes (caller, callee and its code, coinbase), sent with the job instead
   * of asked for one round trip at a time. A read that fails is left for the worker to ask,
   * which then gets the error as before.
   */
  private async prefetch(task: Task): Promise<Prefetched | undefined> {
    const job = task.job;
    if (job.kind === "trace") return undefined;
    try {
      task.state ??= await task.ctx.state();
      const state = task.state;
      const addresses = [job.input.from ?? ZERO_ADDRESS];
      if (job.input.to) addresses.push(job.input.to);
      const coinbase = coinbaseOf(job.header.rlp);
      if (coinbase) addresses.push(coinbase);
      const out: Prefetched = { accounts: [], code: [], slots: [] };
      let callee: Account | undefined;
      for (const address of addresses) {
        const account = await state.getAccount(new Address(address));
        if (address === job.input.to) callee = account;
        out.accounts.push([own(address), account?.serialize() ?? null]);
      }
      if (callee && !equalsBytes(callee.codeHash, KECCAK256_NULL))
        out.code.push([own(callee.codeHash), own(await state.codeByHash(callee.codeHash))]);
      const remembered =
        job.kind !== "traceCall" && job.input.to && this.slotsByCallee.get(calleeKey(job.input.to));
      for (const [address, key] of remembered || [])
        out.slots.push([address, key, own(await state.getStorage(new Address(address), key))]);
      return out;
    } catch {
      return undefined;
    }
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.task) continue;
      const task = this.queue.shift() as Task;
      task.slot = this.slots.indexOf(slot);
      slot.task = task;
      void task.prefetched.then((prefetched) => {
        if (slot.task !== task) return;
        task.posted = true;
        slot.worker.postMessage({
          kind: "job",
          id: task.id,
          job: task.job,
          prefetched: prefetched && withoutSentCode(prefetched, slot.sentCode),
        } satisfies ToWorker);
      });
    }
  }

  private onDeadline(task: Task, err: Error): void {
    if (task.slot === undefined) {
      const i = this.queue.indexOf(task);
      if (i >= 0) this.queue.splice(i, 1);
      this.finish(task, err);
      return;
    }
    const slot = this.slots[task.slot];
    this.finish(task, err);
    // The only way to stop a VM mid-opcode (a long precompile, a tight loop): end its thread.
    // The replacement starts once it has exited (onExit): starting one while the old isolate
    // is torn down stalled the main thread for 200 ms and more.
    if (slot && slot.task === undefined) {
      if (!task.posted) {
        // Still waiting for its reads: the worker never saw it and takes the next job.
        this.dispatch();
        return;
      }
      slot.ready = false;
      void slot.worker.terminate();
    }
  }

  /** Settles `task` once; frees its worker slot (if it still has it). */
  private finish(task: Task, err: Error | undefined, result?: unknown): void {
    clearTimeout(task.timer);
    if (!err) this.rememberSlots(task);
    if (task.slot !== undefined) {
      const slot = this.slots[task.slot];
      if (slot?.task === task) slot.task = undefined;
    }
    const { resolve, reject } = task;
    // Settled once: a deadline that fires after the result (or the reverse) changes nothing.
    task.resolve = () => {};
    task.reject = () => {};
    if (err) reject(err);
    else resolve(result);
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.kind === "ready") {
      slot.ready = true;
      slot.loaded = true;
      this.dispatch();
      return;
    }
    const task = slot.task;
    if (!task || task.id !== m.id) return;
    if (m.kind === "state") {
      task.serving = task.serving.then(() => this.serve(slot, task, m.sid, m.req));
      return;
    }
    if (m.kind === "done") this.finish(task, undefined, m.result);
    else
      this.finish(
        task,
        new CallPoolError(m.message, {
          code: m.code ?? "EXECUTION_FAILED",
          details: typeof m.details === "string" ? m.details : undefined,
        }),
      );
    this.dispatch();
  }

  private rememberSlots(task: Task): void {
    const job = task.job;
    if (job.kind === "trace" || job.kind === "traceCall" || !job.input.to || task.slotReads.length === 0)
      return;
    const key = calleeKey(job.input.to);
    this.slotsByCallee.delete(key);
    if (this.slotsByCallee.size >= MAX_REMEMBERED_CALLEES)
      this.slotsByCallee.delete(this.slotsByCallee.keys().next().value as string);
    this.slotsByCallee.set(key, task.slotReads);
  }

  private async serve(slot: Slot, task: Task, sid: number, req: StateOp): Promise<void> {
    let reply: ToWorker;
    try {
      reply = { kind: "state-result", sid, value: await this.apply(task, req) };
    } catch (err) {
      reply = { kind: "state-error", sid, message: (err as Error).message };
    }
    if (slot.task === task) slot.worker.postMessage(reply);
  }

  private async apply(task: Task, req: StateOp): Promise<StateValue> {
    if (req.op === "blockHash") {
      const h = await task.ctx.blockHash(req.number);
      return h && own(h);
    }
    task.state ??= await task.ctx.state();
    const s = task.state;
    switch (req.op) {
      case "account":
        return wireCopy(toWireAccount(await s.getAccount(new Address(req.address))));
      case "storage":
        if (task.slotReads.length < MAX_REMEMBERED_SLOTS)
          task.slotReads.push([own(req.address), own(req.key)]);
        return own(await s.getStorage(new Address(req.address), req.key));
      case "code":
        return own(await s.codeByHash(req.codeHash));
    }
  }

  /** Stops every worker; queued and running jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0))
      this.finish(task, new CallPoolError("execution pool closed", { code: "POOL_CLOSED" }));
    await Promise.all(
      this.slots.map((slot) => {
        if (slot.task)
          this.finish(slot.task, new CallPoolError("execution pool closed", { code: "POOL_CLOSED" }));
        return slot.worker.terminate();
      }),
    );
  }
}
