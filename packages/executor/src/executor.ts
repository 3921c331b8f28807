/**
 * The sequential executor: the reference every other executor is compared
 * against. Builds blocks from a transaction source, re-executes proposed
 * blocks, and runs calls, gas estimates and traces. Always on top of a state
 * manager handed in by the caller; it never opens storage itself.
 */
import { type Block, createBlock, genWithdrawalsTrieRoot, type HeaderData } from "@ethereumjs/block";
import type { Common, StateManagerInterface } from "@ethereumjs/common";
import type { EVMMockBlockchainInterface, Message } from "@ethereumjs/evm";
import { Capability, createTx, type TypedTransaction, type TypedTxData } from "@ethereumjs/tx";
import { Address, bytesToHex } from "@ethereumjs/util";
import { buildBlock, createVM, type RunTxResult, runBlock, runTx, type VM } from "@ethereumjs/vm";
import { type CallParams, keccak256, MeridianError } from "@meridian/primitives";
import type { FlatStateManager } from "@meridian/state";
import {
  BlockRuleCode,
  type BlockRules,
  BlockSizeBudget,
  blobGasUsedBy,
  checkExecutedHeader,
  checkHeaderRules,
  checkRequestSystemCalls,
  checkTransactionsRoot,
  rejectBlock,
  transactionsRootOf,
} from "./header-rules.ts";
import type { StoredReceipt } from "./receipts.ts";
import {
  runStakingEpilogue,
  runStakingPrologue,
  type StakingBlockCalls,
  stakingContextBlock,
} from "./staking-calls.ts";
// Installs the per-code jump-analysis cache in every thread that runs an executor.
import "./jump-analysis.ts";
import { useFastTries } from "./tries.ts";
import { type BlockHashLookup, VmPool } from "./vm-pool.ts";

export type TxCandidate = { tx: TypedTransaction; sender: Uint8Array };

/** Transactions offered to the block builder in priority order (the mempool's iterator). */
export interface TxSource {
  peek(): TxCandidate | undefined;
  /** The peeked transaction was included: move to the sender's next one. */
  shift(): void;
  /** The peeked transaction cannot go in: skip the sender for this block. */
  pop(): void;
}

export type ExecutedBlock = {
  block: Block;
  receipts: StoredReceipt[];
  senders: Uint8Array[];
  /** The overlay holding the block's state changes, ready to be written. */
  state: FlatStateManager;
  /** Transactions the builder tried and dropped, with the reason. */
  rejected: { hash: Uint8Array; reason: string }[];
};

export type BuildRequest = {
  parent: Block;
  state: FlatStateManager;
  timestamp: bigint;
  coinbase: Uint8Array;
  txs?: TxSource;
  /** Stop adding transactions after this wall-clock time (ms since epoch). */
  deadlineMs?: number;
  maxTxs?: number;
  /**
   * Header fields that override Meridian's defaults (conformance runs rebuild Ethereum
   * blocks with them). Unset: gas limit = the parent's, mixHash = keccak(parent hash),
   * zero parent beacon block root, no withdrawals.
   */
  header?: BuildHeaderOverrides;
  /**
   * Accept EIP-4844 blob transactions without their sidecar (as they appear in blocks), with
   * blob gas accounted and limited per block. Default false: Meridian has no blob pool.
   */
  allowBlobTxs?: boolean;
  /** Canonical block hash by number for BLOCKHASH; without it BLOCKHASH yields zero. */
  blockHash?: (number: bigint) => Promise<Uint8Array | undefined>;
  /** On a proof-of-stake chain: the block's staking system calls (see staking-calls.ts). */
  staking?: StakingBlockCalls;
};

/** A withdrawal as in the block body: amount in Gwei. */
export type BuildWithdrawal = { index: bigint; validatorIndex: bigint; address: Uint8Array; amount: bigint };

export type BuildHeaderOverrides = {
  gasLimit?: bigint;
  mixHash?: Uint8Array;
  parentBeaconBlockRoot?: Uint8Array;
  withdrawals?: BuildWithdrawal[];
};

/** The header data and withdrawals `build` starts from: Meridian's defaults with `req.header` applied. */
export function buildHeaderData(req: BuildRequest): {
  headerData: HeaderData;
  /** Undefined before Shanghai (EIP-4895): such a block has no withdrawals field. */
  withdrawals: BuildWithdrawal[] | undefined;
} {
  const o = req.header ?? {};
  return {
    headerData: {
      timestamp: req.timestamp,
      coinbase: req.coinbase,
      gasLimit: o.gasLimit ?? req.parent.header.gasLimit,
      // Deterministic per-height randomness source for PREVRANDAO until consensus supplies one.
      mixHash: o.mixHash ?? keccak256(req.parent.hash()),
      // Only where EIP-4788 is active (the header may not carry the field before Cancun).
      parentBeaconBlockRoot:
        o.parentBeaconBlockRoot ?? (req.parent.common.isActivatedEIP(4788) ? new Uint8Array(32) : undefined),
    },
    withdrawals: o.withdrawals ?? (req.parent.common.isActivatedEIP(4895) ? [] : undefined),
  };
}

/** Options of `SequentialExecutor.execute`; every field is optional and the defaults are Meridian's rules. */
export type ExecuteOptions = {
  /** Which chain rules the header must follow (see BlockRules); default "meridian". */
  rules?: BlockRules;
  /** Canonical block hash by number for BLOCKHASH; without it BLOCKHASH yields zero. */
  blockHash?: (number: bigint) => Promise<Uint8Array | undefined>;
  /** On a proof-of-stake chain: the block's staking system calls (see staking-calls.ts). */
  staking?: StakingBlockCalls;
};

function blockHashSource(
  lookup: (number: bigint) => Promise<Uint8Array | undefined>,
): EVMMockBlockchainInterface {
  const chain: EVMMockBlockchainInterface = {
    getBlock: async (n: number) => {
      const hash = (await lookup(BigInt(n))) ?? new Uint8Array(32);
      return { hash: () => hash };
    },
    putBlock: async () => {},
    shallowCopy: () => chain,
  };
  return chain;
}

/** Options of `SequentialExecutor.call`. */
export type CallOptions = {
  gasCap: bigint;
  reportAccessList?: boolean;
  tracer?: (vm: VM) => void;
  /** Checked at state accesses only; the RPC execution pool enforces the hard deadline. */
  timeoutMs?: number;
  /** Canonical hashes for BLOCKHASH relative to the context block; without it BLOCKHASH yields zero. */
  blockHash?: BlockHashLookup;
};

const hexList = (items: Uint8Array[]): string[] => items.map((b) => bytesToHex(b));
const quantity = (v: bigint): `0x${string}` => `0x${v.toString(16)}`;

/**
 * The unsigned transaction a call runs as: the type its fields call for (4 with an
 * authorization list, 3 with blob hashes, 2 otherwise), so it executes as that transaction
 * would (EIP-7702 authorizations applied, delegation code followed).
 */
function callTxData(
  input: CallParams,
  senderNonce: bigint,
  gasLimit: bigint,
  blobGasPrice: bigint,
): TypedTxData {
  const base = {
    nonce: input.nonce ?? senderNonce,
    to: input.to ?? undefined,
    value: input.value ?? 0n,
    data: input.data ?? new Uint8Array(0),
    gasLimit,
    maxFeePerGas: input.maxFeePerGas ?? input.gasPrice ?? 0n,
    maxPriorityFeePerGas: input.maxPriorityFeePerGas ?? 0n,
    accessList: (input.accessList ?? []).map((e) => ({
      address: bytesToHex(e.address),
      storageKeys: hexList(e.storageKeys),
    })),
  };
  if (input.authorizationList) {
    return {
      ...base,
      type: 4,
      authorizationList: input.authorizationList.map((a) => ({
        chainId: quantity(a.chainId),
        address: bytesToHex(a.address),
        nonce: quantity(a.nonce),
        yParity: quantity(a.yParity),
        r: quantity(a.r),
        s: quantity(a.s),
      })),
    } as TypedTxData;
  }
  if (input.blobVersionedHashes) {
    return {
      ...base,
      type: 3,
      blobVersionedHashes: hexList(input.blobVersionedHashes),
      // Unset: exactly the block's blob gas price, so a call without fees runs (geth zeroes it instead).
      maxFeePerBlobGas: input.maxFeePerBlobGas ?? blobGasPrice,
    } as TypedTxData;
  }
  return { ...base, type: 2 } as TypedTxData;
}

export class ExecutionError extends MeridianError {
  override name = "ExecutionError";
}

export type CallOutput = {
  returnData: Uint8Array;
  gasUsed: bigint;
  error?: { kind: "revert" | "halt"; message: string };
  accessList?: { address: Uint8Array; storageKeys: Uint8Array[] }[];
};

const ZERO_ADDRESS = new Uint8Array(20);
/** EIP-2681: a nonce is below 2^64 - 1. */
const MAX_NONCE = 2n ** 64n - 1n;
/** Gas of a plain value transfer. */
const TX_GAS = 21_000n;

/** Effective gas price a transaction pays in a block with `baseFee`. */
export function effectiveGasPrice(tx: TypedTransaction, baseFee: bigint): bigint {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
    const tip =
      t.maxPriorityFeePerGas < t.maxFeePerGas - baseFee ? t.maxPriorityFeePerGas : t.maxFeePerGas - baseFee;
    return baseFee + tip;
  }
  return (tx as TypedTransaction & { gasPrice: bigint }).gasPrice;
}

function receiptOf(tx: TypedTransaction, sender: Uint8Array, r: RunTxResult, baseFee: bigint): StoredReceipt {
  const receipt = r.receipt as { cumulativeBlockGasUsed: bigint; bitvector: Uint8Array; status?: 0 | 1 };
  return {
    type: tx.type,
    status: r.execResult.exceptionError ? 0 : 1,
    cumulativeGasUsed: receipt.cumulativeBlockGasUsed,
    gasUsed: r.totalGasSpent,
    logs: (r.execResult.logs ?? []).map(([address, topics, data]) => ({ address, topics, data })),
    contractAddress: r.createdAddress?.bytes,
    effectiveGasPrice: effectiveGasPrice(tx, baseFee),
    from: sender,
    logsBloom: receipt.bitvector,
  };
}

export class SequentialExecutor {
  readonly common: Common;
  private readonly vms: VmPool;
  private readonly callBlocks = new Map<string, Block>();

  constructor(common: Common) {
    this.common = common;
    this.vms = new VmPool(common);
  }

  private vmFor(state: StateManagerInterface, blockchain?: EVMMockBlockchainInterface): Promise<VM> {
    return createVM({ common: this.common.copy(), stateManager: state, blockchain });
  }

  /** Proposer path: fills a block from `txs` in order and seals it. */
  async build(req: BuildRequest): Promise<ExecutedBlock> {
    const { parent, state } = req;
    const vm = await this.vmFor(state, req.blockHash && blockHashSource(req.blockHash));
    const { headerData, withdrawals } = buildHeaderData(req);
    const systemCalls = checkRequestSystemCalls(vm, parent.header.number + 1n);
    const builder = useFastTries(
      await buildBlock(vm, {
        parentBlock: parent,
        headerData,
        withdrawals,
        blockOpts: { putBlockIntoBlockchain: false, common: vm.common },
      }),
    );
    const baseFee = parent.header.calcNextBaseFee();
    const receipts: StoredReceipt[] = [];
    const senders: Uint8Array[] = [];
    const rejected: { hash: Uint8Array; reason: string }[] = [];
    const gasLimit = headerData.gasLimit as bigint;
    const stakingBlock =
      req.staking &&
      stakingContextBlock(vm.common, {
        number: parent.header.number + 1n,
        timestamp: req.timestamp,
        coinbase: req.coinbase,
        gasLimit,
      });
    if (req.staking && stakingBlock) await runStakingPrologue(vm, stakingBlock, req.staking);
    const sizeBudget = new BlockSizeBudget(vm.common, gasLimit);
    const source = req.txs;
    while (source) {
      if (req.maxTxs !== undefined && receipts.length >= req.maxTxs) break;
      if (req.deadlineMs !== undefined && Date.now() > req.deadlineMs) break;
      if (gasLimit - builder.gasUsed < 21_000n) break;
      const next = source.peek();
      if (!next) break;
      if (next.tx.gasLimit > gasLimit - builder.gasUsed) {
        source.pop();
        continue;
      }
      const overCap = txGasCapError(vm.common, next.tx) ?? sizeBudget.take(next.tx);
      if (overCap) {
        rejected.push({ hash: next.tx.hash(), reason: overCap });
        source.pop();
        continue;
      }
      try {
        const result = await builder.addTransaction(next.tx, { allowNoBlobs: req.allowBlobTxs === true });
        receipts.push(receiptOf(next.tx, next.sender, result, baseFee));
        senders.push(next.sender);
        source.shift();
      } catch (err) {
        rejected.push({ hash: next.tx.hash(), reason: (err as Error).message });
        source.pop();
      }
    }
    if (req.staking && stakingBlock) await runStakingEpilogue(vm, stakingBlock, req.staking);
    const { block } = await builder.build();
    await systemCalls.verify();
    return { block, receipts, senders, state, rejected };
  }

  /**
   * Validator path: re-executes a proposed block on `state` and checks it with the rules
   * both executors share (header-rules.ts): header before, every root after.
   */
  async execute(
    block: Block,
    parent: Block,
    state: FlatStateManager,
    opts: ExecuteOptions = {},
  ): Promise<ExecutedBlock> {
    const h = block.header;
    await checkHeaderRules(block, parent, opts.rules ?? "meridian");
    checkTransactionsRoot(h, transactionsRootOf(block));
    const vm = await this.vmFor(state, opts.blockHash && blockHashSource(opts.blockHash));
    const systemCalls = checkRequestSystemCalls(vm, h.number);
    // The staking calls touch only the staking contract (and the issuance its balance), never the
    // EIP-4788/2935/7002/7251 contracts runBlock calls: running them around runBlock gives the
    // state the builder's order (prologue, staking, txs, endEpoch, requests) gives.
    const stakingBlock = opts.staking && stakingContextBlock(vm.common, h);
    let result: Awaited<ReturnType<typeof runBlock>>;
    try {
      if (opts.staking && stakingBlock) await runStakingPrologue(vm, stakingBlock, opts.staking);
      // `generate`: the VM computes the header fields and leaves comparing them to checkExecutedHeader.
      result = await runBlock(vm, {
        block,
        generate: true,
        skipBlockValidation: true,
        skipHardForkValidation: true,
      });
      if (opts.staking && stakingBlock) {
        await runStakingEpilogue(vm, stakingBlock, opts.staking);
        if (opts.staking.endEpoch) result.stateRoot = await state.getStateRoot();
      }
    } catch (err) {
      if (err instanceof ExecutionError) throw err;
      return rejectBlock(h.number, BlockRuleCode.invalidBlock, (err as Error).message);
    }
    await systemCalls.verify();
    checkExecutedHeader(h, {
      gasUsed: result.gasUsed,
      logsBloom: result.logsBloom,
      receiptTrie: result.receiptsRoot,
      requestsHash: result.requestsHash,
      blobGasUsed: blobGasUsedBy(block),
      withdrawalsRoot: block.withdrawals && (await genWithdrawalsTrieRoot(block.withdrawals)),
      stateRoot: result.stateRoot,
    });
    const senders = block.transactions.map((tx) => tx.getSenderAddress().bytes);
    const receipts = result.results.map((r, i) =>
      receiptOf(
        block.transactions[i] as TypedTransaction,
        senders[i] as Uint8Array,
        r,
        h.baseFeePerGas ?? 0n,
      ),
    );
    return { block, receipts, senders, state, rejected: [] };
  }

  /**
   * Runs a transaction-shaped call without a signature, nonce or balance
   * checks (eth_call / eth_estimateGas / eth_createAccessList). `block` is the
   * context block; the call pays no base fee.
   */
  async call(
    input: CallParams,
    block: Block,
    state: StateManagerInterface,
    opts: CallOptions,
  ): Promise<CallOutput> {
    const run = async (vm: VM): Promise<RunTxResult> => {
      // From Osaka on no transaction may have more than EIP-7825's 2^24 gas: neither may a call.
      const cap =
        vm.common.isActivatedEIP(7825) && opts.gasCap > MAX_TX_GAS_EIP7825 ? MAX_TX_GAS_EIP7825 : opts.gasCap;
      const gasLimit = input.gas === undefined || input.gas > cap ? cap : input.gas;
      const from = new Address(input.from ?? ZERO_ADDRESS);
      const fromAccount = await state.getAccount(from);
      const callBlock = this.callContext(block, gasLimit);
      const blobGasPrice = input.blobVersionedHashes ? callBlock.header.getBlobGasPrice() : 0n;
      const nonce = input.nonce ?? fromAccount?.nonce ?? 0n;
      // geth's ErrNonceMax wording instead of @ethereumjs's "nonce cannot equal or exceed MAX_UINT64".
      if (nonce >= MAX_NONCE) {
        throw new ExecutionError(`nonce has max value: address ${from.toString()}, nonce: ${nonce}`, {
          code: "NONCE_MAX",
        });
      }
      const tx = createTx(callTxData(input, nonce, gasLimit, blobGasPrice), {
        common: vm.common,
        freeze: false,
      });
      // Calls are unsigned: the caller is whoever the request names.
      tx.getSenderAddress = () => from;
      let r: RunTxResult;
      try {
        r = await runTx(vm, {
          tx,
          block: callBlock,
          skipNonce: true,
          skipBalance:
            input.gasPrice === undefined &&
            input.maxFeePerGas === undefined &&
            input.maxFeePerBlobGas === undefined,
          skipBlockGasLimitValidation: true,
          skipHardForkValidation: true,
          reportAccessList: opts.reportAccessList ?? false,
        });
      } catch (err) {
        const raw = (err as Error).message;
        if (raw.startsWith("execution aborted (timeout")) {
          throw new ExecutionError(raw, { code: "EXECUTION_TIMEOUT", cause: err });
        }
        // geth's wording, which clients match on, instead of the VM's internal message.
        if (raw.includes("enough funds")) {
          throw new ExecutionError("insufficient funds for gas * price + value", {
            code: "INSUFFICIENT_FUNDS",
            cause: err,
          });
        }
        // geth: "intrinsic gas too low: have 0, want 53000", not the VM's INTRINSIC_GAS_TOO_LOW text.
        const intrinsic = /gas limit (\d+) is lower than the minimum gas limit of (\d+)/.exec(raw);
        const message = intrinsic
          ? `intrinsic gas too low: have ${intrinsic[1]}, want ${intrinsic[2]}`
          : (raw.split(" (vm hf=")[0]?.split(" -> ")[0] ?? "call failed");
        throw new ExecutionError(message, { code: "CALL_INVALID", cause: err });
      }
      return r;
    };
    let r: RunTxResult;
    if (opts.tracer) {
      const vm = await this.vmFor(state, opts.blockHash && blockHashSource(opts.blockHash));
      opts.tracer(vm);
      r = await run(vm);
    } else {
      r = await this.vms.with(state, run, opts.timeoutMs, opts.blockHash);
    }
    const ex = r.execResult.exceptionError;
    const out: CallOutput = { returnData: r.execResult.returnValue, gasUsed: r.totalGasSpent };
    if (ex) out.error = { kind: ex.error === "revert" ? "revert" : "halt", message: ex.error };
    if (r.accessList) {
      out.accessList = r.accessList.map((e) => ({
        address: Buffer.from(e.address.slice(2), "hex"),
        storageKeys: e.storageKeys.map((k) => Buffer.from(k.slice(2), "hex")),
      }));
    }
    return out;
  }

  /**
   * The block context calls run in: the selected block with no base fee and a gas limit that
   * fits the call. Cached, since building a block (and its Common parameters) costs more than
   * a simple call.
   */
  private callContext(block: Block, gasLimit: bigint): Block {
    const limit = gasLimit > block.header.gasLimit ? gasLimit : block.header.gasLimit;
    const key = `${bytesToHex(block.hash())}:${limit}`;
    let ctx = this.callBlocks.get(key);
    if (!ctx) {
      ctx = createBlock(
        { header: { ...block.header.toJSON(), baseFeePerGas: 0n, gasLimit: limit } },
        { common: this.common, skipConsensusFormatValidation: true },
      );
      if (this.callBlocks.size >= 32) this.callBlocks.delete(this.callBlocks.keys().next().value as string);
      this.callBlocks.set(key, ctx);
    }
    return ctx;
  }

  /** Binary search for the lowest gas limit at which the call succeeds, as geth does. */
  /**
   * Runs a staking chain's next-block system calls on `state` (the state after `head`), so a
   * call or estimate on it sees what the next block's transactions will: its storage writes
   * cost what they will cost there.
   */
  async applyStakingPrologue(
    state: StateManagerInterface,
    head: Block,
    staking: StakingBlockCalls,
  ): Promise<void> {
    const vm = await this.vmFor(state);
    await runStakingPrologue(
      vm,
      stakingContextBlock(vm.common, {
        number: head.header.number + 1n,
        timestamp: head.header.timestamp + 1n,
        coinbase: head.header.coinbase.bytes,
        gasLimit: head.header.gasLimit,
      }),
      staking,
    );
  }

  async estimateGas(
    input: CallParams,
    block: Block,
    freshState: () => StateManagerInterface | Promise<StateManagerInterface>,
    gasCap: bigint,
    timeoutMs = 0,
    blockHash?: BlockHashLookup,
  ): Promise<bigint> {
    // One time budget for the whole search, as geth's RPCEVMTimeout applies per request.
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY;
    const budget = () => {
      if (deadline === Number.POSITIVE_INFINITY) return 0;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new ExecutionError(`execution aborted (timeout = ${timeoutMs / 1000}s)`, {
          code: "EXECUTION_TIMEOUT",
        });
      }
      return left;
    };
    const hi0 = input.gas !== undefined && input.gas < gasCap ? input.gas : gasCap;
    // A limit below the intrinsic gas fails before execution: geth counts it as "too low"
    // (it happens when refunds, such as EIP-7702's for existing authorities, put the gas
    // used under the intrinsic gas).
    const succeeds = async (gas: bigint): Promise<boolean> => {
      try {
        const r = await this.call({ ...input, gas }, block, await freshState(), {
          gasCap,
          timeoutMs: budget(),
          blockHash,
        });
        return !r.error;
      } catch (err) {
        if (err instanceof ExecutionError && err.code === "CALL_INVALID") return false;
        throw err;
      }
    };
    // A plain value transfer to an account without code: try 21,000 first, as geth does.
    if ((input.data === undefined || input.data.length === 0) && input.to && hi0 >= TX_GAS) {
      const codeSize = await (await freshState()).getCodeSize(new Address(input.to));
      if (codeSize === 0 && (await succeeds(TX_GAS))) return TX_GAS;
    }
    const first = await this.call({ ...input, gas: hi0 }, block, await freshState(), {
      gasCap,
      timeoutMs: budget(),
      blockHash,
    });
    if (first.error) {
      const message =
        first.error.kind === "revert"
          ? "execution reverted"
          : first.error.message.includes("out of gas")
            ? `gas required exceeds allowance (${hi0})`
            : first.error.message;
      throw new ExecutionError(message, {
        code: first.error.kind === "revert" ? "EXECUTION_REVERTED" : "EXECUTION_FAILED",
        details: bytesToHex(first.returnData),
      });
    }
    let lo = first.gasUsed - 1n;
    let hi = hi0;
    // Most calls succeed at gasUsed * 64/63 (the 1/64 retained by CALL); try it first.
    const guess = (first.gasUsed * 64n) / 63n;
    if (guess < hi) {
      if (await succeeds(guess)) hi = guess;
      else lo = guess;
    }
    while (lo + 1n < hi) {
      const mid = (lo + hi) / 2n;
      if (await succeeds(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /**
   * Re-executes `txIndex` of `block` over `parentState` with a tracer hooked to the VM: first
   * the block's system calls (EIP-4788 beacon root, EIP-2935 parent hash, through
   * @ethereumjs's BlockBuilder as the block path runs them), then the transactions before it,
   * so the traced one sees the state and BLOCKHASH values it saw in the block.
   */
  async replay(
    block: Block,
    parent: Block,
    txIndex: number,
    parentState: StateManagerInterface,
    hook: (vm: VM) => void,
    blockHash?: BlockHashLookup,
    staking?: StakingBlockCalls,
  ): Promise<RunTxResult> {
    const [r] = await this.replayTraced(
      block,
      parent,
      parentState,
      txIndex,
      txIndex,
      (_, vm) => hook(vm),
      blockHash,
      staking,
    );
    return r as RunTxResult;
  }

  /**
   * Re-executes transactions `from`..`to` of `block` (those before `from` untraced, for their
   * state) with `attach(index, vm)` hooking a tracer to the VM for each; the listeners a
   * transaction's tracer added are removed before the next one runs.
   */
  async replayTraced(
    block: Block,
    parent: Block,
    parentState: StateManagerInterface,
    from: number,
    to: number,
    attach: (index: number, vm: VM) => void,
    blockHash?: BlockHashLookup,
    /** A staking block's system calls: they ran before its transactions, so they run here too. */
    staking?: StakingBlockCalls,
  ): Promise<RunTxResult[]> {
    const vm = await this.vmFor(parentState, blockHash && blockHashSource(blockHash));
    const header = block.header;
    await buildBlock(vm, {
      parentBlock: parent,
      headerData: {
        number: header.number,
        timestamp: header.timestamp,
        coinbase: header.coinbase,
        gasLimit: header.gasLimit,
        mixHash: header.mixHash,
        parentBeaconBlockRoot: header.parentBeaconBlockRoot,
      },
      withdrawals: block.withdrawals?.map((w) => w.toValue()),
      blockOpts: { putBlockIntoBlockchain: false, common: vm.common },
    });
    if (staking) await runStakingPrologue(vm, stakingContextBlock(vm.common, header), staking);
    const ctx = createBlock({ header: header.toJSON() }, { common: vm.common, freeze: false });
    let gasUsed = 0n;
    const traced: RunTxResult[] = [];
    for (let i = 0; i <= to && i < block.transactions.length; i++) {
      const emitters = [vm.events, vm.evm.events].filter((e) => e !== undefined) as unknown as Emitter[];
      const before = emitters.map((e) => new Map(e.eventNames().map((n) => [n, e.listeners(n)])));
      if (i >= from) attach(i, vm);
      try {
        const r = await runTx(vm, {
          tx: block.transactions[i] as TypedTransaction,
          block: ctx,
          skipHardForkValidation: true,
          blockGasUsed: gasUsed,
        });
        gasUsed += r.totalGasSpent;
        if (i >= from) traced.push(r);
      } finally {
        emitters.forEach((e, k) => {
          for (const name of e.eventNames()) {
            const kept = before[k]?.get(name) ?? [];
            for (const l of e.listeners(name)) if (!kept.includes(l)) e.off(name, l);
          }
        });
      }
    }
    return traced;
  }
}

/** The listener bookkeeping replayTraced needs of the VM's and EVM's event emitters. */
type Emitter = {
  eventNames(): (string | symbol)[];
  listeners(name: string | symbol): unknown[];
  off(name: string | symbol, listener: unknown): unknown;
};

/**
 * EIP-7825 (Osaka): why `tx` may not go in a block of `common`'s fork, or undefined. A
 * transaction object built under an earlier fork (a pool admits it before the switch) is not
 * checked by @ethereumjs when it runs, but the block made from it would fail to build.
 */
export function txGasCapError(common: Common, tx: TypedTransaction): string | undefined {
  if (!common.isActivatedEIP(7825) || tx.gasLimit <= MAX_TX_GAS_EIP7825) return undefined;
  return `transaction gas limit too high (cap: ${MAX_TX_GAS_EIP7825}, tx: ${tx.gasLimit})`;
}

/** EIP-7825's per-transaction gas cap. */
const MAX_TX_GAS_EIP7825 = 2n ** 24n;

export type { Message };
