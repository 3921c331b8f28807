/**
 * Executes batches of transactions on a TxStateManager: the code a worker
 * runs, and that the main thread runs itself for re-execution and fallback.
 */
import { type Block, createBlock, type HeaderData } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { EVMMockBlockchainInterface } from "@ethereumjs/evm";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { createVM, type RunTxResult, runTx, type VM } from "@ethereumjs/vm";
import type { AccountWrite } from "./access-list.ts";
import { type AccountValue, type Fetcher, type PreState, TxStateManager } from "./tx-state.ts";

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
  /** The transaction could not run (invalid nonce, balance, signature) or read outside its pre-state. */
  error?: { code: string; message: string };
  reads: Map<string, AccountValue | Uint8Array>;
  writes: AccountWrite[];
  coinbaseDelta: bigint | undefined;
  receipt: WireReceipt | undefined;
};

export type WireTx = { index: number; rlp: Uint8Array; sender?: Uint8Array };

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
};

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

export class BatchExecutor {
  readonly common: Common;
  readonly sm = new TxStateManager();
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

  constructor(common: Common) {
    this.common = common;
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
      from = tx.getSenderAddress().bytes;
      const r = await runTx(vm, {
        tx,
        block,
        skipHardForkValidation: true,
        skipBlockGasLimitValidation: true,
        blockGasUsed: 0n,
      });
      const out = sm.endTx();
      return { index, sender: from, ...out, receipt: wireReceipt(r) };
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

  async runBatch(req: BatchRequest, fetcher?: Fetcher): Promise<TxResult[]> {
    const block = this.contextBlock(req.headerKey, req.header);
    this.sm.resetBatch(req.pre, req.coinbase, req.fetch ? fetcher : undefined);
    this.hashes = req.blockHashes;
    const out: TxResult[] = [];
    for (const t of req.txs) {
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
      out.push(await this.runTx(tx, t.index, block, t.sender));
    }
    return out;
  }
}
