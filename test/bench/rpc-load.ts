/**
 * Load generator of `bench:rpc`, run as its own process so that neither node
 * under test shares a process (or its event loop) with the load: it sends one
 * JSON-RPC request body over `--concurrency` keep-alive connections for
 * `--duration` seconds and checks every answer's `result` against `--expect`
 * (JSON). Writes one JSON line of stats to stdout.
 *
 *   node test/bench/rpc-load.ts --url http://127.0.0.1:8545 --body '{…}' --expect '"0x1"' [--duration 5] [--concurrency 32]
 */
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";

export type LoadStats = {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Transport failures, non-200 answers and JSON-RPC errors. */
  errors: number;
  /** Answers whose result was not the expected value. */
  wrong: number;
  requests: number;
};

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    body: { type: "string" },
    expect: { type: "string" },
    duration: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
  },
});
if (values.url === undefined || values.body === undefined || values.expect === undefined)
  throw new Error("--url, --body and --expect are required");
const URL_ = new URL(values.url);
const BODY = values.body;
const EXPECTED = JSON.stringify(JSON.parse(values.expect));
const DURATION_S = Math.min(Math.max(Number(values.duration), 0.5), 120);
const CONCURRENCY = Math.min(Math.max(Math.floor(Number(values.concurrency)), 1), 512);

type Outcome = "ok" | "error" | "wrong";

/** One keep-alive POST, its answer checked against the expected result. */
function post(agent: Agent): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: URL_.hostname,
        port: URL_.port,
        method: "POST",
        path: "/",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(BODY) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          if (res.statusCode !== 200) return resolve("error");
          try {
            const answer = JSON.parse(text) as { result?: unknown; error?: unknown };
            if (answer.error !== undefined || !("result" in answer)) return resolve("error");
            resolve(JSON.stringify(answer.result) === EXPECTED ? "ok" : "wrong");
          } catch {
            resolve("error");
          }
        });
        res.on("error", () => resolve("error"));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve("error"));
    req.end(BODY);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function drive(): Promise<LoadStats> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Bounded latency buffer: enough for ~200k req/s over the longest allowed window.
  const cap = Math.ceil(DURATION_S * 200_000);
  const lat = new Float64Array(cap);
  let n = 0;
  let errors = 0;
  let wrong = 0;
  let ok = 0;
  try {
    // Warm-up: open the sockets and let both sides JIT before measuring (answers checked too).
    const warmEnd = performance.now() + 300;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < warmEnd) if ((await post(agent)) === "wrong") wrong++;
      }),
    );
    const t0 = performance.now();
    const end = t0 + DURATION_S * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          const outcome = await post(agent);
          const d = performance.now() - s;
          if (outcome === "ok") {
            ok++;
            if (n < cap) lat[n++] = d;
          } else if (outcome === "wrong") wrong++;
          else errors++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const sorted = lat.subarray(0, n).sort();
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      rps: Math.round(ok / elapsed),
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      errors,
      wrong,
      requests: ok + errors + wrong,
    };
  } finally {
    agent.destroy();
  }
}

process.stdout.write(`${JSON.stringify(await drive())}\n`);
