/**
 * HTTP (node:http, keep-alive) and WebSocket (ws, same port and path) transports
 * over RpcHandler.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import type { Duplex } from "node:stream";
import { type Logger, silentLogger } from "@meridian/primitives";
import { type WebSocket, WebSocketServer } from "ws";
import type { RpcBackend } from "./backend.ts";
import { RpcErrorCode } from "./errors.ts";
import type { RpcLimit } from "./events.ts";
import { RpcHandler, rpcErrorBody } from "./handler.ts";

export type RpcServerOptions = {
  backend: RpcBackend;
  /** Interface to bind (default "127.0.0.1"). */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Allowed browser origins ("*" for any). Absent: no CORS headers at all. */
  cors?: string[];
  /**
   * Host header names HTTP requests may carry (geth's --http.vhosts): "*" allows any.
   * Requests by IP address and requests without a Host header are always served, as in geth.
   * Default ["localhost"].
   */
  vhosts?: string[];
  /**
   * Origins allowed to open a WebSocket (geth's --ws.origins): "*" allows any; an entry may leave
   * out scheme or port. Empty (the default): http://localhost and http://<this hostname>, any port.
   * Requests without an Origin header (non-browser clients) are always accepted.
   */
  wsOrigins?: string[];
  /** Most requests in one batch (default 1000). */
  batchLimit?: number;
  /** Largest request body / WebSocket message in bytes (default 5 MiB). */
  bodyLimit?: number;
  /** Serve WebSocket on the same port and path (default true). */
  ws?: boolean;
  /** Poll filters not polled for this long are dropped (default 5 minutes). */
  filterTimeoutMs?: number;
  /** Live poll filters in all (default 10,000). */
  maxFilters?: number;
  /** Live poll filters created over one connection (default 1,000). */
  maxFiltersPerConnection?: number;
  /** Subscriptions of one WebSocket connection (default 1,000). */
  maxSubscriptionsPerConnection?: number;
  /** Unpolled changes one filter keeps, the newest (default 10,000). */
  filterMaxItems?: number;
  /** Storage keys of one eth_getProof (default 1,024). */
  maxProofKeys?: number;
  /**
   * Bytes a WebSocket client may leave unread (the socket's bufferedAmount) before the next
   * message disconnects it (default 16 MiB).
   */
  wsMaxQueuedBytes?: number;
  logger?: Logger;
  /** Metrics hook, called once per call of a known method. */
  onRequest?: (method: string, seconds: number, ok: boolean) => void;
  /** Metrics hook, called each time a cap refuses something or drops a slow client. */
  onLimit?: (limit: RpcLimit) => void;
};

/** Gauges for metrics, read on demand. */
export type RpcServerStats = {
  filters: number;
  subscriptions: number;
  wsConnections: number;
  /** Sum of the WebSocket connections' unsent bytes. */
  wsQueuedBytes: number;
};

export type RpcServer = {
  /** http://host:port */
  url: string;
  /** ws://host:port (empty when WebSocket is disabled). */
  wsUrl: string;
  port: number;
  /** Live filters, subscriptions and WebSocket send queues. */
  stats(): RpcServerStats;
  /** Stops listening and drops every HTTP and WebSocket connection. */
  close(): Promise<void>;
};

export const DEFAULT_BODY_LIMIT = 5 * 1024 * 1024;
// A slow WebSocket reader that lets this much pile up is cut off rather than buffered forever.
export const DEFAULT_WS_MAX_QUEUED_BYTES = 16 * 1024 * 1024;
// Past this many bytes of an oversized body we stop draining it politely and drop the socket.
const DRAIN_FACTOR = 4;

const JSON_CONTENT_TYPES = new Set(["application/json", "application/json-rpc", "application/jsonrequest"]);

function isJsonContentType(header: string): boolean {
  if (header === "application/json") return true;
  const semi = header.indexOf(";");
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return JSON_CONTENT_TYPES.has(type);
}

const TOO_LARGE_BODY = rpcErrorBody(RpcErrorCode.InvalidRequest, "request body too large");
const BAD_CONTENT_TYPE_BODY = rpcErrorBody(
  RpcErrorCode.InvalidRequest,
  "invalid content type, only application/json is supported",
);

/** The hostname of a Host header without its port; brackets of an IPv6 literal removed. */
export function hostHeaderName(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(":");
  // More than one colon without brackets: not host:port (Go's SplitHostPort fails; geth keeps it whole).
  if (colon === -1 || host.indexOf(":", colon + 1) !== -1) return host;
  return host.slice(0, colon);
}

/** geth's virtual-host rule: no Host, an IP address literal, "*" or a listed name. */
export function hostAllowed(host: string | undefined, vhosts: ReadonlySet<string>): boolean {
  if (host === undefined || host === "") return true;
  const name = hostHeaderName(host).toLowerCase();
  if (isIP(name) !== 0) return true;
  return vhosts.has("*") || vhosts.has(name);
}

type OriginRule = { scheme: string; hostname: string; port: string };

/** "http://a.example:3000", "a.example:3000", "a.example" → its parts; "" where the rule leaves one out. */
function parseOriginRule(origin: string): OriginRule | undefined {
  const lower = origin.trim().toLowerCase();
  const withScheme = lower.includes("://") ? lower : `placeholder://${lower}`;
  try {
    const u = new URL(withScheme);
    return {
      scheme: lower.includes("://") ? u.protocol.slice(0, -1) : "",
      hostname: u.hostname,
      port: u.port,
    };
  } catch {
    return undefined;
  }
}

/** geth's WebSocket origin rule (rpc/websocket.go wsHandshakeValidator). */
export function wsOriginChecker(allowed: readonly string[]): (origin: string | undefined) => boolean {
  if (allowed.includes("*")) return () => true;
  const list = allowed.filter((o) => o !== "");
  if (list.length === 0) list.push("http://localhost", `http://${osHostname()}`);
  const rules = list.map(parseOriginRule).filter((r): r is OriginRule => r !== undefined);
  return (origin) => {
    if (origin === undefined) return true; // not a browser
    const o = parseOriginRule(origin);
    if (o === undefined) return false;
    return rules.some(
      (r) =>
        (r.scheme === "" || r.scheme === o.scheme) &&
        (r.hostname === "" || r.hostname === o.hostname) &&
        (r.port === "" || r.port === o.port),
    );
  };
}

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const host = opts.host ?? "127.0.0.1";
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const logger = (opts.logger ?? silentLogger).child({ module: "rpc-server" });
  const corsAll = opts.cors?.includes("*") ?? false;
  const corsOrigins = opts.cors ? new Set(opts.cors) : undefined;
  const vhosts = new Set((opts.vhosts ?? ["localhost"]).map((h) => h.toLowerCase()));
  const wsOriginAllowed = wsOriginChecker(opts.wsOrigins ?? []);
  const handler = new RpcHandler({
    backend: opts.backend,
    batchLimit: opts.batchLimit,
    filterTimeoutMs: opts.filterTimeoutMs,
    maxFilters: opts.maxFilters,
    maxFiltersPerConnection: opts.maxFiltersPerConnection,
    filterMaxItems: opts.filterMaxItems,
    maxSubscriptionsPerConnection: opts.maxSubscriptionsPerConnection,
    maxProofKeys: opts.maxProofKeys,
    logger: opts.logger,
    onRequest: opts.onRequest,
    onLimit: opts.onLimit,
  });
  const wsMaxQueued = opts.wsMaxQueuedBytes ?? DEFAULT_WS_MAX_QUEUED_BYTES;

  function allowedOrigin(req: IncomingMessage): string | undefined {
    if (corsOrigins === undefined) return undefined;
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    if (corsAll) return "*";
    return corsOrigins.has(origin) ? origin : undefined;
  }

  function reply(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string | undefined,
    close = false,
  ): void {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = Buffer.byteLength(body);
    }
    const origin = allowedOrigin(req);
    if (origin !== undefined) {
      headers["access-control-allow-origin"] = origin;
      if (origin !== "*") headers.vary = "Origin";
    }
    if (close) headers.connection = "close";
    res.writeHead(status, headers);
    res.end(body);
  }

  function preflight(req: IncomingMessage, res: ServerResponse): void {
    const origin = allowedOrigin(req);
    const headers: Record<string, string> = {};
    if (origin !== undefined) {
      headers["access-control-allow-origin"] = origin;
      if (origin !== "*") headers.vary = "Origin";
      headers["access-control-allow-methods"] = "POST, GET, OPTIONS";
      headers["access-control-allow-headers"] =
        req.headers["access-control-request-headers"] ?? "content-type";
      headers["access-control-max-age"] = "600";
    }
    res.writeHead(204, headers);
    res.end();
  }

  function post(req: IncomingMessage, res: ServerResponse): void {
    const contentType = req.headers["content-type"];
    // A missing content type is tolerated (curl -d, load generators); a wrong one is not.
    if (contentType !== undefined && !isJsonContentType(contentType)) {
      req.resume();
      reply(req, res, 415, BAD_CONTENT_TYPE_BODY, true);
      return;
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > bodyLimit * DRAIN_FACTOR) {
      // Not worth draining: answer, then drop the socket once the answer is out.
      res.once("finish", () => req.socket.destroy());
      reply(req, res, 413, TOO_LARGE_BODY, true);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declared > bodyLimit;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge || size > bodyLimit) {
        // Keep reading (and discarding) so the client sees the 413 instead of a reset.
        tooLarge = true;
        chunks.length = 0;
        if (size > bodyLimit * DRAIN_FACTOR) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) {
        reply(req, res, 413, TOO_LARGE_BODY, true);
        return;
      }
      const body =
        chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks, size).toString("utf8");
      handler.handle(body, req.socket).then(
        (out) => reply(req, res, out === undefined ? 204 : 200, out),
        (err: unknown) => {
          logger.error("request failed", {}, err);
          reply(req, res, 500, rpcErrorBody(RpcErrorCode.Internal, "internal error"));
        },
      );
    });
    req.on("error", () => req.destroy());
  }

  const server = createServer((req, res) => {
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends Host: evil.example.
    if (!hostAllowed(req.headers.host, vhosts)) {
      req.resume();
      res.writeHead(403, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      res.end("invalid host specified\n");
      return;
    }
    switch (req.method) {
      case "POST":
        post(req, res);
        return;
      case "GET":
      case "HEAD":
        // Health probe.
        req.resume();
        reply(req, res, 200, undefined);
        return;
      case "OPTIONS":
        req.resume();
        preflight(req, res);
        return;
      default:
        req.resume();
        res.writeHead(405, { allow: "POST, GET, OPTIONS" });
        res.end();
    }
  });
  // Keep idle keep-alive connections longer than clients do (undici: 4 s, Go: 90 s), so the
  // server is never the side that closes a socket a client is about to reuse.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;

  let wss: WebSocketServer | undefined;
  if (opts.ws ?? true) {
    const ws = new WebSocketServer({ noServer: true, maxPayload: bodyLimit, perMessageDeflate: false });
    wss = ws;
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!wsOriginAllowed(req.headers.origin)) {
        socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      ws.handleUpgrade(req, socket, head, (conn) => onConnection(conn));
    });
  }

  function onConnection(conn: WebSocket): void {
    const session = handler.openSession((msg) => {
      if (conn.readyState !== conn.OPEN) return;
      // Measured before this message, so one large reply to a client that keeps up still goes out.
      if (conn.bufferedAmount > wsMaxQueued) {
        logger.warn("websocket client too slow, disconnecting", { queued: conn.bufferedAmount });
        opts.onLimit?.("ws_queue");
        conn.terminate();
        return;
      }
      conn.send(msg);
    });
    conn.on("message", (data, isBinary) => {
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Array.isArray(data)
          ? Buffer.concat(data).toString("utf8")
          : Buffer.from(data).toString("utf8");
      if (isBinary) logger.debug("binary websocket frame treated as text");
      session.handle(text).catch((err: unknown) => logger.error("websocket request failed", {}, err));
    });
    conn.on("close", () => session.close());
    conn.on("error", (err) => logger.debug("websocket error", { error: String(err) }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const url = `http://${hostPart}:${port}`;
  const wsUrl = wss ? `ws://${hostPart}:${port}` : "";
  logger.info("JSON-RPC server listening", { url, ws: wsUrl || false });

  let closing: Promise<void> | undefined;
  return {
    url,
    wsUrl,
    port,
    stats() {
      const { filters, subscriptions } = handler.stats();
      let wsConnections = 0;
      let wsQueuedBytes = 0;
      if (wss)
        for (const c of wss.clients) {
          wsConnections++;
          wsQueuedBytes += c.bufferedAmount;
        }
      return { filters, subscriptions, wsConnections, wsQueuedBytes };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        handler.close();
        if (wss) {
          for (const c of wss.clients) c.terminate();
          wss.close();
        }
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
