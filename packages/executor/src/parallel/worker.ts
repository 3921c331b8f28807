/**
 * Worker thread of the parallel executor: executes batches of transactions
 * (sender recovery included) over the pre-state it is sent, and computes
 * state-trie shards. Started once per pool and kept warm.
 */
import { parentPort, workerData } from "node:worker_threads";
import { keccak256, listTrieLeafRef, orderedTrieRoot } from "@meridian/primitives";
import { runShardTask } from "@meridian/state";
import { chainCommon } from "../genesis.ts";
import { encodeConsensusReceipt, ZERO_BLOOM } from "../receipts.ts";
import { BatchExecutor, type BatchRequest, type TxResult, type WireLog } from "./exec-core.ts";
import type { WorkerInit, WorkerRequest, WorkerResponse } from "./protocol.ts";
import { nativeEcrecover } from "./secp.ts";
import type { AccountValue, Fetcher } from "./tx-state.ts";

const init = workerData as WorkerInit;
const { ecrecover } = init.native ? nativeEcrecover() : { ecrecover: undefined };
// The node's own Common (memoized parameters, KZG), with the native recovery when it loads.
const common = chainCommon({ chainId: BigInt(init.chainId), hardfork: init.hardfork });
if (ecrecover) common.customCrypto.ecrecover = ecrecover;
const executor = new BatchExecutor(common, { fastTransfers: init.fastTransfers });
const port = parentPort;
if (!port) throw new Error("worker.ts must run in a worker thread");

let nextFetch = 0;
const fetches = new Map<number, (values: [string, AccountValue | Uint8Array | undefined][]) => void>();
const send = (m: WorkerResponse, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

function fetcherFor(id: number, pre: Map<string, AccountValue | Uint8Array>): Fetcher {
  return (keys) =>
    new Promise<void>((resolve) => {
      const fid = nextFetch++;
      fetches.set(fid, (values) => {
        for (const [k, v] of values) pre.set(k, v as AccountValue | Uint8Array);
        resolve();
      });
      send({ kind: "fetch", id, fid, keys });
    });
}

port.on("message", async (m: WorkerRequest) => {
  if (m.kind === "fetched") {
    const f = fetches.get(m.fid);
    fetches.delete(m.fid);
    f?.(m.values);
    return;
  }
  if (m.kind === "crash") {
    // Test hook: simulates a worker dying mid-block.
    process.exit(3);
  }
  // One task at a time: the executor's state manager is shared by the batches.
  const run = queue.then(() => handle(m));
  queue = run.catch(() => {});
});

let queue: Promise<void> = Promise.resolve();

type KeptReceipt = { type: number; status: 0 | 1; gasUsed: bigint; bloom: Uint8Array; logs: WireLog[] };
/** Receipts of validated batches by key, until their leaves are asked for (BatchRequest.receiptsKey). */
const kept = new Map<number, KeptReceipt[]>();
/** More keys than this are left over from blocks that failed validation: the oldest go. */
const MAX_KEPT = 256;

function keepReceipts(key: number, results: TxResult[]): void {
  const out: KeptReceipt[] = [];
  for (const r of results) {
    // A batch with a failed transaction fails its block: nothing to keep.
    if (!r.receipt || !r.facts) return;
    const { status, gasUsed, bloom, logs } = r.receipt;
    out.push({ type: r.facts.type, status, gasUsed, bloom: bloom.length === 0 ? ZERO_BLOOM : bloom, logs });
  }
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value as number);
  kept.set(key, out);
}

function receiptLeaves(key: number, count: number, first: number, gasBefore: bigint): Uint8Array {
  const receipts = kept.get(key);
  kept.delete(key);
  if (!receipts) throw new Error(`no receipts kept under key ${key}`);
  const refs = new Uint8Array(32 * receipts.length);
  const scratch = new Uint8Array(4096);
  let gas = gasBefore;
  for (const [j, r] of receipts.entries()) {
    gas += r.gasUsed;
    const value = encodeConsensusReceipt(r.type, r.status, gas, r.bloom, r.logs, scratch);
    const ref = listTrieLeafRef(count, first + j, value);
    // A receipt holds a 256-byte bloom, so its leaf is always hashed.
    if (!(ref instanceof Uint8Array)) throw new Error("receipt leaf under 32 bytes");
    refs.set(ref, 32 * j);
  }
  return refs;
}

async function handle(m: WorkerRequest): Promise<void> {
  if (m.kind === "fetched" || m.kind === "crash") return;
  try {
    if (m.kind === "exec") {
      const req: BatchRequest = m.req;
      const results = await executor.runBatch(req, fetcherFor(m.id, req.pre));
      if (req.receiptsKey !== undefined) keepReceipts(req.receiptsKey, results);
      send({ kind: "exec-done", id: m.id, results });
    } else if (m.kind === "root") {
      const values: Uint8Array[] = [];
      let start = 0;
      for (const end of m.ends) {
        values.push(m.bytes.subarray(start, end));
        start = end;
      }
      send({ kind: "root-done", id: m.id, root: orderedTrieRoot(values) });
    } else if (m.kind === "receipt-leaves") {
      const refs = receiptLeaves(m.key, m.count, m.first, m.gasBefore);
      send({ kind: "leaves-done", id: m.id, refs }, [refs.buffer as ArrayBuffer]);
    } else if (m.kind === "keccak") {
      send({ kind: "hash-done", id: m.id, hash: keccak256(m.bytes) });
    } else if (m.kind === "shard") {
      const result = await runShardTask(
        m.task,
        (keys) =>
          new Promise((resolve) => {
            const fid = nextFetch++;
            fetches.set(fid, (values) => resolve(values as [string, Uint8Array][]));
            send({ kind: "fetch", id: m.id, fid, keys });
          }),
      );
      send({ kind: "shard-done", id: m.id, result });
    }
  } catch (err) {
    send({ kind: "failed", id: m.id, message: (err as Error).stack ?? String(err) });
  }
}
send({ kind: "ready", backend: ecrecover ? "native" : "noble" });
