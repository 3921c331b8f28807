import { bytesToHex, keccak256 } from "@meridian/primitives";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RpcHandler } from "../src/index.ts";
import {
  CHAIN_ID,
  OTHER_TOPIC,
  PANIC_DATA,
  REVERT_ERROR_DATA,
  type RpcReply,
  TestBackend,
  TOKEN,
  TRANSFER_TOPIC,
} from "./helpers.ts";

let backend: TestBackend;
let handler: RpcHandler;
let metrics: { method: string; seconds: number; ok: boolean }[];

beforeEach(() => {
  backend = new TestBackend();
  metrics = [];
  handler = new RpcHandler({
    backend,
    batchLimit: 5,
    filterTimeoutMs: 60_000,
    onRequest: (method, seconds, ok) => metrics.push({ method, seconds, ok }),
  });
});

afterEach(() => handler.close());

async function raw(body: string): Promise<unknown> {
  const out = await handler.handle(body);
  return out === undefined ? undefined : JSON.parse(out);
}

async function call(method: string, params?: unknown[]): Promise<RpcReply> {
  return (await raw(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }))) as RpcReply;
}

async function result(method: string, params?: unknown[]): Promise<unknown> {
  const r = await call(method, params);
  if (r.error) throw new Error(`${method} failed: ${r.error.code} ${r.error.message}`);
  return r.result;
}

async function error(
  method: string,
  params?: unknown[],
): Promise<{ code: number; message: string; data?: string }> {
  const r = await call(method, params);
  if (!r.error) throw new Error(`${method} unexpectedly succeeded: ${JSON.stringify(r.result)}`);
  return r.error;
}

const sender = () => bytesToHex(backend.sender);
const head = () => backend.head;
const ADDR = `0x${"ab".repeat(20)}`;

describe("envelope errors", () => {
  it("answers malformed JSON with -32700 and id null", async () => {
    expect(await handler.handle("{not json")).toBe(
      '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}',
    );
  });

  it("rejects non-objects, wrong versions and missing methods with -32600", async () => {
    for (const body of ["5", '"x"', "null", "true"]) {
      expect(await raw(body)).toEqual({
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "invalid request" },
      });
    }
    expect(await raw('{"jsonrpc":"1.0","id":7,"method":"eth_chainId"}')).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: { code: -32600, message: "invalid request" },
    });
    expect(await raw('{"id":7,"method":"eth_chainId"}')).toMatchObject({ id: 7, error: { code: -32600 } });
    expect(await raw('{"jsonrpc":"2.0","id":"a","method":5}')).toMatchObject({
      id: "a",
      error: { code: -32600 },
    });
    expect(await raw('{"jsonrpc":"2.0","id":{"x":1},"method":"eth_chainId"}')).toMatchObject({
      id: null,
      error: { code: -32600 },
    });
  });

  it("reports unknown methods with geth's message", async () => {
    expect(await error("eth_foo")).toEqual({
      code: -32601,
      message: "the method eth_foo does not exist/is not available",
    });
  });

  it("rejects non-array params", async () => {
    expect(await raw('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":{"a":1}}')).toMatchObject({
      error: { code: -32602, message: "non-array args" },
    });
  });

  it("sends nothing for notifications, but still runs them", async () => {
    expect(await handler.handle('{"jsonrpc":"2.0","method":"eth_chainId"}')).toBeUndefined();
    expect(await handler.handle('{"jsonrpc":"2.0","method":"eth_nope"}')).toBeUndefined();
    const tx = backend.signedTransfer(0);
    await handler.handle(
      JSON.stringify({
        jsonrpc: "2.0",
        method: "eth_sendRawTransaction",
        params: [bytesToHex(tx.serialize())],
      }),
    );
    expect(backend.pool.size).toBe(1);
    // id: null is a request, not a notification.
    expect(await raw('{"jsonrpc":"2.0","id":null,"method":"eth_chainId"}')).toEqual({
      jsonrpc: "2.0",
      id: null,
      result: "0x1ca3",
    });
  });
});

describe("batches", () => {
  it("answers in order with the caller's ids and skips notifications", async () => {
    const out = await raw(
      JSON.stringify([
        { jsonrpc: "2.0", id: "first", method: "eth_chainId" },
        { jsonrpc: "2.0", method: "eth_blockNumber" },
        { jsonrpc: "2.0", id: 2, method: "eth_nope" },
        5,
        { jsonrpc: "2.0", id: 3.5, method: "net_version" },
      ]),
    );
    expect(out).toEqual([
      { jsonrpc: "2.0", id: "first", result: "0x1ca3" },
      {
        jsonrpc: "2.0",
        id: 2,
        error: { code: -32601, message: "the method eth_nope does not exist/is not available" },
      },
      { jsonrpc: "2.0", id: null, error: { code: -32600, message: "invalid request" } },
      { jsonrpc: "2.0", id: 3.5, result: "7331" },
    ]);
  });

  it("rejects empty and oversized batches with one error", async () => {
    expect(await raw("[]")).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32600, message: "empty batch" },
    });
    // As geth: one error object in an array, with the id of the batch's first call.
    const six = Array.from({ length: 6 }, (_, i) => ({ jsonrpc: "2.0", id: i + 7, method: "eth_chainId" }));
    expect(await handler.handle(JSON.stringify(six))).toBe(
      '[{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"batch too large"}}]',
    );
    const notes = [{ jsonrpc: "2.0", method: "eth_chainId" }, ...six];
    expect(await handler.handle(JSON.stringify(notes))).toBe(
      '[{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"batch too large"}}]',
    );
  });

  it("sends nothing for a batch of notifications", async () => {
    expect(
      await handler.handle('[{"jsonrpc":"2.0","method":"eth_chainId"},{"jsonrpc":"2.0","method":"x"}]'),
    ).toBe(undefined);
  });
});

describe("parameter validation", () => {
  it("names the argument and the reason, geth style", async () => {
    expect(await error("eth_getBalance", ["abcd", "latest"])).toEqual({
      code: -32602,
      message: "invalid argument 0: hex string without 0x prefix",
    });
    expect((await error("eth_getBalance", [`0x${"ab".repeat(19)}`])).message).toBe(
      "invalid argument 0: hex string has length 38, want 40 for address",
    );
    expect((await error("eth_getBalance", [`0x${"zz".repeat(20)}`])).message).toBe(
      "invalid argument 0: invalid hex string",
    );
    expect((await error("eth_getBalance", [ADDR, "0x01"])).message).toBe(
      "invalid argument 1: hex number with leading zero digits",
    );
    expect((await error("eth_getBalance", [ADDR, "0x"])).message).toBe('invalid argument 1: hex string "0x"');
    expect((await error("eth_getBalance", [ADDR, 12])).message).toBe(
      "invalid argument 1: cannot unmarshal number into block number or hash",
    );
    expect((await error("eth_getBalance", [])).message).toBe("missing value for required argument 0");
    expect((await error("eth_getBalance", [ADDR, "latest", 1])).message).toBe(
      "too many arguments, want at most 2",
    );
    expect((await error("eth_sendRawTransaction", ["0xabc"])).message).toBe(
      "invalid argument 0: hex string of odd length",
    );
    expect((await error("eth_getTransactionByHash", [`0x${"00".repeat(31)}`])).message).toBe(
      "invalid argument 0: hex string has length 62, want 64 for hash",
    );
    expect((await error("eth_getBlockByNumber", ["0x1", "yes"])).message).toBe(
      "invalid argument 1: cannot unmarshal string into bool",
    );
    expect((await error("eth_call", [{ to: ADDR, gas: "0x10000000000000000" }])).message).toBe(
      "invalid argument 0: gas: hex number > 64 bits",
    );
    expect((await error("eth_call", [{ to: ADDR, value: `0x1${"0".repeat(64)}` }])).message).toBe(
      "invalid argument 0: value: hex number > 256 bits",
    );
    expect((await error("eth_call", [{ to: ADDR, input: "0x01", data: "0x02" }])).message).toContain(
      'both "data" and "input" are set and not equal',
    );
    expect((await error("eth_call", [{ to: ADDR, chainId: "0x1" }])).message).toBe(
      "invalid argument 0: chainId does not match node's (have=1, want=7331)",
    );
  });

  it("uses geth's storage key messages", async () => {
    expect(await error("eth_getStorageAt", [ADDR, "0xasdf", "latest"])).toEqual({
      code: -32602,
      message: 'invalid hex in storage key: "0xasdf"',
    });
    const long = `0x${"0".repeat(65)}`;
    expect((await error("eth_getStorageAt", [ADDR, long, "latest"])).message).toBe(
      `storage key too long (want at most 32 bytes): "${long}"`,
    );
  });

  it("never reaches the backend with bad input", async () => {
    backend.calls.length = 0;
    await error("eth_getBalance", ["0x12", "latest"]);
    await error("eth_call", [{ to: "0x12" }]);
    await error("eth_sendRawTransaction", ["nothex"]);
    await error("eth_getLogs", [{ topics: [[], [], [], [], []] }]);
    await error("eth_call", [{ to: ADDR }, "latest", { [ADDR]: { state: {}, stateDiff: {} } }]);
    expect(backend.calls).toEqual([]);
    expect(backend.pool.size).toBe(0);
  });
});

describe("formatting", () => {
  it("encodes quantities without leading zeros and data as even lowercase hex", async () => {
    expect(await result("eth_chainId")).toBe("0x1ca3");
    expect(await result("net_version")).toBe("7331");
    expect(await result("eth_blockNumber")).toBe("0x1");
    expect(await result("eth_getBalance", [sender(), "latest"])).toBe("0x3635c9adc5dea00000");
    expect(await result("eth_getBalance", [ADDR])).toBe("0x0");
    expect(await result("eth_getTransactionCount", [sender().toUpperCase().replace("0X", "0x")])).toBe("0x4");
    expect(await result("eth_getCode", [ADDR, "latest"])).toBe("0x");
    expect(await result("eth_getCode", [bytesToHex(TOKEN), "latest"])).toBe("0x6080604052");
    expect(await result("eth_getStorageAt", [ADDR, "0x0", "latest"])).toBe(`0x${"00".repeat(31)}2a`);
    expect(await result("web3_sha3", ["0x"])).toBe(bytesToHex(keccak256(new Uint8Array(0))));
    expect(await result("eth_gasPrice")).toBe("0x3b9aca07");
    expect(await result("net_peerCount")).toBe("0x3");
    expect(await result("net_listening")).toBe(true);
    expect(await result("eth_syncing")).toBe(false);
    expect(await result("eth_accounts")).toEqual([sender()]);
    expect(await result("web3_clientVersion")).toBe("Meridian/test/v0.1.0");
    expect(await result("meridian_nodeInfo")).toEqual({ chainId: 7331, head: 1, validator: true });
    expect(await result("rpc_modules")).toMatchObject({ eth: "1.0", net: "1.0", web3: "1.0" });
  });

  it("formats a Prague block with hashes and with full transactions", async () => {
    const block = head();
    const b = (await result("eth_getBlockByNumber", ["0x1", false])) as Record<string, unknown>;
    expect(Object.keys(b).sort()).toEqual(
      [
        "baseFeePerGas",
        "blobGasUsed",
        "difficulty",
        "excessBlobGas",
        "extraData",
        "gasLimit",
        "gasUsed",
        "hash",
        "logsBloom",
        "miner",
        "mixHash",
        "nonce",
        "number",
        "parentBeaconBlockRoot",
        "parentHash",
        "receiptsRoot",
        "requestsHash",
        "sha3Uncles",
        "size",
        "stateRoot",
        "timestamp",
        "totalDifficulty",
        "transactions",
        "transactionsRoot",
        "uncles",
        "withdrawals",
        "withdrawalsRoot",
      ].sort(),
    );
    expect(b).toMatchObject({
      number: "0x1",
      hash: bytesToHex(block.hash()),
      parentHash: bytesToHex(backend.blocks[0].hash()),
      nonce: "0x0000000000000000",
      miner: `0x${"99".repeat(20)}`,
      difficulty: "0x0",
      totalDifficulty: "0x0",
      extraData: "0x",
      size: `0x${block.serialize().length.toString(16)}`,
      gasLimit: "0x1c9c380",
      gasUsed: "0x14820",
      baseFeePerGas: "0x3b9aca00",
      blobGasUsed: "0x0",
      excessBlobGas: "0x0",
      uncles: [],
      withdrawals: [],
      transactions: backend.minedTxs.map((t) => bytesToHex(t.hash())),
    });
    expect(b.logsBloom).toMatch(/^0x0{512}$/);

    const full = (await result("eth_getBlockByHash", [bytesToHex(block.hash()), true])) as {
      transactions: Record<string, unknown>[];
    };
    const [legacy, al, dyn, setCode] = full.transactions;
    const loc = {
      blockHash: bytesToHex(block.hash()),
      blockNumber: "0x1",
      blockTimestamp: `0x${block.header.timestamp.toString(16)}`,
      from: sender(),
    };
    expect(legacy).toEqual({
      ...loc,
      gas: "0x5208",
      gasPrice: "0x3b9aca00",
      hash: bytesToHex(backend.minedTxs[0].hash()),
      input: "0x",
      nonce: "0x0",
      to: `0x${"22".repeat(20)}`,
      transactionIndex: "0x0",
      value: "0x1",
      type: "0x0",
      chainId: "0x1ca3",
      v: legacy.v,
      r: legacy.r,
      s: legacy.s,
    });
    expect(["0x3969", "0x396a"]).toContain(legacy.v); // 7331 * 2 + 35 + {0,1}
    expect(Object.keys(legacy)).not.toContain("yParity");
    expect(al).toMatchObject({
      type: "0x1",
      gasPrice: "0x59682f00",
      input: "0xabcdef",
      accessList: [{ address: `0x${"33".repeat(20)}`, storageKeys: [`0x${"00".repeat(31)}01`] }],
      chainId: "0x1ca3",
      transactionIndex: "0x1",
    });
    expect(al.yParity).toBe(al.v);
    expect(al).not.toHaveProperty("maxFeePerGas");
    // 1559 in a block: gasPrice is the effective price (base fee 1 gwei + 0.2 gwei tip).
    expect(dyn).toMatchObject({
      type: "0x2",
      to: null,
      gasPrice: "0x47868c00",
      maxFeePerGas: "0xb2d05e00",
      maxPriorityFeePerGas: "0xbebc200",
      accessList: [],
    });
    expect(setCode).toMatchObject({
      type: "0x4",
      gasPrice: "0x4190ab00", // capped at maxFeePerGas
      authorizationList: [
        {
          chainId: "0x1ca3",
          address: `0x${"55".repeat(20)}`,
          nonce: "0x0",
          yParity: "0x1",
          r: "0x1",
          s: "0x2",
        },
      ],
    });
    expect(Object.keys(setCode).slice(-4)).toEqual(["v", "r", "s", "yParity"]);
    for (const tx of full.transactions)
      for (const [k, v] of Object.entries(tx))
        if (typeof v === "string" && k !== "input")
          expect(v, k).toMatch(/^0x(0|[1-9a-f][0-9a-f]*|([0-9a-f]{2})+)$/);
  });

  it("returns null / zero for missing blocks, transactions and uncles", async () => {
    const zeroHash = `0x${"00".repeat(32)}`;
    expect(await result("eth_getBlockByNumber", ["0x99", true])).toBeNull();
    expect(await result("eth_getBlockByHash", [zeroHash, false])).toBeNull();
    expect(await result("eth_getTransactionByHash", [zeroHash])).toBeNull();
    expect(await result("eth_getTransactionReceipt", [zeroHash])).toBeNull();
    expect(await result("eth_getBlockReceipts", [zeroHash])).toBeNull();
    expect(await result("eth_getBlockReceipts", ["0x99"])).toBeNull();
    expect(await result("eth_getBlockTransactionCountByNumber", ["0x99"])).toBeNull();
    expect(await result("eth_getBlockTransactionCountByNumber", ["latest"])).toBe("0x4");
    expect(await result("eth_getBlockTransactionCountByHash", [bytesToHex(head().hash())])).toBe("0x4");
    expect(await result("eth_getUncleCountByBlockNumber", ["0x1"])).toBe("0x0");
    expect(await result("eth_getUncleCountByBlockNumber", ["0x99"])).toBeNull();
    expect(await result("eth_getUncleCountByBlockHash", [zeroHash])).toBeNull();
    expect(await result("eth_getUncleByBlockNumberAndIndex", ["0x1", "0x0"])).toBeNull();
    expect(await result("eth_getUncleByBlockHashAndIndex", [zeroHash, "0x0"])).toBeNull();
    expect(await result("eth_getTransactionByBlockNumberAndIndex", ["0x1", "0x9"])).toBeNull();
  });

  it("formats transactions by hash/index and receipts with logs", async () => {
    const tx = backend.minedTxs[2];
    const byHash = await result("eth_getTransactionByHash", [bytesToHex(tx.hash())]);
    const byIndex = await result("eth_getTransactionByBlockNumberAndIndex", ["latest", "0x2"]);
    const byBlockHash = await result("eth_getTransactionByBlockHashAndIndex", [
      bytesToHex(head().hash()),
      "0x2",
    ]);
    expect(byIndex).toEqual(byHash);
    expect(byBlockHash).toEqual(byHash);

    const receipt = (await result("eth_getTransactionReceipt", [bytesToHex(tx.hash())])) as Record<
      string,
      unknown
    >;
    expect(receipt).toEqual({
      blockHash: bytesToHex(head().hash()),
      blockNumber: "0x1",
      blockTimestamp: `0x${head().header.timestamp.toString(16)}`,
      contractAddress: `0x${"cc".repeat(20)}`,
      cumulativeGasUsed: "0xf618",
      effectiveGasPrice: "0x3b9aca00",
      from: sender(),
      gasUsed: "0x5208",
      logs: [
        {
          address: bytesToHex(TOKEN),
          topics: [bytesToHex(TRANSFER_TOPIC), `0x${"03".repeat(32)}`],
          data: `0x${"07".repeat(32)}`,
          blockNumber: "0x1",
          transactionHash: bytesToHex(tx.hash()),
          transactionIndex: "0x2",
          blockHash: bytesToHex(head().hash()),
          blockTimestamp: `0x${head().header.timestamp.toString(16)}`,
          logIndex: "0x2",
          removed: false,
        },
      ],
      logsBloom: `0x${"00".repeat(256)}`,
      status: "0x1",
      to: null,
      transactionHash: bytesToHex(tx.hash()),
      transactionIndex: "0x2",
      type: "0x2",
    });
    const failed = (await result("eth_getTransactionReceipt", [bytesToHex(backend.minedTxs[1].hash())])) as {
      status: string;
      contractAddress: unknown;
    };
    expect(failed.status).toBe("0x0");
    expect(failed.contractAddress).toBeNull();
    const all = (await result("eth_getBlockReceipts", ["latest"])) as unknown[];
    expect(all).toHaveLength(4);
    expect(all[2]).toEqual(receipt);
    expect(await result("eth_getBlockReceipts", [{ blockHash: bytesToHex(head().hash()) }])).toEqual(all);
    expect(await result("eth_getBlockReceipts", ["earliest"])).toEqual([]);
  });

  it("formats proofs, fee history, access lists and the pool", async () => {
    expect(await result("eth_getProof", [ADDR, ["0x1"], "latest"])).toEqual({
      address: ADDR,
      accountProof: ["0xf801"],
      balance: "0x5",
      codeHash: `0x${"c5".repeat(32)}`,
      nonce: "0x1",
      storageHash: `0x${"56".repeat(32)}`,
      storageProof: [{ key: `0x${"00".repeat(31)}01`, value: "0x0", proof: [] }],
    });
    expect(await result("eth_feeHistory", [2, "latest", [25, 75]])).toEqual({
      oldestBlock: "0x1",
      baseFeePerGas: ["0x3b9aca00", "0x3b9aca00"],
      gasUsedRatio: [0.5],
      baseFeePerBlobGas: ["0x1", "0x1"],
      blobGasUsedRatio: [0],
      reward: [["0x1", "0x1"]],
    });
    await result("eth_feeHistory", ["0x800", "0x1"]);
    expect(backend.calls.at(-1)).toEqual({ method: "feeHistory", args: [1024, { number: 1n }, undefined] });
    expect((await error("eth_feeHistory", ["0x1", "latest", [50, 10]])).message).toBe(
      "invalid argument 2: invalid reward percentiles: #0:50 > #1:10",
    );
    expect((await error("eth_feeHistory", ["0x1", "latest", [101]])).code).toBe(-32602);
    expect(await error("eth_feeHistory", ["0x1", "0x5"])).toEqual({
      code: -32000,
      message: "request beyond head block: requested 5, head 1",
    });
    expect(await result("eth_createAccessList", [{ to: ADDR, data: "0x01" }])).toEqual({
      accessList: [{ address: bytesToHex(TOKEN), storageKeys: [`0x${"00".repeat(32)}`] }],
      error: "execution reverted",
      gasUsed: "0x7530",
    });

    const tx = backend.signedTransfer(0);
    expect(await result("eth_sendRawTransaction", [bytesToHex(tx.serialize())])).toBe(bytesToHex(tx.hash()));
    expect(await result("txpool_status")).toEqual({ pending: "0x1", queued: "0x0" });
    const from = bytesToHex(tx.getSenderAddress().bytes);
    const content = (await result("txpool_content")) as { pending: Record<string, Record<string, unknown>> };
    expect(content.pending[from]["0"]).toMatchObject({
      blockHash: null,
      blockNumber: null,
      transactionIndex: null,
      from,
      gasPrice: "0x77359400", // maxFeePerGas while pending
      hash: bytesToHex(tx.hash()),
    });
    expect(await result("eth_getTransactionByHash", [bytesToHex(tx.hash())])).toMatchObject({
      blockHash: null,
    });
  });
});

describe("block parameters", () => {
  it("maps tags, numbers, bare hashes and EIP-1898 objects to selectors", async () => {
    const hash = bytesToHex(head().hash());
    const cases: [unknown, unknown][] = [
      [undefined, { tag: "latest" }],
      ["latest", { tag: "latest" }],
      ["pending", { tag: "pending" }],
      ["safe", { tag: "safe" }],
      ["finalized", { tag: "finalized" }],
      ["earliest", { tag: "earliest" }],
      ["0x0", { number: 0n }],
      ["0x1", { number: 1n }],
      [hash, { hash: head().hash() }],
      [{ blockHash: hash }, { hash: head().hash() }],
      [
        { blockHash: hash, requireCanonical: true },
        { hash: head().hash(), requireCanonical: true },
      ],
      [{ blockNumber: "0x1" }, { number: 1n }],
      [{ blockNumber: "safe" }, { tag: "safe" }],
    ];
    for (const [param, selector] of cases) {
      backend.calls.length = 0;
      await result("eth_getBalance", param === undefined ? [ADDR] : [ADDR, param]);
      const call = backend.calls.find((c) => c.method === "getBalance");
      expect(call?.args[1], JSON.stringify(param)).toEqual(selector);
    }
  });

  it("rejects state queries past the head or at unknown hashes like geth", async () => {
    backend.calls.length = 0;
    expect(await error("eth_getBalance", [ADDR, "0x2"])).toEqual({
      code: -32000,
      message: "header not found",
    });
    expect(await error("eth_call", [{ to: ADDR }, { blockNumber: "0x5" }])).toEqual({
      code: -32000,
      message: "header not found",
    });
    expect(await error("eth_getCode", [ADDR, { blockHash: `0x${"11".repeat(32)}` }])).toEqual({
      code: -32000,
      message: "header for hash not found",
    });
    expect(backend.calls.map((c) => c.method)).toEqual(["getBlock"]);
    expect(
      (await error("eth_getBalance", [ADDR, { blockHash: `0x${"11".repeat(32)}`, blockNumber: "0x1" }]))
        .message,
    ).toBe("invalid argument 1: cannot specify both BlockHash and BlockNumber, choose one or the other");
    expect((await error("eth_getBalance", [ADDR, "0x8000000000000000"])).message).toBe(
      "invalid argument 1: block number larger than int64",
    );
    expect((await error("eth_getBalance", [ADDR, "newest"])).message).toBe(
      "invalid argument 1: hex string without 0x prefix",
    );
  });
});

describe("execution errors", () => {
  it("returns code 3 with decoded reason and revert data for eth_call", async () => {
    expect(await error("eth_call", [{ to: ADDR, input: "0x01" }, "latest"])).toEqual({
      code: 3,
      message: "execution reverted: user error",
      data: bytesToHex(REVERT_ERROR_DATA),
    });
    expect(await error("eth_call", [{ to: ADDR, input: "0x02" }])).toEqual({
      code: 3,
      message: "execution reverted: assert(false)",
      data: bytesToHex(PANIC_DATA),
    });
    expect(await error("eth_call", [{ to: ADDR, input: "0x03" }])).toEqual({
      code: -32000,
      message: "out of gas",
    });
    expect(await result("eth_call", [{ to: ADDR, input: "0xaabb" }, "latest"])).toBe("0xaabb");
  });

  it("returns code 3 for eth_estimateGas reverts", async () => {
    expect(await error("eth_estimateGas", [{ to: ADDR, data: "0x01" }])).toEqual({
      code: 3,
      message: "execution reverted: user error",
      data: bytesToHex(REVERT_ERROR_DATA),
    });
    expect(await result("eth_estimateGas", [{ from: sender(), to: ADDR, value: "0x1" }])).toBe("0x5208");
  });

  it("passes parsed call requests and state overrides to the backend", async () => {
    const upper = `0x${"AB".repeat(20)}`;
    await result("eth_call", [
      {
        from: sender(),
        to: ADDR,
        gas: "0x5208",
        maxFeePerGas: "0x10",
        maxPriorityFeePerGas: "0x1",
        value: "0x0",
        nonce: "0x7",
        input: "0xaa",
        accessList: [{ address: ADDR, storageKeys: [`0x${"00".repeat(32)}`] }],
        type: "0x2",
      },
      "latest",
      {
        [upper]: {
          balance: "0x64",
          nonce: "0x1",
          code: "0x00",
          stateDiff: { [`0x${"00".repeat(32)}`]: `0x${"00".repeat(31)}01` },
        },
      },
    ]);
    const c = backend.calls.find((x) => x.method === "call")!;
    const [req, at, overrides] = c.args as [
      Record<string, unknown>,
      unknown,
      Map<string, Record<string, unknown>>,
    ];
    expect(req).toMatchObject({
      gas: 21000n,
      maxFeePerGas: 16n,
      maxPriorityFeePerGas: 1n,
      nonce: 7n,
      type: 2,
    });
    expect(bytesToHex(req.data as Uint8Array)).toBe("0xaa");
    expect(at).toEqual({ tag: "latest" });
    const o = overrides.get(ADDR)!;
    expect(o.balance).toBe(100n);
    expect((o.stateDiff as Map<string, Uint8Array>).get(`0x${"00".repeat(32)}`)?.[31]).toBe(1);
  });

  it("passes mempool rejections through verbatim as -32000", async () => {
    const tx = backend.signedTransfer(0);
    const raw = bytesToHex(tx.serialize());
    await result("eth_sendRawTransaction", [raw]);
    expect(await error("eth_sendRawTransaction", [raw])).toEqual({ code: -32000, message: "already known" });
    backend.nonces.set(bytesToHex(tx.getSenderAddress().bytes), 5n);
    const stale = bytesToHex(backend.signedTransfer(1).serialize());
    expect(await error("eth_sendRawTransaction", [stale])).toEqual({
      code: -32000,
      message: "nonce too low",
    });
  });

  it("hides unexpected backend failures behind -32603", async () => {
    backend.getBalance = async () => {
      throw new TypeError("boom at line 12");
    };
    expect(await error("eth_getBalance", [ADDR])).toEqual({ code: -32603, message: "internal error" });
  });

  it("traces known transactions only", async () => {
    expect(await error("debug_traceTransaction", [`0x${"00".repeat(32)}`])).toEqual({
      code: -32000,
      message: "transaction not found",
    });
    const hash = bytesToHex(backend.minedTxs[0].hash());
    expect(
      await result("debug_traceTransaction", [
        hash,
        { tracer: "callTracer", tracerConfig: { onlyTopCall: true } },
      ]),
    ).toMatchObject({ type: "CALL" });
    expect(backend.calls.at(-1)?.args[1]).toEqual({ tracer: "callTracer", onlyTopCall: true });
    // A result that is JSON text already goes into the response as is, with the timeout parsed.
    expect(await result("debug_traceTransaction", [hash, { timeout: "1.5s" }])).toEqual({
      gas: 21000,
      failed: false,
      returnValue: "0x",
      structLogs: [],
    });
    expect(backend.calls.at(-1)?.args[1]).toEqual({ timeoutMs: 1500 });
    // geth's answer for a tracer it does not know.
    expect(await error("debug_traceTransaction", [hash, { tracer: "nopeTracer" }])).toMatchObject({
      code: -32000,
      message: "tracer not found",
    });
  });
});

describe("eth_getLogs", () => {
  const topic = bytesToHex(TRANSFER_TOPIC);

  it("filters by range, address and topics with OR and null", async () => {
    backend.mine([], false);
    const all = (await result("eth_getLogs", [{ fromBlock: "0x0", toBlock: "latest" }])) as unknown[];
    expect(all).toHaveLength(4);
    const one = (await result("eth_getLogs", [
      {
        fromBlock: "earliest",
        address: [bytesToHex(TOKEN)],
        topics: [topic, [`0x${"02".repeat(32)}`, `0x${"04".repeat(32)}`]],
      },
    ])) as { logIndex: string }[];
    expect(one.map((l) => l.logIndex)).toEqual(["0x1", "0x3"]);
    expect(
      await result("eth_getLogs", [{ fromBlock: "0x0", topics: [null, [null, `0x${"02".repeat(32)}`]] }]),
    ).toHaveLength(4);
    expect(await result("eth_getLogs", [{ fromBlock: "0x0", topics: [bytesToHex(OTHER_TOPIC)] }])).toEqual(
      [],
    );
    // Default range is latest..latest: block 2 has no logs.
    expect(await result("eth_getLogs", [{}])).toEqual([]);
    const byHash = await result("eth_getLogs", [{ blockHash: bytesToHex(backend.blocks[1].hash()) }]);
    expect(byHash).toHaveLength(4);
  });

  it("reports range errors like execution-apis", async () => {
    expect(await error("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x5" }])).toEqual({
      code: -32602,
      message: "block range extends beyond current head block",
    });
    expect(await error("eth_getLogs", [{ fromBlock: "0x5", toBlock: "latest" }])).toEqual({
      code: -32602,
      message: "invalid block range params",
    });
    expect(await error("eth_getLogs", [{ blockHash: `0x${"11".repeat(32)}`, fromBlock: "0x1" }])).toEqual({
      code: -32602,
      message:
        "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
    });
    expect(await error("eth_getLogs", [{ blockHash: `0x${"11".repeat(32)}` }])).toEqual({
      code: -32000,
      message: "unknown block",
    });
    expect((await error("eth_getLogs", [{ topics: [1] }])).message).toBe(
      "invalid argument 0: topics: cannot unmarshal number",
    );
  });

  it("maps the backend's limit errors to -32005", async () => {
    backend.maxLogRange = 0n;
    expect(await error("eth_getLogs", [{ fromBlock: "0x0", toBlock: "0x1" }])).toEqual({
      code: -32005,
      message: "block range too large (max 0)",
    });
  });
});

describe("poll filters", () => {
  it("collects new block hashes, logs and pending transactions between polls", async () => {
    const blockFilter = (await result("eth_newBlockFilter")) as string;
    const logFilter = (await result("eth_newFilter", [
      { address: bytesToHex(TOKEN), topics: [null, `0x${"01".repeat(32)}`] },
    ])) as string;
    const pendingFilter = (await result("eth_newPendingTransactionFilter")) as string;
    expect(blockFilter).toMatch(/^0x[0-9a-f]{32}$/);

    const b2 = backend.mine([backend.signedTransfer(0), backend.signedTransfer(1)], true);
    const b3 = backend.mine([], true);
    expect(await result("eth_getFilterChanges", [blockFilter])).toEqual([
      bytesToHex(b2.hash()),
      bytesToHex(b3.hash()),
    ]);
    expect(await result("eth_getFilterChanges", [blockFilter])).toEqual([]);
    const logs = (await result("eth_getFilterChanges", [logFilter])) as {
      blockNumber: string;
      transactionIndex: string;
    }[];
    expect(logs.map((l) => [l.blockNumber, l.transactionIndex])).toEqual([["0x2", "0x0"]]);
    // eth_getFilterLogs re-queries the whole range (latest only, by default).
    expect(await result("eth_getFilterLogs", [logFilter])).toEqual([]);

    const tx = backend.signedTransfer(0);
    await result("eth_sendRawTransaction", [bytesToHex(tx.serialize())]);
    expect(await result("eth_getFilterChanges", [pendingFilter])).toEqual([bytesToHex(tx.hash())]);

    expect(await result("eth_uninstallFilter", [blockFilter])).toBe(true);
    expect(await result("eth_uninstallFilter", [blockFilter])).toBe(false);
    expect(await error("eth_getFilterChanges", [blockFilter])).toEqual({
      code: -32000,
      message: "filter not found",
    });
    expect(await error("eth_getFilterLogs", [pendingFilter])).toEqual({
      code: -32000,
      message: "filter not found",
    });
  });

  it("honours explicit block ranges in log filters", async () => {
    const id = (await result("eth_newFilter", [{ fromBlock: "0x3", toBlock: "0x3" }])) as string;
    backend.mine([backend.signedTransfer(0)], true); // block 2: outside
    backend.mine([backend.signedTransfer(1)], true); // block 3: inside
    const logs = (await result("eth_getFilterChanges", [id])) as { blockNumber: string }[];
    expect(logs.map((l) => l.blockNumber)).toEqual(["0x3"]);
    expect(((await result("eth_getFilterLogs", [id])) as unknown[]).length).toBe(1);
  });

  it("drops filters that are not polled within the timeout", async () => {
    // Wide margins (polls every 200 ms against a 1 s timeout): a loaded CI machine can delay a
    // 20 ms timer past a 40 ms timeout.
    const short = new RpcHandler({ backend, filterTimeoutMs: 1000 });
    try {
      const req = (method: string, params: unknown[] = []) =>
        short
          .handle(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }))
          .then((s) => JSON.parse(s!) as RpcReply);
      const kept = (await req("eth_newBlockFilter")).result as string;
      const dropped = (await req("eth_newBlockFilter")).result as string;
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 200));
        expect((await req("eth_getFilterChanges", [kept])).error).toBeUndefined();
      }
      expect((await req("eth_getFilterChanges", [dropped])).error).toEqual({
        code: -32000,
        message: "filter not found",
      });
    } finally {
      short.close();
    }
  });
});

describe("misc", () => {
  it("refuses subscriptions without a session", async () => {
    expect(await error("eth_subscribe", ["newHeads"])).toEqual({
      code: -32601,
      message: "notifications not supported",
    });
    expect((await error("eth_unsubscribe", ["0x1"])).code).toBe(-32601);
  });

  it("reports each known call to the metrics hook", async () => {
    await result("eth_chainId");
    await error("eth_getBalance", ["0x1"]);
    await error("eth_bogus");
    expect(metrics.map((m) => [m.method, m.ok])).toEqual([
      ["eth_chainId", true],
      ["eth_getBalance", false],
    ]);
    expect(metrics[0].seconds).toBeGreaterThanOrEqual(0);
  });

  it("lists every required method and stops listening on close", () => {
    const required = [
      "web3_clientVersion",
      "web3_sha3",
      "net_version",
      "net_listening",
      "net_peerCount",
      "eth_chainId",
      "eth_syncing",
      "eth_blockNumber",
      "eth_accounts",
      "eth_getBalance",
      "eth_getTransactionCount",
      "eth_getCode",
      "eth_getStorageAt",
      "eth_getProof",
      "eth_call",
      "eth_estimateGas",
      "eth_createAccessList",
      "eth_gasPrice",
      "eth_maxPriorityFeePerGas",
      "eth_feeHistory",
      "eth_blobBaseFee",
      "eth_sendRawTransaction",
      "eth_getTransactionByHash",
      "eth_getTransactionByBlockHashAndIndex",
      "eth_getTransactionByBlockNumberAndIndex",
      "eth_getTransactionReceipt",
      "eth_getBlockByNumber",
      "eth_getBlockByHash",
      "eth_getBlockReceipts",
      "eth_getBlockTransactionCountByNumber",
      "eth_getBlockTransactionCountByHash",
      "eth_getUncleCountByBlockNumber",
      "eth_getUncleCountByBlockHash",
      "eth_getUncleByBlockNumberAndIndex",
      "eth_getUncleByBlockHashAndIndex",
      "eth_getLogs",
      "eth_newFilter",
      "eth_newBlockFilter",
      "eth_newPendingTransactionFilter",
      "eth_getFilterChanges",
      "eth_getFilterLogs",
      "eth_uninstallFilter",
      "eth_subscribe",
      "eth_unsubscribe",
      "txpool_status",
      "txpool_content",
      "debug_traceTransaction",
      "meridian_nodeInfo",
      "meridian_status",
      "rpc_modules",
    ];
    expect(handler.methodNames.sort()).toEqual(required.sort());
    expect(backend.listenerCount("newHead")).toBe(1);
    handler.close();
    expect(backend.listenerCount("newHead")).toBe(0);
    expect(backend.listenerCount("logs")).toBe(0);
    expect(CHAIN_ID).toBe(7331n);
  });
});
