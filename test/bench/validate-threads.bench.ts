/**
 * Where a validation's CPU goes, per thread: the main thread, the worker threads and V8's own
 * helper threads (parallel garbage collection, compilers), for 1 and 2 workers (or --workers
 * list) validating the same proposal in one process, alternately, rep after rep.
 *
 *   node test/bench/validate-threads.bench.ts [--txs N] [--reps N] [--workers 1,2]
 *
 * It prints one JSON line: per worker count the medians over the reps of a validation's wall
 * time (decoding the proposal and the state root included, as `bench:executor` times it), of
 * the CPU of each kind of thread and of the main thread's GC time, and, for the first two counts, the measured ratio of wall times and the
 * bound the CPU accounting puts on it: the second run cannot take less wall time than all its
 * CPU spread over the machine's cores (`cpu_bound_ratio`). Thread CPU is read from /proc (Linux); elsewhere
 * the split is null.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { PerformanceObserver } from "node:perf_hooks";
import { createTxFromRLP } from "@ethereumjs/tx";
import { decodeProposal, encodeProposal, ParallelExecutor } from "@meridian/executor";
import { benchWorkload, listSource, makeChain } from "../helpers/executor-workloads.ts";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : dflt;
};
const TXS = Number(opt("--txs", "5000"));
const REPS = Math.max(2, Number(opt("--reps", "7")));
const COUNTS = opt("--workers", "1,2")
  .split(",")
  .map(Number)
  .filter((w) => w > 0);
const SENDERS = Math.min(1000, TXS);
const PROC = existsSync("/proc/self/task");

/** CPU milliseconds so far of every thread of this process, by thread id. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  if (!PROC) return out;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime, in clock ticks (100 per second on Linux).
      out.set(tid, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ["gc"] });

async function main(): Promise<void> {
  const chain = await makeChain(SENDERS, { gasLimit: 2_000_000_000n });
  const txs = benchWorkload(chain, "eth-transfers", TXS, SENDERS);
  const beforePools = new Set(threadCpu().keys());
  const executors = new Map<number, { executor: ParallelExecutor; threads: Set<string> }>();
  for (const w of COUNTS) {
    const known = new Set(threadCpu().keys());
    const executor = new ParallelExecutor(chain.common, { workers: w });
    await executor.ready();
    const threads = new Set([...threadCpu().keys()].filter((t) => !known.has(t)));
    executors.set(w, { executor, threads });
  }
  const first = executors.get(COUNTS[0] as number)?.executor as ParallelExecutor;
  const senders = txs.map((_, i) => chain.senders[i % SENDERS] as Uint8Array);
  const built = await first.build({
    parent: chain.genesis,
    timestamp: chain.genesis.header.timestamp + 1n,
    coinbase: chain.coinbase,
    state: chain.fresh(),
    txs: listSource(
      txs.map((t) => createTxFromRLP(t.serialize(), { common: chain.common })),
      senders,
    ),
  });
  const proposal = encodeProposal(built.block.serialize(), built.accessList);
  const main = String(process.pid);
  const rows = new Map<
    number,
    { wall: number[]; main: number[]; workers: number[]; v8: number[]; gc: number[] }
  >();
  for (let rep = 0; rep < REPS; rep++) {
    for (const w of COUNTS) {
      const { executor, threads } = executors.get(w) as { executor: ParallelExecutor; threads: Set<string> };
      const before = threadCpu();
      const gcBefore = gcMs;
      const t0 = performance.now();
      const p = decodeProposal(proposal, chain.common);
      const v = await executor.validate(p.block, p.accessList, chain.genesis, chain.fresh(), {
        accessListRlp: p.accessListRlp,
      });
      const root = await v.state.getStateRoot();
      const wall = performance.now() - t0;
      // Let the GC entries of this validation arrive before the next one starts.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (!Buffer.from(root).equals(Buffer.from(built.block.header.stateRoot)))
        throw new Error("validation gave another state root");
      if (rep === 0) continue; // warm-up
      const after = threadCpu();
      const spent = { main: 0, workers: 0, v8: 0 };
      for (const [tid, ms] of after) {
        const d = ms - (before.get(tid) ?? 0);
        if (tid === main) spent.main += d;
        else if (threads.has(tid)) spent.workers += d;
        else if (beforePools.has(tid)) spent.v8 += d;
      }
      let row = rows.get(w);
      if (!row) {
        row = { wall: [], main: [], workers: [], v8: [], gc: [] };
        rows.set(w, row);
      }
      row.wall.push(wall);
      row.main.push(spent.main);
      row.workers.push(spent.workers);
      row.v8.push(spent.v8);
      row.gc.push(gcMs - gcBefore);
    }
    if (process.stderr.isTTY) process.stderr.write(`\rvalidate-threads: rep ${rep + 1}/${REPS}`);
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
  const cores = availableParallelism();
  const runs = COUNTS.map((w) => {
    const r = rows.get(w) as NonNullable<ReturnType<typeof rows.get>>;
    const cpu = PROC
      ? { main_cpu_ms: median(r.main), workers_cpu_ms: median(r.workers), v8_cpu_ms: median(r.v8) }
      : {};
    return {
      workers: w,
      wall_ms: Math.round(median(r.wall)),
      ...(PROC ? cpu : { main_cpu_ms: null, workers_cpu_ms: null, v8_cpu_ms: null }),
      main_gc_ms: Math.round(median(r.gc)),
    };
  });
  const [a, b] = runs;
  let ratio: number | null = null;
  let bound: number | null = null;
  if (a && b) {
    ratio = Math.round((a.wall_ms / b.wall_ms) * 100) / 100;
    if (PROC) {
      // The second run cannot take less wall time than all its CPU spread over every core.
      const total = (b.main_cpu_ms ?? 0) + (b.workers_cpu_ms ?? 0) + (b.v8_cpu_ms ?? 0);
      bound = Math.round((a.wall_ms / (total / cores)) * 100) / 100;
    }
  }
  console.log(
    JSON.stringify({
      bench: "validate-threads",
      workload: "eth-transfers",
      txs: TXS,
      cores,
      reps: REPS - 1,
      runs,
      ratio_wall: ratio,
      cpu_bound_ratio: bound,
    }),
  );
  for (const { executor } of executors.values()) await executor.close();
}

await main();
process.exit(0);
