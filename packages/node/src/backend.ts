/**
 * RpcBackend over the real chain, mempool and executor: what the JSON-RPC
 * server calls. Latest-state reads go to the flat store (the hot path);
 * older blocks are read from the Merkle-Patricia trie at their state root.
 */

import { EventEmitter } from "node:events";
import { type Block, createBlock, createBlockHeader } from "@ethereumjs/block";
import type { StateManagerInterface } from "@ethereumjs/common";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { Account, Address } from "@ethereumjs/util";
import type { Chain, CommittedBlock } from "@meridian/chain";
import type { ValidatorSetSource } from "@meridian/consensus";
import {
  type CallOutput,
  CallPool,
  ExecutionError,
  effectiveGasPrice,
  type JobContext,
  type StoredReceipt,
  type TraceConfig,
} from "@meridian/executor";
import type { TxPool } from "@meridian/mempool";
import { bytesToHex, hexKey as hex, hexToBytes, MeridianError } from "@meridian/primitives";
import type {
  AccountProof,
  BackendEvents,
  BlockOverrides,
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
} from "@meridian/rpc";
import { RawJson } from "@meridian/rpc";
import { type FlatStateManager, stateProof, TrieNodeCache } from "@meridian/state";
import { type EthConfig, ethConfig } from "./eth-config.ts";
import { snapshotState } from "./snapshot-state.ts";
import { type StakingInfoJson, stakingInfo } from "./staking-info.ts";

export type BackendOptions = {
  clientVersion: string;
  gasCap: bigint;
  /** Hard time limit of one eth_call / eth_estimateGas / eth_createAccessList (queueing included). */
  evmTimeoutMs: number;
  /** Worker threads of the RPC execution pool (calls, estimates, access lists, traces); default 2. */
  executionWorkers?: number;
  /** Largest debug_trace* result (a whole block trace counts as one), as JSON bytes; default 25 MiB. */
  maxResponseBytes?: number;
  logsMaxRange: number;
  logsMaxResults: number;
  txFeeCap: bigint;
  /** Admit pre-EIP-155 legacy transactions (geth's --rpc.allow-unprotected-txs); refused when absent. */
  allowUnprotectedTxs?: boolean;
  /** Suggested priority fee (eth_maxPriorityFeePerGas). */
  suggestedTip: bigint;
  status: () => Record<string, unknown>;
  /** Each height's validator set (meridian_getValidators); default: the genesis set, never updated. */
  validatorSets?: ValidatorSetSource;
};

/** meridian_getValidators entry; quantities in hex, a negative priority with a leading minus. */
export type ValidatorJson = { address: string; votingPower: string; proposerPriority: string };
/** meridian_getCommit: `valueId` is what the precommits signed (keccak256 of the proposal bytes). */
export type CommitJson = {
  height: string;
  round: string;
  blockHash: string;
  valueId: string | null;
  proposer: string;
  signatures: { validator: string; signature: string }[];
  /** Equivocations the block recorded (duplicate votes: both votes with their signatures). */
  misbehavior: {
    validator: string;
    height: string;
    round: string;
    type: "prevote" | "precommit";
    votes: { valueId: string | null; signature: string }[];
  }[];
};

function signedQuantity(n: bigint): string {
  return n < 0n ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

export const DEFAULT_EXECUTION_WORKERS = 2;
export const DEFAULT_MAX_RESPONSE_BYTES = 25 * 1024 * 1024;
/** debug_traceTransaction's `timeout` when the request names none (geth's default). */
export const DEFAULT_TRACE_TIMEOUT_MS = 5000;

/** A duration as Go prints it (geth's error messages): 500ms, 2s, 1.5s, 1m30s, 1h0m0s. */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${ms / 1000}s`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : `${minutes}m${seconds}s`;
}

function headerNotFound(): never {
  throw new MeridianError("header not found", { code: "HEADER_NOT_FOUND" });
}

export class NodeBackend implements RpcBackend {
  readonly chainId: bigint;
  readonly clientVersion: string;
  private readonly events = new EventEmitter();
  private readonly chain: Chain;
  private readonly pool: TxPool;
  private readonly opts: BackendOptions;
  private readonly validatorSets: ValidatorSetSource;
  /** Worker threads that run calls, estimates, access lists and traces off the main thread. */
  readonly execution: CallPool;
  /** Committed trie nodes the execution pool's snapshots read (content-addressed: never stale). */
  private readonly trieNodes = new TrieNodeCache();

  constructor(chain: Chain, pool: TxPool, opts: BackendOptions) {
    this.chain = chain;
    this.pool = pool;
    this.opts = opts;
    this.validatorSets = opts.validatorSets ?? chain.validatorSets;
    this.execution = new CallPool({
      workers: opts.executionWorkers ?? DEFAULT_EXECUTION_WORKERS,
      chainId: chain.spec.chainId,
      hardfork: chain.spec.hardfork,
      schedule: chain.spec.schedule,
    });
    this.chainId = chain.spec.chainId;
    this.clientVersion = opts.clientVersion;
    this.events.setMaxListeners(0);
    chain.on("committed", (c) => this.onCommitted(c));
    pool.on("pending", (p) => this.events.emit("pendingTransaction", p.hash));
  }

  private onCommitted(c: CommittedBlock): void {
    this.events.emit("newHead", c.block);
    const logs = this.rpcReceipts(c.block, c.receipts).flatMap((r) => r.logs);
    if (logs.length > 0) this.events.emit("logs", logs);
  }

  on<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.on(event, listener);
  }
  off<E extends keyof BackendEvents>(event: E, listener: BackendEvents[E]): void {
    this.events.off(event, listener);
  }

  headNumber(): bigint {
    return this.chain.head.header.number;
  }

  async getBlock(sel: BlockSelector): Promise<Block | undefined> {
    if ("tag" in sel) {
      if (sel.tag === "earliest") return this.chain.blockByNumber(0n);
      // Instant finality: safe and finalized are the latest committed block; pending is too.
      return this.chain.head;
    }
    if ("number" in sel) return this.chain.blockByNumber(sel.number);
    const block = await this.chain.blockByHash(sel.hash);
    if (block && sel.requireCanonical && !(await this.chain.isCanonical(block))) return undefined;
    return block;
  }

  private async blockOrThrow(sel: BlockSelector): Promise<Block> {
    return (await this.getBlock(sel)) ?? headerNotFound();
  }

  private isHead(sel: BlockSelector): boolean {
    return (
      ("tag" in sel && sel.tag !== "earliest") ||
      ("number" in sel && sel.number === this.chain.head.header.number)
    );
  }

  private rpcReceipts(block: Block, receipts: StoredReceipt[]): RpcReceipt[] {
    const blockHash = block.hash();
    const blockNumber = block.header.number;
    let logIndex = 0;
    return receipts.map((r, i) => {
      const tx = block.transactions[i];
      const transactionHash = tx ? tx.hash() : new Uint8Array(32);
      const logs: RpcLog[] = r.logs.map((l) => ({
        address: l.address,
        topics: l.topics,
        data: l.data,
        blockNumber,
        blockHash,
        blockTimestamp: block.header.timestamp,
        transactionHash,
        transactionIndex: i,
        logIndex: logIndex++,
        removed: false,
      }));
      return {
        transactionHash,
        transactionIndex: i,
        blockHash,
        blockNumber,
        blockTimestamp: block.header.timestamp,
        from: r.from,
        to: tx?.to?.bytes ?? null,
        cumulativeGasUsed: r.cumulativeGasUsed,
        gasUsed: r.gasUsed,
        effectiveGasPrice: r.effectiveGasPrice,
        contractAddress: r.contractAddress ?? null,
        logs,
        logsBloom: r.logsBloom,
        type: r.type,
        status: r.status,
      };
    });
  }

  async getReceipts(blockHash: Uint8Array): Promise<RpcReceipt[] | undefined> {
    const block = await this.chain.blockByHash(blockHash);
    const receipts = await this.chain.receiptsOf(blockHash);
    if (!block || !receipts) return undefined;
    return this.rpcReceipts(block, receipts);
  }

  async getTransaction(hash: Uint8Array): Promise<TransactionWithLocation | undefined> {
    const loc = await this.chain.txLocation(hash);
    if (loc) {
      const block = await this.chain.blockByHash(loc.blockHash);
      const receipts = await this.chain.receiptsOf(loc.blockHash);
      const tx = block?.transactions[loc.index];
      if (block && tx) {
        return {
          tx,
          sender: receipts?.[loc.index]?.from ?? tx.getSenderAddress().bytes,
          block: {
            hash: block.hash(),
            number: block.header.number,
            index: loc.index,
            baseFeePerGas: block.header.baseFeePerGas,
            timestamp: block.header.timestamp,
          },
        };
      }
    }
    const pooled = this.pool.get(hash);
    return pooled ? { tx: pooled.tx, sender: pooled.sender } : undefined;
  }

  async getTransactionReceipt(hash: Uint8Array): Promise<RpcReceipt | undefined> {
    const loc = await this.chain.txLocation(hash);
    if (!loc) return undefined;
    return (await this.getReceipts(loc.blockHash))?.[loc.index];
  }

  async getLogs(filter: LogFilter): Promise<RpcLog[]> {
    const head = this.chain.head.header.number;
    const from = filter.fromBlock;
    const to = filter.toBlock > head ? head : filter.toBlock;
    if (from > to) return [];
    if (to - from + 1n > BigInt(this.opts.logsMaxRange)) {
      throw new MeridianError(
        `block range too large: ${to - from + 1n} blocks, the limit is ${this.opts.logsMaxRange}`,
        {
          code: "LOGS_RANGE_TOO_LARGE",
        },
      );
    }
    const db = this.chain.db;
    const scanLimit = this.opts.logsMaxRange + 1;
    // Candidate blocks from the exact address/topic index, intersected across criteria.
    let candidates: Set<bigint> | undefined;
    const intersect = (found: bigint[]) => {
      const s = new Set(found);
      candidates = candidates ? new Set([...candidates].filter((n) => s.has(n))) : s;
    };
    if (filter.addresses.length > 0) {
      const found: bigint[] = [];
      for (const a of filter.addresses) found.push(...(await db.logBlocks(a, from, to, scanLimit)));
      intersect(found);
    }
    for (const position of filter.topics) {
      if (!position || position.length === 0) continue;
      const found: bigint[] = [];
      for (const t of position) found.push(...(await db.logBlocks(t, from, to, scanLimit)));
      intersect(found);
    }
    if (!candidates) intersect(await db.logBlocks(undefined, from, to, scanLimit));
    const addrSet = new Set(filter.addresses.map(hex));
    const out: RpcLog[] = [];
    for (const n of [...(candidates ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const block = await this.chain.blockByNumber(n);
      const receipts = block && (await this.chain.receiptsOf(block.hash()));
      if (!block || !receipts) continue;
      for (const r of this.rpcReceipts(block, receipts)) {
        for (const log of r.logs) {
          if (addrSet.size > 0 && !addrSet.has(hex(log.address))) continue;
          if (!matchTopics(log.topics, filter.topics)) continue;
          out.push(log);
          if (out.length > this.opts.logsMaxResults) {
            throw new MeridianError(`query returned more than ${this.opts.logsMaxResults} results`, {
              code: "LOGS_TOO_MANY_RESULTS",
            });
          }
        }
      }
    }
    return out;
  }

  // --- state -------------------------------------------------------------------

  private async stateAt(sel: BlockSelector): Promise<StateManagerInterface> {
    if (this.isHead(sel)) return this.chain.headState();
    return this.chain.stateAfter(await this.blockOrThrow(sel));
  }

  async getBalance(address: Uint8Array, at: BlockSelector): Promise<bigint> {
    if (this.isHead(at)) return (await this.chain.store.getAccount(address))?.balance ?? 0n;
    return (await (await this.stateAt(at)).getAccount(new Address(address)))?.balance ?? 0n;
  }

  async getTransactionCount(address: Uint8Array, at: BlockSelector): Promise<bigint> {
    if ("tag" in at && at.tag === "pending") return this.pool.pendingNonce(address);
    if (this.isHead(at)) return (await this.chain.store.getAccount(address))?.nonce ?? 0n;
    return (await (await this.stateAt(at)).getAccount(new Address(address)))?.nonce ?? 0n;
  }

  async getCode(address: Uint8Array, at: BlockSelector): Promise<Uint8Array> {
    return (await this.stateAt(at)).getCode(new Address(address));
  }

  async getStorageAt(address: Uint8Array, slot: Uint8Array, at: BlockSelector): Promise<Uint8Array> {
    const v = await (await this.stateAt(at)).getStorage(new Address(address), slot);
    const out = new Uint8Array(32);
    out.set(v, 32 - v.length);
    return out;
  }

  async getProof(address: Uint8Array, slots: Uint8Array[], at: BlockSelector): Promise<AccountProof> {
    const block = await this.blockOrThrow(at);
    const p = await stateProof(this.chain.db, block.header.stateRoot, new Address(address), slots);
    return {
      address,
      balance: BigInt(p.balance),
      nonce: BigInt(p.nonce),
      codeHash: hexToBytes(p.codeHash),
      storageHash: hexToBytes(p.storageHash),
      accountProof: p.accountProof.map(hexToBytes),
      // @ethereumjs leaves storageProof empty for an absent account; geth (EIP-1186) answers every
      // requested key, here with value 0 and an empty proof (the account has no storage trie).
      storageProof:
        p.storageProof.length === 0
          ? slots.map((key) => ({ key, value: 0n, proof: [] }))
          : p.storageProof.map((s) => ({
              key: hexToBytes(s.key),
              value: BigInt(s.value),
              proof: s.proof.map(hexToBytes),
            })),
    };
  }

  // --- execution ---------------------------------------------------------------

  /** Stops the execution pool's workers. */
  close(): Promise<void> {
    return this.execution.close();
  }

  /**
   * Where a job on `block` reads: the trie at the block's state root (never pruned, so a
   * consistent snapshot however far the head moves while the job runs), with `overrides`
   * applied; and the canonical hashes for BLOCKHASH.
   */
  private jobContext(block: Block, overrides?: StateOverride): JobContext {
    return {
      state: () => this.snapshotState(block, overrides),
      blockHash: (n) => this.canonicalHash(n),
    };
  }

  /** Canonical hash of block `n` (BLOCKHASH; the EVM keeps to the 256-block window itself). */
  private async canonicalHash(n: bigint): Promise<Uint8Array | undefined> {
    if (n < 0n || n > this.chain.head.header.number) return undefined;
    return this.chain.db.canonicalHash(n);
  }

  private async snapshotState(block: Block, overrides?: StateOverride): Promise<FlatStateManager> {
    const state = snapshotState(this.chain.db, block.header.stateRoot, this.trieNodes);
    if (!overrides) return state;
    for (const [addrHex, o] of overrides) {
      const address = new Address(hexToBytes(addrHex));
      const account = (await state.getAccount(address)) ?? new Account();
      if (o.balance !== undefined) account.balance = o.balance;
      if (o.nonce !== undefined) account.nonce = o.nonce;
      await state.putAccount(address, account);
      if (o.code !== undefined) await state.putCode(address, o.code);
      if (o.state) {
        await state.clearStorage(address);
        for (const [slot, v] of o.state) await state.putStorage(address, hexToBytes(slot), v);
      }
      if (o.stateDiff)
        for (const [slot, v] of o.stateDiff) await state.putStorage(address, hexToBytes(slot), v);
    }
    return state;
  }

  private callJob(kind: "call" | "estimate" | "accessList", req: CallRequest, block: Block, gasCap: bigint) {
    return { kind, header: wireHeader(block), input: req, gasCap } as const;
  }

  /** geth's RPCEVMTimeout: the whole request, queueing included. */
  private evmDeadline() {
    const ms = this.opts.evmTimeoutMs;
    return {
      timeoutMs: ms,
      onTimeout: () =>
        new ExecutionError(`execution aborted (timeout = ${goDuration(ms)})`, { code: "EXECUTION_TIMEOUT" }),
    };
  }

  async call(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<CallResult> {
    const block = await this.blockOrThrow(at);
    const r = (await this.execution.submit(
      this.callJob("call", req, block, this.opts.gasCap),
      this.jobContext(block, overrides),
      this.evmDeadline(),
    )) as CallOutput;
    return r.error
      ? { returnData: r.returnData, gasUsed: r.gasUsed, error: r.error }
      : { returnData: r.returnData, gasUsed: r.gasUsed };
  }

  async estimateGas(req: CallRequest, at: BlockSelector, overrides?: StateOverride): Promise<bigint> {
    const block = await this.blockOrThrow(at);
    const gasCap = this.opts.gasCap > block.header.gasLimit ? block.header.gasLimit : this.opts.gasCap;
    // At the head of a staking chain the transaction will run after the next block's staking
    // calls, which may make its storage writes dearer: the estimate runs after them too.
    const staking =
      !overrides && block.header.number === this.chain.head.header.number
        ? await this.chain.nextStakingCalls()
        : undefined;
    return (await this.execution.submit(
      { ...this.callJob("estimate", req, block, gasCap), ...(staking ? { staking } : {}) },
      this.jobContext(block, overrides),
      this.evmDeadline(),
    )) as bigint;
  }

  async createAccessList(req: CallRequest, at: BlockSelector) {
    const block = await this.blockOrThrow(at);
    const second = (await this.execution.submit(
      this.callJob("accessList", req, block, this.opts.gasCap),
      this.jobContext(block),
      this.evmDeadline(),
    )) as CallOutput;
    const accessList = second.accessList ?? [];
    const result: { accessList: typeof accessList; gasUsed: bigint; error?: string } = {
      accessList,
      gasUsed: second.gasUsed,
    };
    if (second.error)
      result.error = second.error.kind === "revert" ? "execution reverted" : second.error.message;
    return result;
  }

  async gasPrice(): Promise<bigint> {
    return this.chain.head.header.calcNextBaseFee() + this.opts.suggestedTip;
  }

  async maxPriorityFeePerGas(): Promise<bigint> {
    return this.opts.suggestedTip;
  }

  async blobBaseFee(): Promise<bigint> {
    return this.chain.head.header.calcNextBlobGasPrice(this.chain.common);
  }

  async feeHistory(
    blockCount: number,
    newest: BlockSelector,
    rewardPercentiles?: number[],
  ): Promise<FeeHistory> {
    const last = await this.blockOrThrow(newest);
    const count = BigInt(Math.max(0, Math.min(blockCount, 1024)));
    const newestN = last.header.number;
    const oldest = newestN + 1n - count < 0n ? 0n : newestN + 1n - count;
    const out: FeeHistory = {
      oldestBlock: oldest,
      baseFeePerGas: [],
      gasUsedRatio: [],
      baseFeePerBlobGas: [],
      blobGasUsedRatio: [],
    };
    if (rewardPercentiles) out.reward = [];
    let lastBlock: Block | undefined;
    for (let n = oldest; n <= newestN && count > 0n; n++) {
      const block = await this.chain.blockByNumber(n);
      if (!block) break;
      lastBlock = block;
      const h = block.header;
      out.baseFeePerGas.push(h.baseFeePerGas ?? 0n);
      out.gasUsedRatio.push(Number(h.gasUsed) / Number(h.gasLimit));
      out.baseFeePerBlobGas.push(h.getBlobGasPrice());
      out.blobGasUsedRatio.push(0);
      if (out.reward && rewardPercentiles) {
        const receipts = (await this.chain.receiptsOf(block.hash())) ?? [];
        out.reward.push(rewards(block, receipts, rewardPercentiles));
      }
    }
    if (lastBlock) {
      out.baseFeePerGas.push(lastBlock.header.calcNextBaseFee());
      out.baseFeePerBlobGas.push(lastBlock.header.calcNextBlobGasPrice(this.chain.common));
    }
    return out;
  }

  async sendRawTransaction(raw: Uint8Array): Promise<Uint8Array> {
    this.checkRpcSubmission(raw);
    const { hash } = await this.pool.addRaw(raw);
    return hash;
  }

  /** geth's RPC-only rules: replay protection and the fee cap (the pool itself accepts both). */
  private checkRpcSubmission(raw: Uint8Array): void {
    let tx: TypedTransaction;
    try {
      tx = createTxFromRLP(raw, { common: this.chain.common });
    } catch {
      return; // The pool rejects undecodable input with its own message.
    }
    if (tx.type === 0 && !tx.isSigned()) return;
    if (
      !this.opts.allowUnprotectedTxs &&
      tx.type === 0 &&
      (tx as TypedTransaction & { v?: bigint }).v !== undefined
    ) {
      const v = (tx as TypedTransaction & { v: bigint }).v;
      if (v === 27n || v === 28n) {
        throw new MeridianError("only replay-protected (EIP-155) transactions allowed over RPC", {
          code: "TX_REJECTED",
        });
      }
    }
    const price =
      "maxFeePerGas" in tx
        ? (tx as TypedTransaction & { maxFeePerGas: bigint }).maxFeePerGas
        : (tx as TypedTransaction & { gasPrice: bigint }).gasPrice;
    const fee = price * tx.gasLimit;
    const cap = this.opts.txFeeCap;
    if (cap > 0n && fee > cap) {
      const ether = (wei: bigint) => (Number(wei / 10n ** 12n) / 1e6).toFixed(2);
      throw new MeridianError(
        `tx fee (${ether(fee)} ether) exceeds the configured cap (${ether(cap)} ether)`,
        {
          code: "TX_REJECTED",
        },
      );
    }
  }

  txpoolStatus(): { pending: number; queued: number } {
    return this.pool.status();
  }

  txpoolContent(): TxPoolContent {
    return this.pool.content();
  }

  /**
   * Replays the transaction in the execution pool (the block's system calls and the
   * transactions before it first), stopped at the `timeout` option (default 5 s) or when the
   * result would pass `maxResponseBytes`.
   */
  async traceTransaction(hash: Uint8Array, opts: TraceOptions): Promise<unknown> {
    const loc = await this.chain.txLocation(hash);
    const block = loc && (await this.chain.blockByHash(loc.blockHash));
    if (!loc || !block)
      throw new MeridianError(`transaction ${bytesToHex(hash)} not found`, { code: "NOT_FOUND" });
    return this.traceInBlock(block, loc.index, opts);
  }

  /** Every transaction of the block, traced in one job: `[{txHash, result}]`, one response. */
  async traceBlock(at: BlockSelector, opts: TraceOptions): Promise<unknown> {
    const block = await this.blockOrThrow(at);
    // geth refuses to trace genesis: it has no parent state to replay from.
    if (block.header.number === 0n)
      throw new MeridianError("genesis is not traceable", { code: "TRACE_GENESIS" });
    return this.traceInBlock(block, undefined, opts);
  }

  /** The call traced on top of `at`'s state (with `opts.stateOverrides`), as eth_call runs it. */
  async traceCall(req: CallRequest, at: BlockSelector, opts: TraceOptions): Promise<unknown> {
    const block = await this.blockOrThrow(at);
    const text = await this.execution.submit(
      {
        ...this.callJob(
          "call",
          req,
          withBlockOverrides(block, opts.blockOverrides, this.chain),
          this.opts.gasCap,
        ),
        kind: "traceCall",
        config: traceConfig(opts),
        maxBytes: this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      },
      this.jobContext(block, opts.stateOverrides),
      this.traceDeadline(opts),
    );
    return new RawJson(text as string);
  }

  private async traceInBlock(
    block: Block,
    txIndex: number | undefined,
    opts: TraceOptions,
  ): Promise<unknown> {
    const parent = await this.chain.blockByHash(block.header.parentHash);
    if (!parent) throw new MeridianError("parent block not found", { code: "NOT_FOUND" });
    const staking = await this.chain.stakingCallsOf(block.header.number);
    // The worker sends the trace as JSON text: the main thread only splices it in.
    const text = await this.execution.submit(
      {
        kind: "trace",
        block: block.serialize(),
        parentHeader: parent.header.serialize(),
        txIndex,
        config: traceConfig(opts),
        maxBytes: this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
        ...(staking ? { staking } : {}),
      },
      this.jobContext(parent),
      this.traceDeadline(opts),
    );
    return new RawJson(text as string);
  }

  /** The `timeout` option (default 5 s), queueing included. */
  private traceDeadline(opts: TraceOptions) {
    return {
      timeoutMs: opts.timeoutMs ?? DEFAULT_TRACE_TIMEOUT_MS,
      // geth stops a tracer at its deadline with this message.
      onTimeout: () => new ExecutionError("execution timeout", { code: "EXECUTION_TIMEOUT" }),
    };
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
    return this.opts.status();
  }

  /** The set that decided `block` (the genesis block: the set of height 1, which it starts). */
  validatorsOf(block: Block): ValidatorJson[] {
    const height = block.header.number > 0n ? block.header.number : 1n;
    const set = this.validatorSets.at(height);
    return set.validators.map((v, i) => ({
      address: bytesToHex(v.address),
      votingPower: signedQuantity(BigInt(v.power)),
      proposerPriority: signedQuantity(BigInt(set.priorities[i] ?? 0)),
    }));
  }

  /** meridian_getStakingInfo: null on a chain without the staking section. */
  async stakingInfoOf(address: Uint8Array, block: Block): Promise<StakingInfoJson | null> {
    if (!this.chain.spec.staking) return null;
    return stakingInfo(
      (req, b, state) =>
        this.chain.executor.call(req, b, state, { gasCap: 30_000_000n, timeoutMs: this.opts.evmTimeoutMs }),
      block,
      async () => this.chain.stateAfter(block),
      address,
    );
  }

  /** The precommits stored with `block`; null for the genesis block and blocks without signatures. */
  async commitOf(block: Block): Promise<CommitJson | null> {
    const info = await this.chain.commitInfo(block.header.number);
    if (info === undefined || info.signatures.length === 0) return null;
    return {
      height: signedQuantity(info.height),
      round: signedQuantity(BigInt(info.round)),
      blockHash: bytesToHex(block.hash()),
      valueId: info.valueId ? bytesToHex(info.valueId) : null,
      proposer: bytesToHex(info.proposer),
      signatures: info.signatures.map((s) => ({
        validator: bytesToHex(s.validator),
        signature: bytesToHex(s.signature),
      })),
      misbehavior: (info.misbehavior ?? []).map(({ voteA, voteB }) => ({
        validator: bytesToHex(voteA.validator),
        height: signedQuantity(voteA.height),
        round: signedQuantity(BigInt(voteA.round)),
        type: voteA.type === 1 ? "prevote" : "precommit",
        votes: [voteA, voteB].map((v) => ({
          valueId: v.valueId === null ? null : bytesToHex(v.valueId),
          signature: bytesToHex(v.signature),
        })),
      })),
    };
  }

  chainConfig(): EthConfig {
    return ethConfig(
      this.chain.spec,
      this.chain.genesisHash,
      this.chain.head.header.timestamp,
      (time) => this.chain.rulesAt(time).common,
    );
  }
}

/**
 * The context block a traced call sees with `overrides` applied (its state stays `block`'s:
 * the job reads that). The new header's hash keys the worker's context cache apart.
 */
function withBlockOverrides(block: Block, overrides: BlockOverrides | undefined, chain: Chain): Block {
  if (!overrides) return block;
  const h = block.header;
  const time = overrides.time ?? h.timestamp;
  const common = chain.rulesAt(time).common;
  const header = createBlockHeader(
    {
      ...h.toJSON(),
      number: overrides.number ?? h.number,
      timestamp: time,
      gasLimit: overrides.gasLimit ?? h.gasLimit,
      coinbase: overrides.feeRecipient ?? h.coinbase.bytes,
      mixHash: overrides.prevRandao ?? h.mixHash,
      baseFeePerGas: overrides.baseFeePerGas ?? h.baseFeePerGas,
    },
    { common, setHardfork: false },
  );
  return createBlock({ header: header.toJSON() }, { common, setHardfork: false });
}

/** The worker's tracer configuration for a request's trace options. */
function traceConfig(opts: TraceOptions): TraceConfig {
  switch (opts.tracer) {
    case "callTracer":
      return { tracer: "callTracer", onlyTopCall: opts.onlyTopCall, withLog: opts.withLog };
    case "prestateTracer":
      return { tracer: "prestateTracer", diffMode: opts.diffMode };
    case "4byteTracer":
      return { tracer: "4byteTracer" };
    default:
      return {
        tracer: "structLogger",
        disableStack: opts.disableStack,
        disableStorage: opts.disableStorage,
        enableMemory: opts.enableMemory,
        enableReturnData: opts.enableReturnData,
      };
  }
}

function matchTopics(topics: Uint8Array[], filter: (Uint8Array[] | null)[]): boolean {
  if (filter.length > topics.length) {
    // A position past the log's topics only matches a wildcard.
    for (let i = topics.length; i < filter.length; i++)
      if (filter[i] && (filter[i] as Uint8Array[]).length > 0) return false;
  }
  for (let i = 0; i < filter.length && i < topics.length; i++) {
    const want = filter[i];
    if (!want || want.length === 0) continue;
    const t = hex(topics[i] as Uint8Array);
    if (!want.some((w) => hex(w) === t)) return false;
  }
  return true;
}

/** Effective tips at the requested gas-weighted percentiles, as geth computes them. */
function rewards(block: Block, receipts: StoredReceipt[], percentiles: number[]): bigint[] {
  const baseFee = block.header.baseFeePerGas ?? 0n;
  if (block.transactions.length === 0) return percentiles.map(() => 0n);
  const items = block.transactions
    .map((tx, i) => ({ tip: effectiveGasPrice(tx, baseFee) - baseFee, gas: receipts[i]?.gasUsed ?? 0n }))
    .sort((a, b) => (a.tip < b.tip ? -1 : a.tip > b.tip ? 1 : 0));
  const total = block.header.gasUsed;
  return percentiles.map((p) => {
    const threshold = (total * BigInt(Math.round(p * 100))) / 10000n;
    let sum = 0n;
    for (const it of items) {
      sum += it.gas;
      if (sum >= threshold) return it.tip;
    }
    return (items[items.length - 1] as { tip: bigint }).tip;
  });
}

/** Each block's header as jobs carry it, encoded once: most calls run on the same few blocks. */
const wireHeaders = new WeakMap<Block, { hash: Uint8Array; rlp: Uint8Array }>();
function wireHeader(block: Block): { hash: Uint8Array; rlp: Uint8Array } {
  let h = wireHeaders.get(block);
  if (!h) {
    h = { hash: block.hash(), rlp: block.header.serialize() };
    wireHeaders.set(block, h);
  }
  return h;
}
