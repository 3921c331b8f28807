import { readFileSync, readdirSync } from "node:fs";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { decodeProposal, encodeProposal, ParallelExecutor } from "@meridian/executor";
import { listSource, makeChain, signTx } from "../../helpers/executor-workloads.ts";

import { Worker } from "node:worker_threads";
const MSG = { n: 0, buffers: 0, bytes: 0 };
if (process.env.COUNT) {
  const orig = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, m: unknown, t?: unknown) {
    const seen = new Set<ArrayBufferLike>();
    const walk = (x: unknown, d: number): void => {
      if (d > 12 || x === null || typeof x !== "object") return;
      if (ArrayBuffer.isView(x)) { if (!seen.has(x.buffer)) { seen.add(x.buffer); MSG.bytes += x.buffer.byteLength; MSG.buffers++; } return; }
      if (x instanceof Map) { for (const [k, v] of x) { walk(k, d + 1); walk(v, d + 1); } return; }
      for (const v of Object.values(x as object)) walk(v, d + 1);
    };
    if ((m as { kind?: string }).kind === "exec") { MSG.n++; walk(m, 0); }
    return orig.call(this, m, t as never);
  };
}
const W = Number(process.argv[2] ?? "1");
const REPS = Number(process.argv[3] ?? "6");
const TXS = 5000, SENDERS = 1000;
const chain = await makeChain(SENDERS, { gasLimit: 2_000_000_000n });
const nonces = new Array<bigint>(SENDERS).fill(0n);
const txs: TypedTransaction[] = [];
for (let i = 0; i < TXS; i++) {
  const from = i % SENDERS; const n = nonces[from] as bigint; nonces[from] = n + 1n;
  const to = new Uint8Array(20); to[0] = 0xab; to.set(Buffer.from(i.toString(16).padStart(8, "0"), "hex"), 12);
  txs.push(signTx(chain, from, n, to, { value: 1n }));
}
const preTids = new Set(readdirSync("/proc/self/task"));
const parallel = new ParallelExecutor(chain.common, { workers: W });
await parallel.ready();
const rawTxs = txs.map((t) => t.serialize());
const senders = txs.map((_, i) => chain.senders[i % SENDERS] as Uint8Array);
const built = await parallel.build({ parent: chain.genesis, timestamp: chain.genesis.header.timestamp + 1n, coinbase: chain.coinbase, state: chain.fresh(), txs: listSource(rawTxs.map((r) => createTxFromRLP(r, { common: chain.common })), senders) });
await built.state.getStateRoot();
const proposalBytes = encodeProposal(built.block.serialize(), built.accessList);
function threads(): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync("/proc/self/task")) {
    try {
      const s = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      m.set(`${t}:${name}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch {}
  }
  return m;
}
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
const sess = new Session(); sess.connect();
if (process.env.HEAP) { await sess.post("HeapProfiler.enable"); await sess.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }); }
if (process.env.PROF) { await sess.post("Profiler.enable"); await sess.post("Profiler.setSamplingInterval", { interval: 100 }); await sess.post("Profiler.start"); }
let rootPH: number[] = [0,0];
import { PerformanceObserver } from "node:perf_hooks";
const GC = { on: false, ms: 0, n: 0, major: 0 };
new PerformanceObserver((list) => { if (!GC.on) return; for (const e of list.getEntries()) { GC.ms += e.duration; GC.n++; if ((e as any).detail?.kind === 4 || (e as any).detail?.kind === 2) GC.major += e.duration; } }).observe({ entryTypes: ["gc"] });
const rows: { wall: number; by: Record<string, number> }[] = [];
for (let r = 0; r < REPS; r++) {
  if (r === 1) GC.on = true;
  (GC as any).last = GC.ms;
  const before = threads();
  const t0 = performance.now();
  const proposal = decodeProposal(proposalBytes, chain.common);
  const tDec = performance.now() - t0;
  if (process.env.MARKS) console.log("MARK", r, t0.toFixed(0), (t0 + tDec).toFixed(0));
  await new Promise((r) => setImmediate(r));
  (GC as any).dec = ((GC as any).dec ?? 0) + (r >= 1 ? GC.ms - ((GC as any).last ?? 0) : 0);
  const v = await parallel.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), { accessListRlp: proposal.accessListRlp });
  const tw = performance.now(), tc = process.threadCpuUsage();
  await v.state.getStateRoot();
  const c = process.threadCpuUsage(); if (r > 0) { rootPH[0] += performance.now() - tw; rootPH[1] += (c.user + c.system - tc.user - tc.system) / 1000; }
  if (r === 0) (globalThis as any).PH = {};
  const wall = performance.now() - t0;
  if (process.env.MARKS) console.log("MARKEND", r, (t0 + wall).toFixed(0));
  const after = threads();
  const by: Record<string, number> = { decode: Math.round(tDec) };
  const pid = String(process.pid);
  for (const [k, c] of after) {
    const d = c - (before.get(k) ?? 0);
    const [tid, name] = k.split(":") as [string, string];
    const cat = tid === pid ? "main" : !preTids.has(tid) && name === "node" ? "worker:" + tid : "v8:" + name;
    by[cat] = (by[cat] ?? 0) + d;
  }
  rows.push({ wall: Math.round(wall), by });
}
if (process.env.HEAP) { const { profile } = await sess.post("HeapProfiler.stopSampling"); writeFileSync(process.env.HEAP, JSON.stringify(profile)); }
if (process.env.PROF) { const { profile } = await sess.post("Profiler.stop"); writeFileSync(process.env.PROF, JSON.stringify(profile)); }
if (process.env.COUNT) console.log("exec messages", MSG.n / REPS, "buffers", MSG.buffers / REPS, "MB", (MSG.bytes / REPS / 1e6).toFixed(2));
console.log("main GC per validation ms", (GC.ms / (REPS - 1)).toFixed(1), "events", (GC.n / (REPS - 1)).toFixed(1), "major", (GC.major / (REPS - 1)).toFixed(1), "during decode", ((GC as any).dec / (REPS - 1)).toFixed(1));
for (const r of rows.slice(1)) console.log(JSON.stringify(r));
const mean = (f: (r: typeof rows[0]) => number) => Math.round(rows.slice(1).reduce((a, r) => a + f(r), 0) / (rows.length - 1));
const sumBy = (r: typeof rows[0], p: string) => Object.entries(r.by).filter(([k]) => k.startsWith(p)).reduce((a, [, v]) => a + v, 0);
console.log(JSON.stringify({ W, wall: mean((r) => r.wall), main: mean((r) => sumBy(r, "main")), workers: mean((r) => sumBy(r, "worker")), v8: mean((r) => sumBy(r, "v8")), decode: mean((r) => r.by.decode as number) }));
const PH = (globalThis as any).PH ?? {}; PH.stateRoot = rootPH; for (const [k, [w, c]] of Object.entries(PH) as [string, number[]][]) console.log(k.padEnd(18), "wall", (w / (REPS - 1)).toFixed(1), "cpu", (c / (REPS - 1)).toFixed(1));
await parallel.close();
process.exit(0);
