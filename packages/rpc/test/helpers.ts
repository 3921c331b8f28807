/**
 * In-memory RpcBackend built from real @ethereumjs objects: a test double for the
 * node, good enough to exercise every wire format and error path of the server.
 */
import { EventEmitter } from "node:events";
import { type Block, createBlock } from "@ethereumjs/block";
import { type Common, createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import {
  createAccessList2930Tx,
  createEOACode7702Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
  createTxFromRLP,
  type TypedTransaction,
} from "@ethereumjs/tx";
import { bytesToHex, equalBytes, hexToBytes, keccak256, MeridianError } from "@meridian/primitives";
import type {
  AccountProof,
  BackendEvents,
  BlockSelector,
  CallRequest,
  CallResult,
  FeeHistory,
  LogFilter,
  RpcBackend,
  RpcLog,
  RpcReceipt,
  StateOverride,
  SyncStatus,
  TraceOptions,
  TransactionWithLocation,
  TxPoolContent,
} from "../src/index.ts";
import { RawJson } from "../src/index.ts";

export const CHAIN_ID = 7331n;
export const KEY = new Uint8Array(32).fill(1);
export const KEY2 = new Uint8Array(32).fill(2);
export const TOKEN = hexToBytes(`0x${"c0".repeat(20)}`);
export const TRANSFER_TOPIC = keccak256(new TextEncoder().encode("Transfer(address,address,uint256)"));
export const OTHER_TOPIC = keccak256(new TextEncoder().encode("Other()"));
export const REVERT_ERROR_DATA = hexToBytes(
  "0x08c379a00000000000000000000000000000000000000000000000000000000000000020000000000000000000000000000000000000000000000000000000000000000a75736572206572726f72",
);
export const PANIC_DATA = hexToBytes(
  "0x4e487b710000000000000000000000000000000000000000000000000000000000000001",
);

export function makeCommon(): Common {
  return createCustomCommon({ chainId: Number(CHAIN_ID) }, Mainnet, { hardfork: Hardfork.Prague });
}

const addr = (b: number) => `0x${b.toString(16).padStart(2, "0").repeat(20)}` as const;

export type CallLog = { method: string; args: unknown[] };

export class TestBackend implements RpcBackend {
  readonly chainId = CHAIN_ID;
  readonly clientVersion = "Meridian/test/v0.1.0";
  readonly common = makeCommon();
  readonly blocks: Block[] = [];
  readonly receipts = new Map<string, RpcReceipt[]>();
  readonly pool = new Map<string, TypedTransaction>();
  readonly calls: CallLog[] = [];
  readonly sender: Uint8Array;
  balances = new Map<string, bigint>();
  nonces = new Map<string, bigint>();
  /** Set to make getLogs refuse large ranges like the node does. */
  maxLogRange = 10_000n;
  private readonly events = new EventEmitter();
  private readonly txs: TypedTransaction[];

  constructor() {
    const common = this.common;
    const legacy = createLegacyTx(
      { nonce: 0, gasPrice: 1_000_000_000n, gasLimit: 21_000, to: addr(0x22), value: 1n },
      { common },
    ).sign(KEY);
    this.sender = legacy.getSenderAddress().bytes;
    const al = createAccessList2930Tx(
      {
        nonce: 1,
        gasPrice: 1_500_000_000n,
        gasLimit: 60_000,
        to: addr(0x33),
        data: "0xabcdef",
        accessList: [{ address: addr(0x33), storageKeys: [`0x${"00".repeat(31)}01`] }],
      },
      { common },
    ).sign(KEY);
    const dyn = createFeeMarket1559Tx(
      {
        nonce: 2,
        maxFeePerGas: 3_000_000_000n,
        maxPriorityFeePerGas: 200_000_000n,
        gasLimit: 100_000,
        data: "0x60806040",
      },
      { common },
    ).sign(KEY);
    const setCode = createEOACode7702Tx(
      {
        nonce: 3,
        // base fee 1 gwei + tip 0.5 gwei exceeds the 1.1 gwei cap: effective price is the cap
        maxFeePerGas: 1_100_000_000n,
        maxPriorityFeePerGas: 500_000_000n,
        gasLimit: 80_000,
        to: addr(0x44),
        authorizationList: [
          { chainId: "0x1ca3", address: addr(0x55), nonce: "0x0", yParity: "0x1", r: "0x01", s: "0x02" },
        ],
      },
      { common },
    ).sign(KEY);
    this.txs = [legacy, al, dyn, setCode];

    const genesis = createBlock(
      {
        header: {
          number: 0n,
          gasLimit: 30_000_000n,
          baseFeePerGas: 1_000_000_000n,
          timestamp: 1_700_000_000n,
        },
      },
      { common },
    );
    this.blocks.push(genesis);
    this.receipts.set(bytesToHex(genesis.hash()), []);
    this.mine(this.txs);
    this.balances.set(bytesToHex(this.sender), 10n ** 21n);
    this.nonces.set(bytesToHex(this.sender), 4n);
  }

  get head(): Block {
    return this.blocks[this.blocks.length - 1];
  }

  /** Appends a block with `txs`, makes receipts (one Transfer log per tx to TOKEN) and emits events. */
  mine(txs: TypedTransaction[] = [], emit = false): Block {
    const parent = this.head;
    const block = createBlock(
      {
        header: {
          number: parent.header.number + 1n,
          parentHash: parent.hash(),
          gasLimit: 30_000_000n,
          gasUsed: BigInt(txs.length) * 21_000n,
          baseFeePerGas: 1_000_000_000n,
          timestamp: parent.header.timestamp + 2n,
          coinbase: addr(0x99),
        },
        transactions: txs,
        withdrawals: [],
      },
      { common: this.common },
    );
    this.blocks.push(block);
    const hash = block.hash();
    let logIndex = 0;
    const receipts: RpcReceipt[] = txs.map((tx, i) => {
      const logs: RpcLog[] = [
        {
          address: TOKEN,
          topics: [TRANSFER_TOPIC, new Uint8Array(32).fill(i + 1)],
          data: new Uint8Array(32).fill(7),
          blockNumber: block.header.number,
          blockHash: hash,
          blockTimestamp: block.header.timestamp,
          transactionHash: tx.hash(),
          transactionIndex: i,
          logIndex: logIndex++,
          removed: false,
        },
      ];
      return {
        transactionHash: tx.hash(),
        transactionIndex: i,
        blockHash: hash,
        blockNumber: block.header.number,
        blockTimestamp: block.header.timestamp,
        from: tx.getSenderAddress().bytes,
        to: tx.to?.bytes ?? null,
        cumulativeGasUsed: BigInt(i + 1) * 21_000n,
        gasUsed: 21_000n,
        effectiveGasPrice: 1_000_000_000n,
        contractAddress: tx.to ? null : hexToBytes(addr(0xcc)),
        logs,
        logsBloom: new Uint8Array(256),
        type: tx.type,
        status: i === 1 ? 0 : 1,
      };
    });
    this.receipts.set(bytesToHex(hash), receipts);
    if (emit) {
      this.events.emit("newHead", block);
      this.events.emit(
        "logs",
        receipts.flatMap((r) => r.logs),
      );
    }
    return block;
  }

  emitPending(hash: Uint8Array): void {
    this.events.emit("pendingTransaction", hash);
  }

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  headNumber(): bigint {
    return this.head.header.number;
  }

  async getBlock(sel: BlockSelector): Promise<Block | undefined> {
    this.record("getBlock", sel);
    if ("tag" in sel) return sel.tag === "earliest" ? this.blocks[0] : this.head;
    if ("number" in sel) return this.blocks[Number(sel.number)];
    return this.blocks.find((b) => equalBytes(b.hash(), sel.hash));
  }

  async getReceipts(blockHash: Uint8Array): Promise<RpcReceipt[] | undefined> {
    this.record("getReceipts", blockHash);
    return this.receipts.get(bytesToHex(blockHash));
  }

  async getTransaction(hash: Uint8Array): Promise<TransactionWithLocation | undefined> {
    this.record("getTransaction", hash);
    for (const block of this.blocks) {
      const index = block.transactions.findIndex((t) => equalBytes(t.hash(), hash));
      if (index >= 0) {
        const tx = block.transactions[index];
        return {
          tx,
          sender: tx.getSenderAddress().bytes,
          block: {
            hash: block.hash(),
            number: block.header.number,
            index,
            baseFeePerGas: block.header.baseFeePerGas,
            timestamp: block.header.timestamp,
          },
        };
      }
    }
    const pending = this.pool.get(bytesToHex(hash));
    return pending ? { tx: pending, sender: pending.getSenderAddress().bytes } : undefined;
  }

  async getTransactionReceipt(hash: Uint8Array): Promise<RpcReceipt | undefined> {
    this.record("getTransactionReceipt", hash);
    for (const rs of this.receipts.values()) {
      const r = rs.find((x) => equalBytes(x.transactionHash, hash));
      if (r) return r;
    }
    return undefined;
  }

  async getLogs(filter: LogFilter): Promise<RpcLog[]> {
    this.record("getLogs", filter);
    if (filter.toBlock - filter.fromBlock > this.maxLogRange)
      throw new MeridianError(`block range too large (max ${this.maxLogRange})`, {
        code: "LOGS_RANGE_TOO_LARGE",
      });
    const out: RpcLog[] = [];
    for (const rs of this.receipts.values())
      for (const r of rs)
        for (const log of r.logs) {
          if (log.blockNumber < filter.fromBlock || log.blockNumber > filter.toBlock) continue;
          if (filter.addresses.length && !filter.addresses.some((a) => equalBytes(a, log.address))) continue;
          const ok = filter.topics.every(
            (alts, i) => alts === null || (log.topics[i] && alts.some((t) => equalBytes(t, log.topics[i]))),
          );
          if (ok) out.push(log);
        }
    return out;
  }

  async getBalance(address: Uint8Array, at: BlockSelector): Promise<bigint> {
    this.record("getBalance", address, at);
    return this.balances.get(bytesToHex(address)) ?? 0n;
  }

  async getTransactionCount(address: Uint8Array, at: BlockSelector): Promise<bigint> {
    this.record("getTransactionCount", address, at);
    return this.nonces.get(bytesToHex(address)) ?? 0n;
  }

  async getCode(address: Uint8Array, at: BlockSelector): Promise<Uint8Array> {
    this.record("getCode", address, at);
    return equalBytes(address, TOKEN) ? hexToBytes("0x6080604052") : new Uint8Array(0);
  }

  async getStorageAt(address: Uint8Array, slot: Uint8Array, at: BlockSelector): Promise<Uint8Array> {
    this.record("getStorageAt", address, slot, at);
    return new Uint8Array([0x2a]); // deliberately short: the server pads to 32 bytes
  }

  async getProof(address: Uint8Array, slots: Uint8Array[], at: BlockSelector): Promise<AccountProof> {
    this.record("getProof", address, slots, at);
    return {
      address,
      balance: 5n,
      nonce: 1n,
      codeHash: new Uint8Array(32).fill(0xc5),
      storageHash: new Uint8Array(32).fill(0x56),
      accountProof: [new Uint8Array([0xf8, 0x01])],
      storageProof: slots.map((key) => ({ key, value: 0n, proof: [] })),
    };
  }

  async call(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<CallResult> {
    this.record("call", req, at, overrides);
    const data = req.data ?? new Uint8Array(0);
    if (data[0] === 0x01)
      return { returnData: REVERT_ERROR_DATA, gasUsed: 1n, error: { kind: "revert", message: "" } };
    if (data[0] === 0x02)
      return { returnData: PANIC_DATA, gasUsed: 1n, error: { kind: "revert", message: "" } };
    if (data[0] === 0x03)
      return { returnData: new Uint8Array(0), gasUsed: 1n, error: { kind: "halt", message: "out of gas" } };
    return { returnData: data, gasUsed: 21_000n };
  }

  async estimateGas(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<bigint> {
    this.record("estimateGas", req, at, overrides);
    if (req.data?.[0] === 0x01)
      throw new MeridianError("execution reverted", {
        code: "EXECUTION_REVERTED",
        details: bytesToHex(REVERT_ERROR_DATA),
      });
    return 21_000n;
  }

  async createAccessList(req: CallRequest, at: BlockSelector) {
    this.record("createAccessList", req, at);
    return {
      accessList: [{ address: TOKEN, storageKeys: [new Uint8Array(32)] }],
      gasUsed: 30_000n,
      ...(req.data?.[0] === 0x01 ? { error: "execution reverted" } : {}),
    };
  }

  async gasPrice(): Promise<bigint> {
    return 1_000_000_007n;
  }

  async maxPriorityFeePerGas(): Promise<bigint> {
    return 1_000_000n;
  }

  async blobBaseFee(): Promise<bigint> {
    return 1n;
  }

  async feeHistory(
    blockCount: number,
    newest: BlockSelector,
    rewardPercentiles?: number[],
  ): Promise<FeeHistory> {
    this.record("feeHistory", blockCount, newest, rewardPercentiles);
    return {
      oldestBlock: 1n,
      baseFeePerGas: [1_000_000_000n, 1_000_000_000n],
      gasUsedRatio: [0.5],
      baseFeePerBlobGas: [1n, 1n],
      blobGasUsedRatio: [0],
      ...(rewardPercentiles ? { reward: [rewardPercentiles.map(() => 1n)] } : {}),
    };
  }

  async sendRawTransaction(raw: Uint8Array): Promise<Uint8Array> {
    this.record("sendRawTransaction", raw);
    let tx: TypedTransaction;
    try {
      tx = createTxFromRLP(raw, { common: this.common });
    } catch {
      throw new MeridianError("invalid transaction encoding", { code: "DECODE_ERROR" });
    }
    const key = bytesToHex(tx.hash());
    if (this.pool.has(key)) throw new MeridianError("already known", { code: "TX_ALREADY_KNOWN" });
    const from = bytesToHex(tx.getSenderAddress().bytes);
    if (tx.nonce < (this.nonces.get(from) ?? 0n))
      throw new MeridianError("nonce too low", { code: "NONCE_TOO_LOW" });
    this.pool.set(key, tx);
    this.events.emit("pendingTransaction", tx.hash());
    return tx.hash();
  }

  txpoolStatus() {
    return { pending: this.pool.size, queued: 0 };
  }

  txpoolContent(): TxPoolContent {
    const pending = new Map<string, Map<string, TypedTransaction>>();
    for (const tx of this.pool.values()) {
      const from = tx.getSenderAddress().toString();
      let byNonce = pending.get(from);
      if (!byNonce) {
        byNonce = new Map();
        pending.set(from, byNonce);
      }
      byNonce.set(tx.nonce.toString(10), tx);
    }
    return { pending, queued: new Map() };
  }

  async traceTransaction(hash: Uint8Array, opts: TraceOptions): Promise<unknown> {
    this.record("traceTransaction", hash, opts);
    return opts.tracer === "callTracer"
      ? { type: "CALL", from: bytesToHex(this.sender), gas: "0x5208", gasUsed: "0x5208", value: "0x1" }
      : // As the node returns traces: JSON text made off the main thread.
        new RawJson(JSON.stringify({ gas: 21000, failed: false, returnValue: "0x", structLogs: [] }));
  }

  syncing(): SyncStatus {
    return false;
  }

  peerCount(): number {
    return 3;
  }

  accounts(): Uint8Array[] {
    return [this.sender];
  }

  nodeStatus(): Record<string, unknown> {
    return { chainId: 7331, head: Number(this.headNumber()), validator: true };
  }

  on<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.on(event, listener);
  }

  off<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.off(event, listener);
  }

  listenerCount(event: keyof BackendEvents): number {
    return this.events.listenerCount(event);
  }

  get minedTxs(): TypedTransaction[] {
    return this.txs;
  }

  /** A fresh signed transfer from KEY2 with the given nonce (for sendRawTransaction). */
  signedTransfer(nonce: number): TypedTransaction {
    return createFeeMarket1559Tx(
      {
        nonce,
        maxFeePerGas: 2_000_000_000n,
        maxPriorityFeePerGas: 1n,
        gasLimit: 21_000,
        to: addr(0x77),
        value: 5n,
      },
      { common: this.common },
    ).sign(KEY2);
  }
}

/** Parses a JSON-RPC reply; fails the test on anything that is not JSON. */
export type RpcReply = {
  jsonrpc: "2.0";
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: string };
};

export async function postRaw(
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<Response> {
  return fetch(url, { method: "POST", body, headers });
}

let nextId = 1;

export async function rpcHttp(url: string, method: string, params: unknown[] = []): Promise<RpcReply> {
  const res = await postRaw(url, JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }));
  return (await res.json()) as RpcReply;
}
