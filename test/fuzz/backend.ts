/**
 * A deterministic RpcBackend for fuzzing the handler's parameter parsing: a chain at block 0
 * with no blocks to return, an empty pool, and fixed answers. What the handler does with the
 * parameters is under test, not the node behind it.
 */
import { EventEmitter } from "node:events";
import type { Block } from "@ethereumjs/block";
import { MeridianError } from "@meridian/primitives";
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
  SyncStatus,
  TransactionWithLocation,
  TxPoolContent,
} from "@meridian/rpc";

const ZERO32 = new Uint8Array(32);

export class FuzzBackend implements RpcBackend {
  readonly chainId = 7331n;
  readonly clientVersion = "Meridian/fuzz";
  private readonly events = new EventEmitter();

  headNumber(): bigint {
    return 0n;
  }
  async getBlock(_selector: BlockSelector): Promise<Block | undefined> {
    return undefined;
  }
  async getReceipts(): Promise<RpcReceipt[] | undefined> {
    return undefined;
  }
  async getTransaction(): Promise<TransactionWithLocation | undefined> {
    return undefined;
  }
  async getTransactionReceipt(): Promise<RpcReceipt | undefined> {
    return undefined;
  }
  async getLogs(filter: LogFilter): Promise<RpcLog[]> {
    if (filter.toBlock - filter.fromBlock > 10_000n)
      throw new MeridianError("exceed maximum block range: 10000", { code: "LOGS_RANGE_TOO_LARGE" });
    return [];
  }
  async getBalance(): Promise<bigint> {
    return 0n;
  }
  async getTransactionCount(): Promise<bigint> {
    return 0n;
  }
  async getCode(): Promise<Uint8Array> {
    return new Uint8Array();
  }
  async getStorageAt(): Promise<Uint8Array> {
    return new Uint8Array();
  }
  async getProof(address: Uint8Array, slots: Uint8Array[]): Promise<AccountProof> {
    return {
      address,
      balance: 0n,
      nonce: 0n,
      codeHash: ZERO32,
      storageHash: ZERO32,
      accountProof: [],
      storageProof: slots.map((key) => ({ key, value: 0n, proof: [] })),
    };
  }
  async call(_req: CallRequest): Promise<CallResult> {
    return { returnData: new Uint8Array(), gasUsed: 21_000n };
  }
  async estimateGas(): Promise<bigint> {
    return 21_000n;
  }
  async createAccessList() {
    return { accessList: [], gasUsed: 21_000n };
  }
  async gasPrice(): Promise<bigint> {
    return 1n;
  }
  async maxPriorityFeePerGas(): Promise<bigint> {
    return 1n;
  }
  async blobBaseFee(): Promise<bigint> {
    return 1n;
  }
  async feeHistory(blockCount: number): Promise<FeeHistory> {
    return {
      oldestBlock: 0n,
      baseFeePerGas: Array.from({ length: Math.min(blockCount, 1) + 1 }, () => 7n),
      gasUsedRatio: [0],
      baseFeePerBlobGas: [1n, 1n],
      blobGasUsedRatio: [0],
    };
  }
  async sendRawTransaction(): Promise<Uint8Array> {
    throw new MeridianError("invalid sender", { code: "TX_REJECTED" });
  }
  txpoolStatus() {
    return { pending: 0, queued: 0 };
  }
  txpoolContent(): TxPoolContent {
    return { pending: new Map(), queued: new Map() };
  }
  async traceTransaction(): Promise<unknown> {
    return {};
  }
  syncing(): SyncStatus {
    return false;
  }
  peerCount(): number {
    return 0;
  }
  accounts(): Uint8Array[] {
    return [];
  }
  nodeStatus(): Record<string, unknown> {
    return { head: "0x0" };
  }
  on<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.on(event, listener);
  }
  off<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.off(event, listener);
  }
}
