import { request as httpRequest } from "node:http";
import { bytesToHex } from "@meridian/primitives";
import { createPublicClient, http } from "viem";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type RpcServer, startRpcServer } from "../src/index.ts";
import { postRaw, type RpcReply, rpcHttp, TestBackend, TOKEN, TRANSFER_TOPIC } from "./helpers.ts";

let backend: TestBackend;
let server: RpcServer;

beforeEach(async () => {
  backend = new TestBackend();
  server = await startRpcServer({ backend, port: 0, bodyLimit: 64 * 1024, filterTimeoutMs: 60_000 });
});

afterEach(async () => {
  await server.close();
});

type Notification = {
  jsonrpc: "2.0";
  method: "eth_subscription";
  params: { subscription: string; result: unknown };
};

/** Minimal WebSocket JSON-RPC client: replies by id, notifications queued per subscription. */
class WsClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: RpcReply) => void>();
  readonly notifications: Notification[] = [];
  private notified: (() => void) | undefined;

  readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.method === "eth_subscription") {
        this.notifications.push(msg);
        this.notified?.();
      } else this.waiting.get(msg.id)?.(msg);
    });
  }

  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new WsClient(socket);
  }

  request(method: string, params: unknown[] = []): Promise<RpcReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  async waitFor(count: number, timeoutMs = 2000): Promise<Notification[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.notifications.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.notifications.length}/${count} notifications`);
      await new Promise<void>((r) => {
        this.notified = r;
        setTimeout(r, 20);
      });
    }
    return this.notifications.splice(0, count);
  }

  close(): void {
    this.socket.close();
  }
}

describe("HTTP transport", () => {
  it("serves JSON-RPC over POST and health probes over GET", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.wsUrl).toBe(server.url.replace("http", "ws"));
    expect(await rpcHttp(server.url, "eth_chainId")).toMatchObject({ result: "0x1ca3" });
    const res = await postRaw(server.url, '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}');
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe('{"jsonrpc":"2.0","id":1,"result":"0x1"}');
    expect((await fetch(server.url)).status).toBe(200);
    expect((await fetch(server.url, { method: "PUT" })).status).toBe(405);
  });

  it("answers malformed bodies and wrong content types with JSON-RPC errors", async () => {
    const bad = await postRaw(server.url, "{oops");
    expect(bad.status).toBe(200);
    expect(await bad.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32700, message: "parse error" },
    });
    const form = await postRaw(server.url, "{}", { "content-type": "text/plain" });
    expect(form.status).toBe(415);
    expect(((await form.json()) as RpcReply).error?.code).toBe(-32600);
  });

  it("rejects oversized bodies with 413 and a JSON-RPC error", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_call",
      params: [{ data: `0x${"00".repeat(70_000)}` }],
    });
    const res = await postRaw(server.url, big);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: "request body too large" },
    });
    // Still serving afterwards.
    expect(await rpcHttp(server.url, "eth_chainId")).toMatchObject({ result: "0x1ca3" });
  });

  it("rejects a chunked body that grows past the limit", async () => {
    const port = server.port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, method: "POST", headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      for (let i = 0; i < 20; i++) req.write("x".repeat(8 * 1024));
      req.end();
    });
    expect(status).toBe(413);
  });

  it("answers notifications with an empty 204", async () => {
    const one = await postRaw(server.url, '{"jsonrpc":"2.0","method":"eth_chainId"}');
    expect(one.status).toBe(204);
    expect(await one.text()).toBe("");
    const batch = await postRaw(server.url, '[{"jsonrpc":"2.0","method":"eth_chainId"}]');
    expect(batch.status).toBe(204);
  });

  it("returns batch replies in request order", async () => {
    const res = await postRaw(
      server.url,
      JSON.stringify([
        { jsonrpc: "2.0", id: 9, method: "eth_blockNumber" },
        { jsonrpc: "2.0", id: "x", method: "eth_chainId" },
      ]),
    );
    expect(await res.json()).toEqual([
      { jsonrpc: "2.0", id: 9, result: "0x1" },
      { jsonrpc: "2.0", id: "x", result: "0x1ca3" },
    ]);
  });

  it("refuses subscriptions over HTTP", async () => {
    expect((await rpcHttp(server.url, "eth_subscribe", ["newHeads"])).error).toEqual({
      code: -32601,
      message: "notifications not supported",
    });
  });

  it("sends no CORS headers unless configured", async () => {
    const res = await postRaw(server.url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', {
      "content-type": "application/json",
      origin: "http://app.example",
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS", () => {
  it("allows listed origins, answers preflight and ignores others", async () => {
    const s = await startRpcServer({ backend, port: 0, cors: ["http://app.example"] });
    try {
      const ok = await postRaw(s.url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', {
        "content-type": "application/json",
        origin: "http://app.example",
      });
      expect(ok.headers.get("access-control-allow-origin")).toBe("http://app.example");
      expect(ok.headers.get("vary")).toBe("Origin");
      const other = await postRaw(s.url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', {
        "content-type": "application/json",
        origin: "http://evil.example",
      });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const pre = await fetch(s.url, {
        method: "OPTIONS",
        headers: {
          origin: "http://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("http://app.example");
      expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
      expect(pre.headers.get("access-control-allow-headers")).toBe("content-type");
    } finally {
      await s.close();
    }
  });

  it("answers any origin with * when configured so", async () => {
    const s = await startRpcServer({ backend, port: 0, cors: ["*"], ws: false });
    try {
      expect(s.wsUrl).toBe("");
      const res = await postRaw(s.url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', {
        "content-type": "application/json",
        origin: "http://anything.example",
      });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    } finally {
      await s.close();
    }
  });
});

describe("WebSocket transport", () => {
  it("serves calls and newHeads subscriptions, and unsubscribes", async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      expect(await ws.request("eth_chainId")).toMatchObject({ result: "0x1ca3" });
      const sub = (await ws.request("eth_subscribe", ["newHeads"])).result as string;
      expect(sub).toMatch(/^0x[0-9a-f]{32}$/);
      const block = backend.mine([], true);
      const [n] = await ws.waitFor(1);
      expect(n.params.subscription).toBe(sub);
      expect(n.params.result).toMatchObject({
        number: "0x2",
        hash: bytesToHex(block.hash()),
        parentHash: bytesToHex(backend.blocks[1].hash()),
        baseFeePerGas: "0x3b9aca00",
      });
      expect(await ws.request("eth_unsubscribe", [sub])).toMatchObject({ result: true });
      expect((await ws.request("eth_unsubscribe", [sub])).error).toEqual({
        code: -32000,
        message: "subscription not found",
      });
      backend.mine([], true);
      await new Promise((r) => setTimeout(r, 50));
      expect(ws.notifications).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it("delivers only matching logs to a logs subscription", async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      const sub = (
        await ws.request("eth_subscribe", [
          "logs",
          { address: bytesToHex(TOKEN), topics: [bytesToHex(TRANSFER_TOPIC), `0x${"02".repeat(32)}`] },
        ])
      ).result as string;
      backend.mine([backend.signedTransfer(0), backend.signedTransfer(1), backend.signedTransfer(2)], true);
      const [n] = await ws.waitFor(1);
      expect(n.params.subscription).toBe(sub);
      expect(n.params.result).toMatchObject({ blockNumber: "0x2", transactionIndex: "0x1", removed: false });
      await new Promise((r) => setTimeout(r, 50));
      expect(ws.notifications).toEqual([]);
    } finally {
      ws.close();
    }
  });

  it("announces pending transactions as hashes or full objects", async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      const hashes = (await ws.request("eth_subscribe", ["newPendingTransactions"])).result as string;
      const full = (await ws.request("eth_subscribe", ["newPendingTransactions", true])).result as string;
      const tx = backend.signedTransfer(0);
      expect(await ws.request("eth_sendRawTransaction", [bytesToHex(tx.serialize())])).toMatchObject({
        result: bytesToHex(tx.hash()),
      });
      const got = await ws.waitFor(2);
      const bySub = new Map(got.map((n) => [n.params.subscription, n.params.result]));
      expect(bySub.get(hashes)).toBe(bytesToHex(tx.hash()));
      expect(bySub.get(full)).toMatchObject({ hash: bytesToHex(tx.hash()), blockHash: null, nonce: "0x0" });
    } finally {
      ws.close();
    }
  });

  it("rejects unknown subscription kinds and handles batches", async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      expect((await ws.request("eth_subscribe", ["syncing2"])).error).toEqual({
        code: -32601,
        message: 'no "syncing2" subscription in eth namespace',
      });
      const reply = await new Promise<unknown>((resolve) => {
        ws.socket.once("message", (d) => resolve(JSON.parse(d.toString())));
        ws.socket.send(
          '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]',
        );
      });
      expect(reply).toEqual([
        { jsonrpc: "2.0", id: 1, result: "0x1ca3" },
        { jsonrpc: "2.0", id: 2, result: "7331" },
      ]);
    } finally {
      ws.close();
    }
  });

  it("drops subscriptions when the socket closes", async () => {
    const ws = await WsClient.connect(server.wsUrl);
    await ws.request("eth_subscribe", ["newHeads"]);
    ws.close();
    await new Promise((r) => setTimeout(r, 50));
    backend.mine([], true); // must not throw into the backend
    const again = await WsClient.connect(server.wsUrl);
    expect(await again.request("eth_blockNumber")).toMatchObject({ result: "0x2" });
    again.close();
  });

  it("refuses foreign browser origins without an allow-list", async () => {
    const socket = new WebSocket(server.wsUrl, { origin: "http://evil.example" });
    const outcome = await new Promise<string>((resolve) => {
      socket.once("open", () => resolve("open"));
      socket.once("error", () => resolve("refused"));
    });
    expect(outcome).toBe("refused");
    const local = new WebSocket(server.wsUrl, { origin: "http://localhost:3000" });
    await new Promise((resolve, reject) => {
      local.once("open", resolve);
      local.once("error", reject);
    });
    local.close();
  });
});

describe("clients and lifecycle", () => {
  it("parses with viem's public client", async () => {
    const client = createPublicClient({ transport: http(server.url) });
    expect(await client.getChainId()).toBe(7331);
    expect(await client.getBlockNumber()).toBe(1n);
    expect(await client.getBalance({ address: bytesToHex(backend.sender) })).toBe(10n ** 21n);
    const block = await client.getBlock({ blockNumber: 1n, includeTransactions: true });
    expect(block.hash).toBe(bytesToHex(backend.head.hash()));
    expect(block.transactions).toHaveLength(4);
    expect(block.transactions[3].type).toBe("eip7702");
    expect(block.transactions[3].authorizationList?.[0].chainId).toBe(7331);
    const receipt = await client.getTransactionReceipt({ hash: bytesToHex(backend.minedTxs[2].hash()) });
    expect(receipt.status).toBe("success");
    expect(receipt.logs[0].blockTimestamp).toBeDefined();
    const logs = await client.getLogs({ address: bytesToHex(TOKEN), fromBlock: 0n, toBlock: "latest" });
    expect(logs).toHaveLength(4);
    await expect(client.call({ to: bytesToHex(TOKEN), data: "0x01" })).rejects.toThrow(/user error/);
    const fees = await client.getFeeHistory({ blockCount: 1, rewardPercentiles: [50] });
    expect(fees.baseFeePerGas).toEqual([1_000_000_000n, 1_000_000_000n]);
  });

  it("closes promptly with keep-alive and WebSocket clients attached", async () => {
    const s = await startRpcServer({ backend, port: 0 });
    const ws = await WsClient.connect(s.wsUrl);
    const closed = new Promise((r) => ws.socket.once("close", r));
    await rpcHttp(s.url, "eth_chainId"); // leaves an idle keep-alive socket
    const t0 = Date.now();
    await s.close();
    await closed;
    // Node's keep-alive timeout is 5 s: waiting it out would take that long; 3 s leaves room for a loaded CI.
    expect(Date.now() - t0).toBeLessThan(3000);
    await expect(rpcHttp(s.url, "eth_chainId")).rejects.toThrow();
    expect(backend.listenerCount("newHead")).toBe(1); // only `server`'s handler is left
  });
});
