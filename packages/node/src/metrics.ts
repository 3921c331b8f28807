/**
 * Prometheus instruments on a private registry (never prom-client's global
 * one, so several nodes can live in one process, as tests do) and a tiny
 * node:http server for /metrics and /health.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { MeridianError } from "@meridian/primitives";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type Metrics = {
  registry: Registry;
  chainHead: Gauge;
  blocksTotal: Counter;
  txsTotal: Counter;
  blockGasUsed: Gauge;
  blockProcessSeconds: Histogram;
  txpoolPending: Gauge;
  txpoolQueued: Gauge;
  /** Consensus messages from peers the driver dropped, by reason (malformed, bad-signature, …). */
  consensusMessagesDropped: Counter<"reason">;
  rpcRequestsTotal: Counter<"method" | "status">;
  rpcRequestSeconds: Histogram<"method">;
  rpcLimitRejections: Counter<"limit">;
  /** Where the rpc gauges (filters, subscriptions, WebSocket connections and queues) read from. */
  setRpcStats(
    read: () => { filters: number; subscriptions: number; wsConnections: number; wsQueuedBytes: number },
  ): void;
  /** One JSON-RPC call; `ok` false when it answered with an error object. */
  observeRpc(method: string, seconds: number, ok: boolean): void;
  /** One committed block. */
  observeBlock(block: {
    height: bigint | number;
    txCount: number;
    gasUsed: bigint | number;
    seconds?: number;
  }): void;
  setTxpool(counts: { pending: number; queued: number }): void;
};

export type CreateMetricsOptions = {
  /** Node.js process metrics (CPU, heap, event loop, GC), prefixed meridian_. Default true. */
  defaultMetrics?: boolean;
};

/** Method names come from untrusted requests: cap label cardinality. */
const METHOD_RE = /^[a-z][a-zA-Z0-9]{0,31}_[a-zA-Z0-9]{1,64}$/;
const MAX_METHOD_LABELS = 256;

export function createMetrics(opts: CreateMetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "meridian_" });
  const registers = [registry];

  const chainHead = new Gauge({
    name: "meridian_chain_head_block",
    help: "Number of the head block",
    registers,
  });
  const blocksTotal = new Counter({
    name: "meridian_chain_blocks_total",
    help: "Blocks committed since start",
    registers,
  });
  const txsTotal = new Counter({
    name: "meridian_chain_txs_total",
    help: "Transactions committed since start",
    registers,
  });
  const blockGasUsed = new Gauge({
    name: "meridian_chain_block_gas_used",
    help: "Gas used by the head block",
    registers,
  });
  const blockProcessSeconds = new Histogram({
    name: "meridian_block_process_seconds",
    help: "Time to execute and commit a block",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const txpoolPending = new Gauge({
    name: "meridian_txpool_pending",
    help: "Executable transactions in the pool",
    registers,
  });
  const txpoolQueued = new Gauge({
    name: "meridian_txpool_queued",
    help: "Non-executable (future nonce) transactions in the pool",
    registers,
  });
  const consensusMessagesDropped = new Counter<"reason">({
    name: "meridian_consensus_messages_dropped_total",
    help: "Consensus messages from peers dropped by reason (malformed, bad-signature, unknown-validator, future-height, bad-value)",
    labelNames: ["reason"],
    registers,
  });
  const rpcRequestsTotal = new Counter<"method" | "status">({
    name: "meridian_rpc_requests_total",
    help: "JSON-RPC calls by method and outcome (ok | error)",
    labelNames: ["method", "status"],
    registers,
  });
  const rpcRequestSeconds = new Histogram<"method">({
    name: "meridian_rpc_request_seconds",
    help: "JSON-RPC call latency by method",
    labelNames: ["method"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  const rpcLimitRejections = new Counter<"limit">({
    name: "meridian_rpc_limit_rejections_total",
    help: "Requests refused and WebSocket clients dropped by an rpc cap, by cap (filters, filters_per_connection, subscriptions_per_connection, ws_queue, batch, proof_keys)",
    labelNames: ["limit"],
    registers,
  });
  let readRpcStats:
    | (() => { filters: number; subscriptions: number; wsConnections: number; wsQueuedBytes: number })
    | undefined;
  const rpcGauge = (
    name: string,
    help: string,
    field: "filters" | "subscriptions" | "wsConnections" | "wsQueuedBytes",
  ) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        if (readRpcStats) this.set(readRpcStats()[field]);
      },
    });
  rpcGauge("meridian_rpc_filters", "Live poll filters (eth_newFilter & co.)", "filters");
  rpcGauge("meridian_rpc_subscriptions", "Live WebSocket subscriptions", "subscriptions");
  rpcGauge("meridian_rpc_ws_connections", "Open WebSocket connections", "wsConnections");
  rpcGauge(
    "meridian_rpc_ws_queued_bytes",
    "Bytes queued to WebSocket clients and not yet sent",
    "wsQueuedBytes",
  );

  const seenMethods = new Set<string>();
  const methodLabel = (method: string): string => {
    if (seenMethods.has(method)) return method;
    if (!METHOD_RE.test(method) || seenMethods.size >= MAX_METHOD_LABELS) return "other";
    seenMethods.add(method);
    return method;
  };

  return {
    registry,
    chainHead,
    blocksTotal,
    txsTotal,
    blockGasUsed,
    blockProcessSeconds,
    txpoolPending,
    txpoolQueued,
    consensusMessagesDropped,
    rpcRequestsTotal,
    rpcRequestSeconds,
    rpcLimitRejections,
    setRpcStats(read) {
      readRpcStats = read;
    },
    observeRpc(method, seconds, ok) {
      const label = methodLabel(method);
      rpcRequestsTotal.inc({ method: label, status: ok ? "ok" : "error" });
      rpcRequestSeconds.observe({ method: label }, seconds);
    },
    observeBlock(block) {
      chainHead.set(Number(block.height));
      blocksTotal.inc();
      if (block.txCount > 0) txsTotal.inc(block.txCount);
      blockGasUsed.set(Number(block.gasUsed));
      if (block.seconds !== undefined) blockProcessSeconds.observe(block.seconds);
    },
    setTxpool({ pending, queued }) {
      txpoolPending.set(pending);
      txpoolQueued.set(queued);
    },
  };
}

export type HealthReport = { ok: boolean; [key: string]: unknown };

export type MetricsServerOptions = {
  addr: string;
  /** 0 = any free port. */
  port: number;
  metrics: Pick<Metrics, "registry">;
  health: () => HealthReport | Promise<HealthReport>;
};

export type MetricsServer = { url: string; port: number; close(): Promise<void> };

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: MetricsServerOptions): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  const known = path === "/metrics" || path === "/health";
  if (!known) return send(res, 404, "text/plain; charset=utf-8", "not found\n", req.method === "HEAD");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n", false);
  }
  const head = req.method === "HEAD";
  if (path === "/metrics") {
    const registry = opts.metrics.registry;
    return send(res, 200, registry.contentType, await registry.metrics(), head);
  }
  let report: HealthReport;
  try {
    report = await opts.health();
  } catch (err) {
    report = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const body = `${JSON.stringify(report, jsonReplacer)}\n`;
  return send(res, report.ok ? 200 : 503, "application/json", body, head);
}

/** Serves GET /metrics (Prometheus text) and GET /health (200 when ok, else 503). */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, "text/plain; charset=utf-8", `${err instanceof Error ? err.message : err}\n`, false);
      else res.destroy();
    });
  });
  // Scrapers keep connections alive; don't let idle ones hold shutdown.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      reject(
        new MeridianError(`metrics server cannot listen on ${opts.addr}:${opts.port}: ${err.message}`, {
          code: "METRICS_LISTEN_FAILED",
          cause: err,
        }),
      );
    };
    server.once("error", onError);
    server.listen(opts.port, opts.addr, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
