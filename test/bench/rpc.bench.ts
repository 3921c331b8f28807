/**
 * RPC throughput bench: Meridian vs anvil, same client code, same run.
 *   node test/bench/rpc.bench.ts [--duration 5] [--concurrency 32] [--targets meridian,anvil]
 * Progress goes to stderr; exactly one JSON line goes to stdout.
 */
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { encodeDeployData, encodeFunctionData, type Hex, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startAnvil } from "../helpers/anvil-process.ts";
import { DEV_KEYS } from "../helpers/chain.ts";
import { meridianToken } from "../helpers/compile.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, waitUntil } from "../helpers/rpc.ts";

type TargetName = "meridian" | "anvil";
type Stats = { rps: number; p50_ms: number; p99_ms: number; errors: number; requests: number };

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    targets: { type: "string", default: "meridian,anvil" },
  },
});
const DURATION_S = Math.min(Math.max(Number(values.duration), 0.5), 120);
const CONCURRENCY = Math.min(Math.max(Math.floor(Number(values.concurrency)), 1), 512);
const TARGETS = values.targets.split(",").filter((t): t is TargetName => t === "meridian" || t === "anvil");
const METHODS = ["eth_getBalance", "eth_blockNumber", "eth_call"] as const;
const TARGET_RATIO = 0.5;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const account = privateKeyToAccount(DEV_KEYS[0]);
const token = meridianToken();

// Hard stop: whatever happens, no process outlives the bench for long.
const watchdogMs = (DURATION_S * METHODS.length * TARGETS.length * 1.5 + 180) * 1000;
const watchdog = setTimeout(() => {
  log(`watchdog fired after ${watchdogMs} ms; killing everything`);
  void cleanupAll().finally(() => process.exit(2));
}, watchdogMs);
watchdog.unref();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    void cleanupAll().finally(() => process.exit(130));
  });
}

async function deployToken(node: NodeHandle): Promise<Hex> {
  const chainId = node.chainId;
  const nonce = Number(
    await rpc<string>(node.rpcUrl, "eth_getTransactionCount", [account.address, "pending"]),
  );
  const raw = await account.signTransaction({
    type: "eip1559",
    chainId,
    nonce,
    gas: 2_000_000n,
    maxFeePerGas: parseGwei("50"),
    maxPriorityFeePerGas: parseGwei("1"),
    data: encodeDeployData({ abi: token.abi, bytecode: token.bytecode, args: ["Bench", "BNC", 10n ** 24n] }),
  });
  const hash = await rpc<Hex>(node.rpcUrl, "eth_sendRawTransaction", [raw]);
  const receipt = await waitUntil(
    `deploy receipt on ${node.kind}`,
    async () =>
      (await rpc<{ contractAddress: Hex; status: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [
        hash,
      ])) ?? undefined,
    60_000,
  );
  if (receipt.status !== "0x1") throw new Error(`deploy failed on ${node.kind}`);
  return receipt.contractAddress;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One keep-alive POST; resolves to true when the JSON-RPC answer carries a result. */
function post(agent: Agent, url: URL, body: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: "/",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve(res.statusCode === 200 && text.includes('"result"')));
        res.on("error", () => resolve(false));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

async function drive(rpcUrl: string, body: string, seconds: number): Promise<Stats> {
  const url = new URL(rpcUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Bounded latency buffer: enough for ~200k req/s over the longest allowed window.
  const cap = Math.ceil(seconds * 200_000);
  const lat = new Float64Array(cap);
  let n = 0;
  let errors = 0;
  let ok = 0;
  try {
    // Warm-up: open the sockets and let both sides JIT before measuring.
    const warmEnd = performance.now() + 300;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < warmEnd) await post(agent, url, body);
      }),
    );
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          const good = await post(agent, url, body);
          const d = performance.now() - s;
          if (good) {
            ok++;
            if (n < cap) lat[n++] = d;
          } else {
            errors++;
          }
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
      requests: ok + errors,
    };
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<number> {
  if (TARGETS.length === 0) throw new Error("--targets must name meridian and/or anvil");
  log(
    `duration ${DURATION_S}s per method per target, concurrency ${CONCURRENCY}, targets ${TARGETS.join(",")}`,
  );
  const nodes = new Map<TargetName, NodeHandle>();
  const tokens = new Map<TargetName, Hex>();
  try {
    for (const t of TARGETS) {
      log(`starting ${t}`);
      const node =
        t === "meridian"
          ? await startMeridian({ blockTimeMs: 1000 })
          : await startAnvil({ blockTimeMs: 1000 });
      nodes.set(t, node);
      tokens.set(t, await deployToken(node));
      log(`${t} up at ${node.rpcUrl}, token at ${tokens.get(t)}`);
    }

    const methods: Record<string, Record<string, Stats | number | null>> = {};
    for (const method of METHODS) {
      const row: Record<string, Stats | number | null> = {};
      for (const t of TARGETS) {
        const params =
          method === "eth_getBalance"
            ? [account.address, "latest"]
            : method === "eth_blockNumber"
              ? []
              : [
                  {
                    to: tokens.get(t),
                    data: encodeFunctionData({
                      abi: token.abi,
                      functionName: "balanceOf",
                      args: [account.address],
                    }),
                  },
                  "latest",
                ];
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
        log(`${method} on ${t} ...`);
        const stats = await drive(nodes.get(t)!.rpcUrl, body, DURATION_S);
        log(
          `${method} on ${t}: ${stats.rps} req/s, p50 ${stats.p50_ms} ms, p99 ${stats.p99_ms} ms, ${stats.errors} errors`,
        );
        row[t] = stats;
      }
      const m = row.meridian as Stats | undefined;
      const a = row.anvil as Stats | undefined;
      row.ratio = m && a && a.rps > 0 ? Math.round((m.rps / a.rps) * 1000) / 1000 : null;
      methods[method] = row;
    }

    const ratio = methods.eth_getBalance.ratio as number | null;
    const result = {
      bench: "rpc",
      duration_s: DURATION_S,
      concurrency: CONCURRENCY,
      methods,
      target: { eth_getBalance_ratio_min: TARGET_RATIO },
      meets_target: ratio !== null && ratio >= TARGET_RATIO,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } finally {
    for (const [t, node] of nodes) {
      const r = await node.stop("SIGTERM", 10_000);
      log(`${t} stopped (code ${r.code}, signal ${r.signal}${r.forced ? ", forced" : ""})`);
    }
    await cleanupAll();
  }
}

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    clearTimeout(watchdog);
    process.exitCode = 1;
  },
);
