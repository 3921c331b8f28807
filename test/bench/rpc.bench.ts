/**
 * RPC throughput bench: Meridian vs anvil, same client code, same run.
 *   node test/bench/rpc.bench.ts [--duration 5] [--concurrency 32] [--targets meridian,anvil]
 *     [--methods eth_getBalance,eth_blockNumber,eth_call]
 * Like with like: anvil runs with --silent and Meridian at log level warn (neither writes a
 * line per request into this process, which captures their output); neither makes blocks
 * without transactions, so every answer has one right value, checked on every response;
 * the load comes from a separate process (rpc-load.ts), which is neither node nor this one.
 * Progress goes to stderr; exactly one JSON line goes to stdout.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeDeployData, encodeFunctionData, type Hex, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { startAnvil } from "../helpers/anvil-process.ts";
import { DEV_KEYS } from "../helpers/chain.ts";
import { meridianToken } from "../helpers/compile.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, waitUntil } from "../helpers/rpc.ts";
import type { LoadStats } from "./rpc-load.ts";

type TargetName = "meridian" | "anvil";
type Stats = LoadStats;
const LOAD_SCRIPT = fileURLToPath(new URL("./rpc-load.ts", import.meta.url));

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    targets: { type: "string", default: "meridian,anvil" },
    methods: { type: "string", default: "eth_getBalance,eth_blockNumber,eth_call" },
  },
});
const DURATION_S = Math.min(Math.max(Number(values.duration), 0.5), 120);
const CONCURRENCY = Math.min(Math.max(Math.floor(Number(values.concurrency)), 1), 512);
const TARGETS = values.targets.split(",").filter((t): t is TargetName => t === "meridian" || t === "anvil");
const ALL_METHODS = ["eth_getBalance", "eth_blockNumber", "eth_call"] as const;
type MethodName = (typeof ALL_METHODS)[number];
const METHODS = values.methods
  .split(",")
  .filter((m): m is MethodName => (ALL_METHODS as readonly string[]).includes(m));
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

/**
 * Runs the load generator (test/bench/rpc-load.ts) as a separate process, so the load shares
 * neither process nor event loop with either node; every answer is checked against `expected`.
 */
function drive(rpcUrl: string, body: string, expected: unknown, seconds: number): Promise<LoadStats> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        LOAD_SCRIPT,
        "--url",
        rpcUrl,
        "--body",
        body,
        "--expect",
        JSON.stringify(expected),
        "--duration",
        String(seconds),
        "--concurrency",
        String(CONCURRENCY),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 60) * 1000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out) as LoadStats);
    });
  });
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
          ? await startMeridian({
              blockTimeMs: 1000,
              extraArgs: ["--no-empty-blocks", "--log.level", "warn"],
            })
          : await startAnvil({ blockTimeMs: 0, extraArgs: ["--silent"] });
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
        const rpcUrl = nodes.get(t)?.rpcUrl as string;
        // The one right answer, asked before the load; nothing changes the chain during it.
        const expected = await rpc(rpcUrl, method, params);
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
        log(`${method} on ${t} (expecting ${JSON.stringify(expected).slice(0, 70)}) ...`);
        const stats = await drive(rpcUrl, body, expected, DURATION_S);
        log(
          `${method} on ${t}: ${stats.rps} req/s, p50 ${stats.p50_ms} ms, p99 ${stats.p99_ms} ms, ${stats.errors} errors, ${stats.wrong} wrong`,
        );
        row[t] = stats;
      }
      const m = row.meridian as Stats | undefined;
      const a = row.anvil as Stats | undefined;
      row.ratio = m && a && a.rps > 0 ? Math.round((m.rps / a.rps) * 1000) / 1000 : null;
      methods[method] = row;
    }

    // Without eth_getBalance in --methods there is no target to meet (null).
    const ratio = (methods.eth_getBalance?.ratio ?? null) as number | null;
    const result = {
      bench: "rpc",
      duration_s: DURATION_S,
      concurrency: CONCURRENCY,
      methods,
      target: { eth_getBalance_ratio_min: TARGET_RATIO },
      all_answers_right: Object.values(methods).every((row) =>
        TARGETS.every((t) => (row[t] as Stats).wrong === 0 && (row[t] as Stats).errors === 0),
      ),
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
