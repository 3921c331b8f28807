/**
 * What the JSON-RPC server needs from the node. `node` implements it over the
 * real chain; the rpc package never reaches past it. Values are raw (bytes,
 * bigint, ethereumjs Block/tx objects); the rpc package owns every wire format.
 */
import type { Block } from "@ethereumjs/block";
import type { TypedTransaction } from "@ethereumjs/tx";
import type { CallParams } from "@meridian/primitives";

export type BlockTag = "latest" | "pending" | "safe" | "finalized" | "earliest";

/** A block parameter after parsing: a tag, a number, or an EIP-1898 hash. */
export type BlockSelector =
  | { tag: BlockTag }
  | { number: bigint }
  | { hash: Uint8Array; requireCanonical?: boolean };

export type RpcLog = {
  address: Uint8Array;
  topics: Uint8Array[];
  data: Uint8Array;
  blockNumber: bigint;
  blockHash: Uint8Array;
  blockTimestamp: bigint;
  transactionHash: Uint8Array;
  transactionIndex: number;
  /** Index of the log in the block. */
  logIndex: number;
  removed: boolean;
};

export type RpcReceipt = {
  transactionHash: Uint8Array;
  transactionIndex: number;
  blockHash: Uint8Array;
  blockNumber: bigint;
  /** The block's timestamp (geth 1.16+ puts it on receipts as on logs). */
  blockTimestamp: bigint;
  from: Uint8Array;
  to: Uint8Array | null;
  cumulativeGasUsed: bigint;
  gasUsed: bigint;
  effectiveGasPrice: bigint;
  contractAddress: Uint8Array | null;
  logs: RpcLog[];
  logsBloom: Uint8Array;
  type: number;
  status: 0 | 1;
  blobGasUsed?: bigint;
  blobGasPrice?: bigint;
};

/** A transaction together with where it sits; `block` is absent for a pending one. */
export type TransactionWithLocation = {
  tx: TypedTransaction;
  sender: Uint8Array;
  block?: { hash: Uint8Array; number: bigint; index: number; baseFeePerGas?: bigint; timestamp: bigint };
};

export type LogFilter = {
  fromBlock: bigint;
  toBlock: bigint;
  /** Empty means any address. */
  addresses: Uint8Array[];
  /** Positional topics; null is a wildcard, an array is an OR. */
  topics: (Uint8Array[] | null)[];
};

/** eth_call / eth_estimateGas request after parsing: the call, and the transaction type asked for. */
export type CallRequest = CallParams & { type?: number };

export type StateOverride = Map<
  string, // lower-case 0x address
  {
    balance?: bigint;
    nonce?: bigint;
    code?: Uint8Array;
    /** Replaces the whole storage. */
    state?: Map<string, Uint8Array>;
    /** Patches individual slots. */
    stateDiff?: Map<string, Uint8Array>;
  }
>;

export type CallResult = {
  returnData: Uint8Array;
  gasUsed: bigint;
  /** Set when execution reverted (REVERT opcode) or failed; returnData holds the revert data. */
  error?: { kind: "revert" | "halt"; message: string };
};

export type AccountProof = {
  address: Uint8Array;
  balance: bigint;
  nonce: bigint;
  codeHash: Uint8Array;
  storageHash: Uint8Array;
  accountProof: Uint8Array[];
  storageProof: { key: Uint8Array; value: bigint; proof: Uint8Array[] }[];
};

export type FeeHistory = {
  oldestBlock: bigint;
  baseFeePerGas: bigint[];
  gasUsedRatio: number[];
  baseFeePerBlobGas: bigint[];
  blobGasUsedRatio: number[];
  reward?: bigint[][];
};

/** geth's BlockOverrides, the fields Meridian applies (difficulty and blobBaseFee are refused). */
export type BlockOverrides = {
  number?: bigint;
  time?: bigint;
  gasLimit?: bigint;
  feeRecipient?: Uint8Array;
  prevRandao?: Uint8Array;
  baseFeePerGas?: bigint;
};

/** The tracers debug_trace* serve (geth's native names); absent: the struct logger. */
export const TRACER_NAMES = ["callTracer", "prestateTracer", "4byteTracer", "structLogger"] as const;

export type TraceOptions = {
  tracer?: (typeof TRACER_NAMES)[number];
  disableStorage?: boolean;
  disableStack?: boolean;
  enableMemory?: boolean;
  enableReturnData?: boolean;
  onlyTopCall?: boolean;
  withLog?: boolean;
  /** prestateTracer's `diffMode`: `{pre, post}` of what the transaction changed. */
  diffMode?: boolean;
  /** debug_traceCall's `stateOverrides` (eth_call's state override set). */
  stateOverrides?: StateOverride;
  /** debug_traceCall's `blockOverrides`: the context block's fields the call sees instead. */
  blockOverrides?: BlockOverrides;
  /** The `timeout` option (a Go duration string such as "5s"), in ms; absent: the node's default. */
  timeoutMs?: number;
};

export type TxPoolContent = {
  pending: Map<string, Map<string, TypedTransaction>>; // sender hex → nonce (decimal string) → tx
  queued: Map<string, Map<string, TypedTransaction>>;
};

export type SyncStatus = false | { startingBlock: bigint; currentBlock: bigint; highestBlock: bigint };

/** Events the server turns into subscriptions and filters. */
export type BackendEvents = {
  newHead: (block: Block) => void;
  logs: (logs: RpcLog[]) => void;
  pendingTransaction: (hash: Uint8Array) => void;
};

export interface RpcBackend {
  readonly chainId: bigint;
  readonly clientVersion: string;

  /** Number of the latest committed block. */
  headNumber(): bigint;
  /** Resolves a selector to a committed block; undefined when there is none. */
  getBlock(selector: BlockSelector): Promise<Block | undefined>;
  getReceipts(blockHash: Uint8Array): Promise<RpcReceipt[] | undefined>;
  getTransaction(hash: Uint8Array): Promise<TransactionWithLocation | undefined>;
  getTransactionReceipt(hash: Uint8Array): Promise<RpcReceipt | undefined>;
  /** Throws a MeridianError with code "LOGS_RANGE_TOO_LARGE" / "LOGS_TOO_MANY_RESULTS" past the configured limits. */
  getLogs(filter: LogFilter): Promise<RpcLog[]>;

  getBalance(address: Uint8Array, at: BlockSelector): Promise<bigint>;
  getTransactionCount(address: Uint8Array, at: BlockSelector): Promise<bigint>;
  getCode(address: Uint8Array, at: BlockSelector): Promise<Uint8Array>;
  getStorageAt(address: Uint8Array, slot: Uint8Array, at: BlockSelector): Promise<Uint8Array>;
  getProof(address: Uint8Array, slots: Uint8Array[], at: BlockSelector): Promise<AccountProof>;

  call(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<CallResult>;
  /** Throws a MeridianError with code "EXECUTION_REVERTED" (details: revert data hex) when the call always fails. */
  estimateGas(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<bigint>;
  createAccessList(
    req: CallRequest,
    at: BlockSelector,
  ): Promise<{
    accessList: { address: Uint8Array; storageKeys: Uint8Array[] }[];
    gasUsed: bigint;
    error?: string;
  }>;

  gasPrice(): Promise<bigint>;
  maxPriorityFeePerGas(): Promise<bigint>;
  blobBaseFee(): Promise<bigint>;
  feeHistory(blockCount: number, newest: BlockSelector, rewardPercentiles?: number[]): Promise<FeeHistory>;

  /** Admits a signed raw transaction; throws MeridianError with a geth-compatible message on rejection. */
  sendRawTransaction(raw: Uint8Array): Promise<Uint8Array>;
  txpoolStatus(): { pending: number; queued: number };
  txpoolContent(): TxPoolContent;

  /** debug_traceTransaction: geth struct-logger or callTracer JSON, ready to serialise. */
  traceTransaction(hash: Uint8Array, opts: TraceOptions): Promise<unknown>;
  /** debug_traceBlockByNumber / debug_traceBlockByHash: `[{txHash, result}]`, one response. */
  traceBlock?(at: BlockSelector, opts: TraceOptions): Promise<unknown>;
  /** debug_traceCall: the call traced on top of `at`'s state (with `opts.stateOverrides`). */
  traceCall?(req: CallRequest, at: BlockSelector, opts: TraceOptions): Promise<unknown>;

  syncing(): SyncStatus;
  peerCount(): number;
  accounts(): Uint8Array[];
  /** meridian_nodeInfo and friends: plain JSON. */
  nodeStatus(): Record<string, unknown>;
  /** eth_config (EIP-7910): the current, next and last fork configurations; absent: method not served. */
  chainConfig?(): unknown;
  /** meridian_getValidators: the validator set that decided `block` (plain JSON); absent: not served. */
  validatorsOf?(block: Block): unknown;
  /** meridian_getCommit: the commit (+2/3 precommit signatures) stored with `block`, null if none; absent: not served. */
  commitOf?(block: Block): Promise<unknown>;

  on<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void;
  off<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void;
}
