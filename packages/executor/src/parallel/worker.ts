/**
 * Worker thread of the parallel executor: executes batches of transactions
 * (sender recovery included) over the pre-state it is sent, and computes
 * state-trie shards. Started once per pool and kept warm.
 */
import { parentPort, workerData } from "node:worker_threads";
import { keccak256, orderedTrieRoot } from "@meridian/primitives";
import { runShardTask } from "@meridian/state";
import { chainCommon } from "../genesis.ts";
import { BatchExecutor, type BatchRequest } from "./exec-core.ts";
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
const send = (m: WorkerResponse) => port.postMessage(m);

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

async function handle(m: WorkerRequest): Promise<void> {
  if (m.kind === "fetched" || m.kind === "crash") return;
  try {
    if (m.kind === "exec") {
      const req: BatchRequest = m.req;
      const results = await executor.runBatch(req, fetcherFor(m.id, req.pre));
      send({ kind: "exec-done", id: m.id, results });
    } else if (m.kind === "root") {
      const values: Uint8Array[] = [];
      let start = 0;
      for (const end of m.ends) {
        values.push(m.bytes.subarray(start, end));
        start = end;
      }
      send({ kind: "root-done", id: m.id, root: orderedTrieRoot(values) });
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
