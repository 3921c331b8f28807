/**
 * Executes batches of transactions on a TxStateManager: the code a worker
 * runs, and that the main thread runs itself for re-execution and fallback.
 */
import { type Block, createBlock, type HeaderData } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { EVMMockBlockchainInterface } from "@ethereumjs/evm";
import { Capability, createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { type Address, equalsBytes, KECCAK256_NULL } from "@ethereumjs/util";
import { createVM, type RunTxResult, runTx, type VM } from "@ethereumjs/vm";
import { equalBytes, rlpEncode } from "@meridian/primitives";
import { effectiveGasPrice } from "../executor.ts";
import {
  type AccountWrite,
  decodeTxAccess,
  readsToAccess,
  sameReads,
  sortWrites,
  txAccessToRlp,
} from "./access-list.ts";
import {
  type AccountValue,
  applyAccountWrite,
  type Fetcher,
  foldCoinbaseDelta,
  type PreState,
  TxStateManager,
} from "./tx-state.ts";

export type WireLog = [Uint8Array, Uint8Array[], Uint8Array];

export type WireReceipt = {
  status: 0 | 1;
  gasUsed: bigint;
  logs: WireLog[];
  bloom: Uint8Array;
  createdAddress: Uint8Array | undefined;
};

export type TxResult = {
  index: number;
  sender: Uint8Array | undefined;
  /** True when the sender was recovered here (false: it came with the transaction). */
  recovered?: boolean;
  /** The transaction could not run (invalid nonce, balance, signature) or read outside its pre-state. */
  error?: { code: string; message: string };
  /** Keys read, with the value each had (empty when checked against `BatchRequest.expected`). */
  reads: Map<string, AccountValue | Uint8Array>;
  writes: AccountWrite[];
  coinbaseDelta: bigint | undefined;
  receipt: WireReceipt | undefined;
  /** Checked against the batch's list entries (`BatchRequest.expected`): which part differed. */
  listMismatch?: "reads" | "writes";
  /** Validation: what the block checks and receipts need of the transaction (see TxFacts). */
  facts?: TxFacts;
};

/**
 * The fields of a transaction that validation needs besides its result, sent with it so
 * that the main thread never decodes the block's transactions itself.
 */
export type TxFacts = {
  type: number;
  gasLimit: bigint;
  /** Price per gas paid, under the block's base fee. */
  gasPrice: bigint;
  /** Blob count (EIP-4844); 0 for other types. */
  blobs: number;
};

function txFacts(tx: TypedTransaction, baseFee: bigint): TxFacts {
  const blobs =
    tx.type === 3
      ? (tx as TypedTransaction & { blobVersionedHashes: unknown[] }).blobVersionedHashes.length
      : 0;
  return { type: tx.type, gasLimit: tx.gasLimit, gasPrice: effectiveGasPrice(tx, baseFee), blobs };
}

export type WireTx = {
  index: number;
  rlp: Uint8Array;
  /**
   * The sender's public key when it was already recovered (mempool admission): the worker
   * takes it instead of recovering it again. Only the main thread's own verified keys go here.
   */
  senderPubKey?: Uint8Array;
};

/** The per-object cache @ethereumjs transactions keep (frozen transactions fill it on first recovery). */
type TxCache = { cache: { senderPubKey?: Uint8Array } };

export type BatchRequest = {
  /** Block context: the header fields execution sees (roots may be placeholders). */
  header: HeaderData;
  headerKey: string;
  coinbase: string;
  txs: WireTx[];
  pre: PreState;
  /** Per transaction index: the fee recipient's value before it, when the transaction reads it. */
  coinbasePre?: Map<number, AccountValue>;
  /** Strict: a read outside `pre` fails the transaction. Fetch: misses are asked for. */
  fetch: boolean;
  /** Canonical hashes of the blocks BLOCKHASH may ask for (number → hash); absent ones read as zero. */
  blockHashes?: Map<bigint, Uint8Array>;
  /**
   * Validation: the batch's access-list entries as the list encodes them, back to back (the
   * entry of `txs[i]` ends at `ends[i]`), and the fee recipient's value before the batch. Each
   * result is compared with its entry where it ran and comes back lean: without reads and
   * writes, and without the bloom of a receipt that has no logs (it is all zeros).
   */
  expected?: { entries: Uint8Array; ends: Uint32Array; coinbase: AccountValue };
  /**
   * Validation on several workers: the worker keeps the batch's receipts under this key until
   * the main thread, which alone knows the block's gas before the batch, asks for their
   * receipts-trie leaves (WorkerPool.receiptLeaves).
   */
  receiptsKey?: number;
};

/**
 * Compares what a transaction read and wrote (its fee credit folded onto `coinbaseBefore`)
 * with its list entry, byte for byte: both sides are canonical encodings. Sets
 * `r.listMismatch` on a difference; returns the fee recipient's value after the transaction.
 */
function checkAgainstEntry(
  r: TxResult,
  entry: Uint8Array,
  coinbase: Uint8Array,
  coinbaseBefore: AccountValue,
): AccountValue {
  const writes = [...r.writes];
  if (r.coinbaseDelta !== undefined) {
    const w = foldCoinbaseDelta(coinbase, coinbaseBefore, r.coinbaseDelta);
    if (w) writes.push(w);
  }
  sortWrites(writes);
  const reads = readsToAccess(r.reads.keys());
  if (!equalBytes(rlpEncode(txAccessToRlp({ reads, writes })), entry)) {
    r.listMismatch = sameReads(reads, decodeTxAccess(entry).reads) ? "writes" : "reads";
    return coinbaseBefore;
  }
  const own = writes.find((w) => equalBytes(w.address, coinbase));
  return own ? applyAccountWrite(coinbaseBefore, own) : coinbaseBefore;
}

/** Hooks the VM so the state manager knows when the top-level call has returned. */
function hookPostPhase(vm: VM, sm: TxStateManager): void {
  const evm = vm.evm as unknown as { runCall(opts: unknown): Promise<unknown> };
  const run = evm.runCall.bind(evm);
  let depth = 0;
  evm.runCall = async (opts: unknown) => {
    depth++;
    try {
      return await run(opts);
    } finally {
      depth--;
      if (depth === 0) sm.postPhase = true;
    }
  };
}

export function wireReceipt(r: RunTxResult): WireReceipt {
  return {
    status: r.execResult.exceptionError ? 0 : 1,
    gasUsed: r.totalGasSpent,
    logs: (r.execResult.logs ?? []) as WireLog[],
    bloom: r.bloom.bitvector,
    createdAddress: r.createdAddress?.bytes,
  };
}

const MAX_UINT256 = (1n << 256n) - 1n;
/** Stands for the all-zero bloom of a receipt without logs in checked results (the receiver puts it back). */
const LEAN_BLOOM = new Uint8Array(0);
/**
 * EIPs whose rules the transfer fast path does not implement: with any of them active it stays
 * off. EIP-7825 (Osaka's 2^24 transaction gas cap) is implemented: a transfer over the cap
 * takes the EVM path, which refuses it.
 */
const FAST_PATH_UNSUPPORTED = [7864, 7928, 8037];
const MAX_TX_GAS_EIP7825 = 2n ** 24n;

/** True when `tx` is a plain value transfer the fast path may handle (its state still has to agree). */
function isPlainTransfer(tx: TypedTransaction): boolean {
  if (tx.type > 2 || tx.data.length !== 0 || tx.to === undefined) return false;
  if (tx.type > 0 && (tx as TypedTransaction & { accessList: unknown[] }).accessList.length !== 0)
    return false;
  // Precompiles (and anything else in the low address range) take the EVM path.
  const to = tx.to.bytes;
  for (let i = 0; i < 18; i++) if (to[i] !== 0) return true;
  return false;
}

export class BatchExecutor {
  readonly common: Common;
  readonly sm = new TxStateManager();
  /**
   * Runs plain value transfers between accounts without code directly on the
   * state manager instead of through the EVM: the same reads, writes, fee and
   * receipt (property-tested against sequential execution), a fraction of the cost.
   */
  fastTransfers: boolean;
  /** EIP-7825's per-transaction gas cap when active (Osaka). */
  private readonly maxTxGas: bigint | undefined;
  /** Transactions this executor ran, by path (tests and diagnostics). */
  readonly runs = { fast: 0, evm: 0 };
  private vm: VM | undefined;
  private blocks = new Map<string, Block>();
  /** BLOCKHASH source of the current batch. */
  private hashes: Map<bigint, Uint8Array> | undefined;
  private readonly chain: EVMMockBlockchainInterface = {
    getBlock: async (n: number) => {
      const hash = this.hashes?.get(BigInt(n)) ?? new Uint8Array(32);
      return { hash: () => hash };
    },
    putBlock: async () => {},
    shallowCopy: () => this.chain,
  };

  constructor(common: Common, opts: { fastTransfers?: boolean } = {}) {
    this.common = common;
    this.fastTransfers =
      (opts.fastTransfers ?? true) &&
      common.isActivatedEIP(1559) &&
      !FAST_PATH_UNSUPPORTED.some((eip) => common.isActivatedEIP(eip));
    this.maxTxGas = common.isActivatedEIP(7825) ? MAX_TX_GAS_EIP7825 : undefined;
  }

  private async getVM(): Promise<VM> {
    if (!this.vm) {
      this.vm = await createVM({ common: this.common.copy(), stateManager: this.sm, blockchain: this.chain });
      hookPostPhase(this.vm, this.sm);
    }
    return this.vm;
  }

  contextBlock(key: string, header: HeaderData): Block {
    let b = this.blocks.get(key);
    if (!b) {
      if (this.blocks.size > 8) this.blocks.clear();
      b = createBlock({ header }, { common: this.common, skipConsensusFormatValidation: true });
      this.blocks.set(key, b);
    }
    return b;
  }

  /** Sets the BLOCKHASH source for the transactions run next. */
  setBlockHashes(hashes: Map<bigint, Uint8Array> | undefined): void {
    this.hashes = hashes;
  }

  /** Runs one transaction on the current batch view and folds its writes in. */
  async runTx(
    tx: TypedTransaction,
    index: number,
    block: Block,
    sender: Uint8Array | undefined,
  ): Promise<TxResult> {
    const vm = await this.getVM();
    const sm = this.sm;
    sm.beginTx();
    let from = sender;
    try {
      // Frozen transactions cache their sender: recovery runs once per transaction object.
      const recovered = (tx as unknown as TxCache).cache.senderPubKey === undefined;
      const caller = tx.getSenderAddress();
      from = caller.bytes;
      if (
        this.fastTransfers &&
        isPlainTransfer(tx) &&
        (this.maxTxGas === undefined || tx.gasLimit <= this.maxTxGas)
      ) {
        const receipt = await this.transfer(tx, caller, block);
        if (receipt) {
          this.runs.fast++;
          return { index, sender: from, recovered, ...sm.endTx(), receipt };
        }
        // Not eligible after all (code, funds, nonce, ...): start over on the EVM, which names the error.
        sm.beginTx();
      }
      this.runs.evm++;
      const r = await runTx(vm, {
        tx,
        block,
        skipHardForkValidation: true,
        skipBlockGasLimitValidation: true,
        blockGasUsed: 0n,
      });
      const out = sm.endTx();
      return { index, sender: from, recovered, ...out, receipt: wireReceipt(r) };
    } catch (err) {
      const out = sm.abortTx();
      const e = err as { code?: string; message?: string };
      const code = typeof e.code === "string" && e.code.startsWith("BAL_") ? e.code : "TX_INVALID";
      return {
        index,
        sender: from,
        error: {
          code,
          message: process.env.MERIDIAN_DEBUG
            ? String((err as Error).stack)
            : (String(e.message ?? err).split(" -> ")[0] ?? "failed"),
        },
        reads: out.reads,
        writes: [],
        coinbaseDelta: undefined,
        receipt: undefined,
      };
    }
  }

  /**
   * A value transfer between two accounts without code, as runTx performs it:
   * sender charged gas and value and its nonce bumped, recipient credited,
   * the fee recipient paid the priority fee (a delta, as in the EVM path).
   * Undefined, with nothing written, when any precondition does not hold.
   */
  private async transfer(
    tx: TypedTransaction,
    caller: Address,
    block: Block,
  ): Promise<WireReceipt | undefined> {
    const sm = this.sm;
    const to = tx.to as Address;
    const coinbase = block.header.coinbase;
    if (to.equals(caller) || coinbase.equals(caller) || coinbase.equals(to)) return undefined;
    const baseFee = block.header.baseFeePerGas ?? 0n;
    const gasUsed = tx.getIntrinsicGas();
    if (tx.gasLimit < gasUsed || tx.nonce >= (1n << 64n) - 2n) return undefined;
    const eip1559 = tx.supports(Capability.EIP1559FeeMarket);
    const fees = tx as TypedTransaction & { maxFeePerGas: bigint; gasPrice: bigint };
    const maxFee = eip1559 ? fees.maxFeePerGas : fees.gasPrice;
    if (maxFee < baseFee) return undefined;
    const inclusionFee = eip1559 ? tx.getEffectivePriorityFee(baseFee) : fees.gasPrice - baseFee;
    const gasPrice = inclusionFee + baseFee;
    const sender = await sm.getAccount(caller);
    if (!sender || !equalsBytes(sender.codeHash, KECCAK256_NULL) || sender.nonce !== tx.nonce)
      return undefined;
    // runTx's two funds checks; gasLimit × maxFee covers the upfront cost (gasPrice ≤ maxFee).
    if (sender.balance < tx.value + tx.gasLimit * maxFee) return undefined;
    const recipient = await sm.getAccount(to);
    if (recipient && !equalsBytes(recipient.codeHash, KECCAK256_NULL)) return undefined;
    // An existing empty recipient of a zero-value transfer is deleted by EIP-161 cleanup: EVM path.
    if (recipient && tx.value === 0n && recipient.nonce === 0n && recipient.balance === 0n) return undefined;
    if (recipient && recipient.balance + tx.value > MAX_UINT256) return undefined;
    sender.nonce += 1n;
    sender.balance -= gasUsed * gasPrice + tx.value;
    await sm.putAccount(caller, sender);
    if (recipient) {
      if (tx.value !== 0n) {
        recipient.balance += tx.value;
        await sm.putAccount(to, recipient);
      }
    } else if (tx.value !== 0n) {
      await sm.modifyAccountFields(to, { balance: tx.value });
    }
    sm.postPhase = true;
    await sm.modifyAccountFields(coinbase, {
      balance: ((await sm.getAccount(coinbase))?.balance ?? 0n) + gasUsed * inclusionFee,
    });
    return { status: 1, gasUsed, logs: [], bloom: new Uint8Array(256), createdAddress: undefined };
  }

  async runBatch(req: BatchRequest, fetcher?: Fetcher): Promise<TxResult[]> {
    const block = this.contextBlock(req.headerKey, req.header);
    this.sm.resetBatch(req.pre, req.coinbase, req.fetch ? fetcher : undefined);
    this.hashes = req.blockHashes;
    const out: TxResult[] = [];
    const expected = req.expected;
    const coinbase = Buffer.from(req.coinbase, "hex");
    let coinbaseBefore = expected?.coinbase ?? null;
    for (const [k, t] of req.txs.entries()) {
      const pre = req.coinbasePre?.get(t.index);
      if (pre !== undefined) this.sm.setCommittedAccount(req.coinbase, pre);
      let tx: TypedTransaction;
      try {
        tx = createTxFromRLP(t.rlp, { common: this.common });
      } catch (err) {
        out.push({
          index: t.index,
          sender: undefined,
          error: { code: "TX_INVALID", message: (err as Error).message },
          reads: new Map(),
          writes: [],
          coinbaseDelta: undefined,
          receipt: undefined,
        });
        continue;
      }
      if (t.senderPubKey) (tx as unknown as TxCache).cache.senderPubKey = t.senderPubKey;
      const r = await this.runTx(tx, t.index, block, undefined);
      if (expected) {
        r.facts = txFacts(tx, block.header.baseFeePerGas ?? 0n);
        const entry = expected.entries.subarray(k === 0 ? 0 : expected.ends[k - 1], expected.ends[k]);
        if (!r.error) coinbaseBefore = checkAgainstEntry(r, entry, coinbase, coinbaseBefore);
        r.reads = new Map();
        r.writes = [];
        if (r.receipt && r.receipt.logs.length === 0) r.receipt.bloom = LEAN_BLOOM;
      }
      out.push(r);
    }
    return out;
  }
}
