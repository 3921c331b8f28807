/**
 * The RPC server on a real node process: no Host header but localhost's and IP addresses
 * (DNS rebinding), no WebSocket from a foreign page, ids echoed exactly, geth's answers to an
 * oversized batch, too many eth_getProof keys and malformed transactions; and caps on filters,
 * subscriptions and WebSocket send queues that keep the node's memory bounded under abuse.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { type Hex, maxUint256, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle, withLogs } from "../helpers/process.ts";
import { blockNumber, rpcRaw, sleep, waitForBlock } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

type Reply = { status: number; body: string };

/** One POST with full control of the headers (fetch does not let a test set Host). */
function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
  agent?: Agent,
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: "POST",
        path: "/",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...headers,
        },
        timeout: 30_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.end(body);
  });
}

/** Resolves with the HTTP status of a refused upgrade, or "open". */
function wsOutcome(url: string, origin: string): Promise<number | "open"> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin });
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", (e) => reject(e));
  });
}

const CHAIN_CALL = (id: string) => `{"jsonrpc":"2.0","id":${id},"method":"eth_chainId","params":[]}`;

let node: NodeHandle;

beforeAll(async () => {
  node = await startMeridian({ blockTimeMs: 250 });
}, 90_000);

afterAll(async () => {
  await cleanupAll();
});

describe("DNS rebinding and foreign pages", () => {
  it("serves localhost and IP-address hosts, refuses other Host headers with 403", async () => {
    const port = new URL(node.rpcUrl).port;
    const body = CHAIN_CALL("1");
    expect((await post(node.rpcUrl, body, { host: `localhost:${port}` })).status).toBe(200);
    expect((await post(node.rpcUrl, body, { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect((await post(node.rpcUrl, body, { host: `[::1]:${port}` })).status).toBe(200);
    const evil = await post(node.rpcUrl, body, { host: `rebind.evil.example:${port}` });
    expect(evil).toEqual({ status: 403, body: "invalid host specified\n" });
  });

  it("refuses a WebSocket from a foreign origin with 403, accepts localhost pages and non-browsers", async () => {
    expect(await wsOutcome(node.wsUrl, "http://evil.example")).toBe(403);
    expect(await wsOutcome(node.wsUrl, "http://localhost:5173")).toBe("open");
    const plain = new WebSocket(node.wsUrl);
    await new Promise((r, j) => {
      plain.once("open", r);
      plain.once("error", j);
    });
    plain.close();
  });
});

describe("geth's answers", () => {
  it("echoes request ids exactly as sent", async () => {
    for (const id of ["9007199254740993", "1e400", "1.0", "-0", "123456789012345678901234567890"]) {
      const r = await post(node.rpcUrl, CHAIN_CALL(id));
      expect(r.body).toBe(`{"jsonrpc":"2.0","id":${id},"result":"0x${MERIDIAN_CHAIN_ID.toString(16)}"}`);
    }
  });

  it("answers a batch over the limit with one error carrying the first call's id", async () => {
    const batch = `[${Array.from({ length: 1001 }, (_, i) => CHAIN_CALL(String(i + 5))).join(",")}]`;
    const r = await post(node.rpcUrl, batch);
    expect(r.body).toBe('[{"jsonrpc":"2.0","id":5,"error":{"code":-32600,"message":"batch too large"}}]');
  });

  it("caps eth_getProof storage keys at geth's 1024, quickly", async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `0x${i.toString(16).padStart(64, "0")}`);
    const t0 = Date.now();
    const r = await rpcRaw(node.rpcUrl, "eth_getProof", [`0x${"11".repeat(20)}`, keys, "latest"]);
    expect(r.error).toEqual({
      code: -32602,
      message: "too many storage keys requested (max 1024, got 20000)",
    });
    expect(Date.now() - t0).toBeLessThan(5_000);
    const ok = await rpcRaw(node.rpcUrl, "eth_getProof", [
      `0x${"11".repeat(20)}`,
      keys.slice(0, 1024),
      "latest",
    ]);
    expect(ok.error).toBeUndefined();
  }, 30_000);

  it("rejects odd transactions with geth's strings, no prefix and no library message", async () => {
    const account = privateKeyToAccount(DEV_KEYS[7]);
    const send = async (raw: string) => (await rpcRaw(node.rpcUrl, "eth_sendRawTransaction", [raw])).error;
    // gas * maxFeePerGas above 2^256-1: geth finds the cost unpayable.
    const overflow = await account.signTransaction({
      type: "eip1559",
      chainId: MERIDIAN_CHAIN_ID,
      to: account.address,
      gas: 21_000n,
      maxFeePerGas: maxUint256,
      maxPriorityFeePerGas: parseGwei("1"),
      nonce: 0,
    });
    expect(await send(overflow)).toEqual({
      code: -32000,
      message: "insufficient funds for gas * price + value",
    });
    // Envelope-level defects, checked before the signature (r = s = 1).
    const encode = (items: (Uint8Array | unknown[])[]): Uint8Array => encodeRlp(items);
    const chainId = bigBytes(BigInt(MERIDIAN_CHAIN_ID));
    const body = (nonce: Uint8Array, accessList: unknown[]) =>
      `0x02${Buffer.from(
        encode([
          chainId,
          nonce,
          bigBytes(1n),
          bigBytes(10n ** 10n),
          bigBytes(21_000n),
          new Uint8Array(20).fill(0x22),
          new Uint8Array(),
          new Uint8Array(),
          accessList,
          new Uint8Array(),
          bigBytes(1n),
          bigBytes(1n),
        ]),
      ).toString("hex")}` as Hex;
    expect(await send(body(bigBytes(2n ** 64n - 1n), []))).toEqual({
      code: -32000,
      message: "nonce has max value",
    });
    expect(await send(body(bigBytes(2n ** 64n), []))).toEqual({
      code: -32000,
      message: "rlp: input string too long for uint64, decoding into (types.DynamicFeeTx).Nonce",
    });
    expect(await send(body(new Uint8Array(), [new Uint8Array(20)]))).toEqual({
      code: -32000,
      message:
        "rlp: expected input list for types.AccessTuple, decoding into (types.DynamicFeeTx).AccessList[0]",
    });
    expect(await send("0x")).toEqual({ code: -32000, message: "typed transaction too short" });
  });

  it("answers odd eth_call requests with geth's strings, never an internal error", async () => {
    const call = async (req: Record<string, string>) =>
      (await rpcRaw(node.rpcUrl, "eth_call", [req, "latest"])).error;
    const from = privateKeyToAccount(DEV_KEYS[7]).address;
    // A creation of 0x60006000 needs 53,000 + 2 * 16 + 2 * 4 (calldata) + 2 for one init-code word (EIP-3860).
    expect(await call({ from, data: "0x60006000", gas: "0x0" })).toEqual({
      code: -32000,
      message: "intrinsic gas too low: have 0, want 53042",
    });
    expect(await call({ from, to: from, nonce: "0xffffffffffffffff" })).toEqual({
      code: -32000,
      message: `nonce has max value: address ${from.toLowerCase()}, nonce: 18446744073709551615`,
    });
  });
});

function bigBytes(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array();
  const hex = n.toString(16);
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
}

/** Minimal RLP encoder for the hand-built envelopes above (byte strings and nested lists). */
function encodeRlp(item: Uint8Array | unknown[]): Uint8Array {
  const header = (len: number, short: number, long: number): Uint8Array => {
    if (len < 56) return Uint8Array.of(short + len);
    const l = bigBytes(BigInt(len));
    return Uint8Array.of(long + l.length, ...l);
  };
  if (item instanceof Uint8Array) {
    if (item.length === 1 && item[0]! < 0x80) return item;
    return Buffer.concat([header(item.length, 0x80, 0xb7), item]);
  }
  const parts = item.map((i) => encodeRlp(i as Uint8Array | unknown[]));
  const payload = Buffer.concat(parts);
  return Buffer.concat([header(payload.length, 0xc0, 0xf7), payload]);
}

// ---- memory under abuse, on a node with small caps ----

/** A WebSocket client that subscribes and then never reads again (raw TCP, so nothing drains it). */
function stalledWsClient(port: number, messages: string[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
      socket.once("data", (head: Buffer) => {
        if (!head.toString("latin1").startsWith("HTTP/1.1 101")) {
          reject(new Error(`upgrade refused: ${head.toString("latin1").split("\r\n")[0]}`));
          return;
        }
        for (const m of messages) socket.write(maskedTextFrame(m));
        // From here on nothing is read: the server's queue for this client can only grow.
        socket.pause();
        resolve(socket);
      });
    });
  });
}

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x81, 0x80 | len])
      : len < 65_536
        ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), bigEndian64(len)]);
  // An all-zero masking key leaves the payload as it is.
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

function bigEndian64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("caps under abuse", () => {
  let capped: NodeHandle;
  beforeAll(async () => {
    const dir = await makeTempDir("meridian-caps-");
    const config = join(dir, "caps.toml");
    writeFileSync(
      config,
      [
        "[http]",
        'vhosts = ["meridian.test"]',
        "[ws]",
        "max_subscriptions = 200",
        "max_queued_bytes = 1048576",
        "[rpc]",
        "max_filters = 3000",
        "max_filters_per_connection = 2000",
        "",
      ].join("\n"),
    );
    capped = await startMeridian({ blockTimeMs: 50, extraArgs: ["--config", config] });
  }, 90_000);

  it("serves the configured virtual host only", async () => {
    const port = new URL(capped.rpcUrl).port;
    expect((await post(capped.rpcUrl, CHAIN_CALL("1"), { host: `meridian.test:${port}` })).status).toBe(200);
    expect((await post(capped.rpcUrl, CHAIN_CALL("1"), { host: `localhost:${port}` })).status).toBe(403);
  });

  it("refuses filters past the per-connection and the global cap, and counts them in metrics", async () => {
    await withLogs(capped, async () => {
      const newFilters = (n: number, agent: Agent) =>
        post(
          capped.rpcUrl,
          `[${Array.from({ length: n }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"eth_newBlockFilter"}`).join(",")}]`,
          {},
          agent,
        ).then((r) => JSON.parse(r.body) as { result?: string; error?: { code: number; message: string } }[]);
      const one = new Agent({ keepAlive: true, maxSockets: 1 });
      const two = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // Bounded probe: at most 5 batches of 500 per connection.
        const first: { result?: string; error?: { code: number; message: string } }[] = [];
        for (let i = 0; i < 5; i++) first.push(...(await newFilters(500, one)));
        expect(first.filter((r) => r.result).length).toBe(2000);
        expect(first.at(-1)?.error).toEqual({
          code: -32005,
          message: "too many filters on this connection (limit 2000)",
        });
        const second: typeof first = [];
        for (let i = 0; i < 3; i++) second.push(...(await newFilters(500, two)));
        expect(second.filter((r) => r.result).length).toBe(1000);
        expect(second.at(-1)?.error).toEqual({ code: -32005, message: "too many filters (limit 3000)" });
      } finally {
        one.destroy();
        two.destroy();
      }
      expect(await metric(capped.metricsUrl ?? "", "meridian_rpc_filters ")).toBe(3000);
      expect(
        await metric(capped.metricsUrl ?? "", 'meridian_rpc_limit_rejections_total{limit="filters"}'),
      ).toBe(500);
    });
  }, 60_000);

  it("disconnects WebSocket clients that stop reading; memory stays bounded and the node keeps serving", async () => {
    await withLogs(capped, async () => {
      const pid = capped.proc.pid ?? 0;
      const port = Number(new URL(capped.rpcUrl).port);
      // 200 newHeads subscriptions each (the cap), in one batch; one more is refused.
      const subscribe = `[${Array.from({ length: 201 }, (_, i) => `{"jsonrpc":"2.0","id":${i},"method":"eth_subscribe","params":["newHeads"]}`).join(",")}]`;
      const clients: Socket[] = [];
      for (let i = 0; i < 16; i++) clients.push(await stalledWsClient(port, [subscribe]));
      let peakMb = rssMb(pid);
      const deadline = Date.now() + 45_000;
      let dropped = 0;
      while (Date.now() < deadline) {
        await sleep(500);
        peakMb = Math.max(peakMb, rssMb(pid));
        dropped = await metric(
          capped.metricsUrl ?? "",
          'meridian_rpc_limit_rejections_total{limit="ws_queue"}',
        );
        if (dropped >= 16) break;
      }
      expect(dropped).toBe(16);
      expect(
        await metric(
          capped.metricsUrl ?? "",
          'meridian_rpc_limit_rejections_total{limit="subscriptions_per_connection"}',
        ),
      ).toBe(16);
      expect(await metric(capped.metricsUrl ?? "", "meridian_rpc_ws_connections ")).toBe(0);
      expect(peakMb).toBeLessThan(600);
      // Still serving, and still producing blocks.
      const n = await blockNumber(capped.rpcUrl);
      expect(await waitForBlock(capped.rpcUrl, n + 3n)).toBeGreaterThanOrEqual(n + 3n);
      for (const c of clients) c.destroy();
      process.stdout.write(
        `ws abuse probe: peak RSS ${peakMb.toFixed(0)} MB, ${dropped} slow clients dropped\n`,
      );
    });
  }, 90_000);
});
