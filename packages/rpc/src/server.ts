/**
 * HTTP (node:http, keep-alive) and WebSocket (ws, same port and path) transports
 * over RpcHandler.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type Logger, silentLogger } from "@meridian/primitives";
import { type WebSocket, WebSocketServer } from "ws";
import type { RpcBackend } from "./backend.ts";
import { RpcErrorCode } from "./errors.ts";
import { RpcHandler, rpcErrorBody } from "./handler.ts";

export type RpcServerOptions = {
  backend: RpcBackend;
  /** Interface to bind (default "127.0.0.1"). */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Allowed browser origins ("*" for any). Absent: no CORS headers at all. */
  cors?: string[];
  /** Most requests in one batch (default 1000). */
  batchLimit?: number;
  /** Largest request body / WebSocket message in bytes (default 5 MiB). */
  bodyLimit?: number;
  /** Serve WebSocket on the same port and path (default true). */
  ws?: boolean;
  /** Poll filters not polled for this long are dropped (default 5 minutes). */
  filterTimeoutMs?: number;
  logger?: Logger;
  /** Metrics hook, called once per call of a known method. */
  onRequest?: (method: string, seconds: number, ok: boolean) => void;
};

export type RpcServer = {
  /** http://host:port */
  url: string;
  /** ws://host:port (empty when WebSocket is disabled). */
  wsUrl: string;
  port: number;
  /** Stops listening and drops every HTTP and WebSocket connection. */
  close(): Promise<void>;
};

export const DEFAULT_BODY_LIMIT = 5 * 1024 * 1024;
// A slow WebSocket reader that lets this much pile up is cut off rather than buffered forever.
const MAX_WS_BUFFERED = 64 * 1024 * 1024;
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
const LOCAL_HOSTNAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const host = opts.host ?? "127.0.0.1";
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const logger = (opts.logger ?? silentLogger).child({ module: "rpc-server" });
  const corsAll = opts.cors?.includes("*") ?? false;
  const corsOrigins = opts.cors ? new Set(opts.cors) : undefined;
  const handler = new RpcHandler({
    backend: opts.backend,
    batchLimit: opts.batchLimit,
    filterTimeoutMs: opts.filterTimeoutMs,
    logger: opts.logger,
    onRequest: opts.onRequest,
  });

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
      handler.handle(body).then(
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
      if (!wsOriginAllowed(req)) {
        socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      ws.handleUpgrade(req, socket, head, (conn) => onConnection(conn));
    });
  }

  function wsOriginAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser
    if (corsAll || corsOrigins?.has(origin)) return true;
    // Without an allow-list, only same-host and localhost pages may open a socket (as geth does).
    try {
      const u = new URL(origin);
      return u.host === req.headers.host || (corsOrigins === undefined && LOCAL_HOSTNAMES.has(u.hostname));
    } catch {
      return false;
    }
  }

  function onConnection(conn: WebSocket): void {
    const session = handler.openSession((msg) => {
      if (conn.readyState !== conn.OPEN) return;
      if (conn.bufferedAmount > MAX_WS_BUFFERED) {
        logger.warn("websocket client too slow, disconnecting");
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
