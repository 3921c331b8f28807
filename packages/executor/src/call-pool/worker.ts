/**
 * Worker thread of the RPC execution pool (loaded by worker-entry.ts): runs eth_call, eth_estimateGas,
 * eth_createAccessList and debug_traceTransaction jobs with a warm VM, one job at a time.
 * Snapshot reads and BLOCKHASH come from the main thread (RemoteStateStore); the main thread
 * enforces the job's deadline by terminating this thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type Block, createBlock, createBlockFromRLP, createBlockHeaderFromRLP } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { bytesToHex, KECCAK256_RLP } from "@ethereumjs/util";
import type { RunTxResult, VM } from "@ethereumjs/vm";
import { bytesToBigInt, MeridianError, rlpDecode } from "@meridian/primitives";
import { FlatStateManager } from "@meridian/state";
import { SequentialExecutor } from "../executor.ts";
import { chainCommon, hardforkAt } from "../genesis.ts";
import {
  callTracer,
  fourByteTracer,
  outcomeOf,
  prestateTracer,
  structLogger,
  type TraceLimits,
  type TxOutcome,
  traceTooLarge,
} from "../tracers.ts";
import type {
  CallJob,
  CallWorkerInit,
  FromWorker,
  Prefetched,
  StateOp,
  StateValue,
  ToWorker,
  TraceConfig,
  WireHeader,
} from "./protocol.ts";
import { CodeCache, RemoteStateStore } from "./remote-state.ts";

const init = workerData as CallWorkerInit;
type ForkRules = { common: Common; executor: SequentialExecutor };
/** One Common and warm executor per fork, made on first use: a job runs its block's fork. */
const forks = new Map<string, ForkRules>();
function rulesAt(timestamp: bigint): ForkRules {
  const hardfork = hardforkAt(init, timestamp);
  let rules = forks.get(hardfork);
  if (!rules) {
    const common = chainCommon({ chainId: BigInt(init.chainId), hardfork });
    rules = { common, executor: new SequentialExecutor(common) };
    forks.set(hardfork, rules);
  }
  return rules;
}
// Fail at start-up, not on the first job, when the chain's forks are unknown.
rulesAt(0n);
for (const f of init.schedule) rulesAt(f.time);
const port = parentPort;
if (!port) throw new Error("call-pool/worker.ts must run in a worker thread");

const send = (m: FromWorker) => port.postMessage(m);

let nextSid = 0;
const waiting = new Map<number, { resolve: (v: StateValue) => void; reject: (e: Error) => void }>();

function requester(id: number) {
  return (req: StateOp): Promise<StateValue> =>
    new Promise((resolve, reject) => {
      const sid = nextSid++;
      waiting.set(sid, { resolve, reject });
      send({ kind: "state", id, sid, req });
    });
}

/** Contract code kept between jobs; the pool sends each code once (see WORKER_CODE_CACHE). */
const codeCache = new CodeCache();

/** Context blocks by hash: consecutive calls mostly run on the same head. */
const headers = new Map<string, Block>();
function contextBlock(h: WireHeader): Block {
  const key = bytesToHex(h.hash);
  let block = headers.get(key);
  if (!block) {
    const { common } = rulesAt(headerRlpTimestamp(h.rlp));
    const header = createBlockHeaderFromRLP(h.rlp, { common, setHardfork: false });
    block = createBlock({ header: header.toJSON() }, { common, setHardfork: false });
    if (headers.size >= 16) headers.delete(headers.keys().next().value as string);
    headers.set(key, block);
  }
  return block;
}

function executorOf(block: Block): SequentialExecutor {
  return rulesAt(block.header.timestamp).executor;
}

/** Timestamp (header field 11) of a header's RLP, or of a block's (`inBlock`), read before decoding. */
function headerRlpTimestamp(rlp: Uint8Array, inBlock = false): bigint {
  const decoded = rlpDecode(rlp);
  const header = inBlock && Array.isArray(decoded) ? decoded[0] : decoded;
  const time = Array.isArray(header) ? header[11] : undefined;
  if (!(time instanceof Uint8Array))
    throw new MeridianError("header has no timestamp", { code: "CALL_INVALID" });
  return bytesToBigInt(time);
}

async function run(id: number, job: CallJob, prefetched: Prefetched | undefined): Promise<unknown> {
  const ask = requester(id);
  // One store per job: its reads of the snapshot are shared by every run of the job.
  const store = new RemoteStateStore(ask, prefetched, codeCache);
  const fresh = () => new FlatStateManager(store, KECCAK256_RLP);
  const state = fresh();
  const blockHash = async (n: bigint) =>
    (await ask({ op: "blockHash", number: n })) as Uint8Array | undefined;
  switch (job.kind) {
    case "call": {
      const block = contextBlock(job.header);
      return executorOf(block).call(job.input, block, state, { gasCap: job.gasCap, blockHash });
    }
    case "estimate": {
      const block = contextBlock(job.header);
      const executor = executorOf(block);
      const staking = job.staking;
      const prepared = staking
        ? async () => {
            const s = fresh();
            await executor.applyStakingPrologue(s, block, staking);
            return s;
          }
        : fresh;
      return executor.estimateGas(job.input, block, prepared, job.gasCap, 0, blockHash);
    }
    case "accessList": {
      const block = contextBlock(job.header);
      const executor = executorOf(block);
      const first = await executor.call(job.input, block, state, {
        gasCap: job.gasCap,
        reportAccessList: true,
        blockHash,
      });
      const accessList = first.accessList ?? [];
      const second = await executor.call({ ...job.input, accessList }, block, fresh(), {
        gasCap: job.gasCap,
        blockHash,
      });
      return { ...second, accessList };
    }
    case "trace": {
      const { common, executor } = rulesAt(headerRlpTimestamp(job.block, true));
      const block = createBlockFromRLP(job.block, { common, setHardfork: false });
      const parentCommon = rulesAt(headerRlpTimestamp(job.parentHeader)).common;
      const parentHeader = createBlockHeaderFromRLP(job.parentHeader, {
        common: parentCommon,
        setHardfork: false,
      });
      const parent = createBlock(
        { header: parentHeader.toJSON() },
        { common: parentCommon, setHardfork: false },
      );
      const limits = { maxBytes: job.maxBytes };
      const coinbase = block.header.coinbase.bytes;
      const from = job.txIndex ?? 0;
      const to = job.txIndex ?? block.transactions.length - 1;
      const tracers: Tracer[] = [];
      const results = await executor.replayTraced(
        block,
        parent,
        state,
        from,
        to,
        (_, vm) => {
          const t = makeTracer(job.config, coinbase, limits);
          tracers.push(t);
          t.hook(vm);
        },
        blockHash,
        job.staking,
      );
      const traces: unknown[] = [];
      for (let i = 0; i < results.length; i++) {
        const tx = block.transactions[from + i];
        const outcome = outcomeOf(results[i] as RunTxResult, tx?.gasLimit);
        traces.push(await (tracers[i] as Tracer).result(outcome));
      }
      const trace =
        job.txIndex !== undefined
          ? traces[0]
          : traces.map((result, i) => ({
              txHash: bytesToHex((block.transactions[i] as { hash(): Uint8Array }).hash()),
              result,
            }));
      // Serialized here, not on the main thread; the tracers' running count is an estimate,
      // this is the exact size.
      const text = JSON.stringify(trace) ?? "null";
      if (text.length > job.maxBytes) throw traceTooLarge(job.maxBytes);
      return text;
    }
    case "traceCall": {
      const block = contextBlock(job.header);
      const tracer = makeTracer(job.config, block.header.coinbase.bytes, { maxBytes: job.maxBytes });
      let gasLimit: bigint | undefined;
      const out = await executorOf(block).call(job.input, block, state, {
        gasCap: job.gasCap,
        blockHash,
        tracer: (vm) => {
          vm.events.on("beforeTx", (tx) => {
            gasLimit = tx.gasLimit;
          });
          tracer.hook(vm);
        },
      });
      const outcome: TxOutcome = { gasUsed: out.gasUsed, returnValue: out.returnData };
      if (out.error) outcome.error = out.error.message;
      if (gasLimit !== undefined) outcome.gasLimit = gasLimit;
      const text = JSON.stringify(await tracer.result(outcome)) ?? "null";
      if (text.length > job.maxBytes) throw traceTooLarge(job.maxBytes);
      return text;
    }
  }
}

type Tracer = { hook: (vm: VM) => void; result: (outcome: TxOutcome) => unknown };

function makeTracer(config: TraceConfig, coinbase: Uint8Array, limits: TraceLimits): Tracer {
  switch (config.tracer) {
    case "callTracer":
      return callTracer({ onlyTopCall: config.onlyTopCall, withLog: config.withLog }, limits);
    case "prestateTracer":
      return prestateTracer({ diffMode: config.diffMode }, coinbase, limits);
    case "4byteTracer":
      return fourByteTracer();
    case "structLogger":
      return structLogger(config, limits);
  }
}

port.on("message", (m: ToWorker) => {
  if (m.kind === "state-result") {
    const w = waiting.get(m.sid);
    waiting.delete(m.sid);
    w?.resolve(m.value);
    return;
  }
  if (m.kind === "state-error") {
    const w = waiting.get(m.sid);
    waiting.delete(m.sid);
    w?.reject(new MeridianError(m.message, { code: "STATE_READ_FAILED" }));
    return;
  }
  run(m.id, m.job, m.prefetched).then(
    (result) => send({ kind: "done", id: m.id, result }),
    (err: unknown) => {
      const e = err as { message?: string; code?: unknown; details?: unknown };
      send({
        kind: "failed",
        id: m.id,
        message: e.message ?? String(err),
        code: typeof e.code === "string" ? e.code : undefined,
        details: typeof e.details === "string" ? e.details : undefined,
      });
    },
  );
});

send({ kind: "ready" });
