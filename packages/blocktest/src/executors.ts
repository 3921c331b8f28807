/**
 * The executors a blocktest runs blocks through. Every executor re-executes a
 * block on a FlatStateManager overlay and either throws (block rejected) or
 * returns the receipts with the overlay holding the block's state changes.
 *
 * The parallel executor validates a block from its Meridian block access list,
 * which Ethereum blocks do not carry; so for each fixture block it first
 * parallel-*builds* a block from the fixture's transactions with the fixture
 * header's execution fields (discovering the list), checks the built header
 * against the fixture's roots, then parallel-*validates* the built block from
 * its list on a fresh overlay of the parent state.
 */
import type { Block } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { TypedTransaction } from "@ethereumjs/tx";
import {
  checkExecutedHeader,
  checkTransactionsRoot,
  executedFieldsOf,
  type ParallelExecutor,
  SequentialExecutor,
  type StoredReceipt,
  type TxSource,
  validateHeader,
} from "@meridian/executor";
import { bytesToHex } from "@meridian/primitives";
import type { FlatStateManager } from "@meridian/state";

export type ExecutorMode = "sequential" | "parallel" | "both";

export type ExecuteOptions = NonNullable<Parameters<SequentialExecutor["execute"]>[3]> & {
  /** A fresh overlay of the parent state, for executors that need a second pass (parallel). */
  freshState?: () => FlatStateManager;
};

export interface BlockExecutor {
  readonly name: string;
  execute(
    block: Block,
    parent: Block,
    state: FlatStateManager,
    opts: ExecuteOptions,
  ): Promise<{ receipts: StoredReceipt[]; state: FlatStateManager }>;
  close?(): Promise<void> | void;
}

/**
 * Builds the executors for one hardfork; the first one is the reference whose result is
 * committed. `close` releases what the factory shares between cases (worker threads).
 */
export type ExecutorFactory = ((common: Common) => BlockExecutor[]) & { close?: () => Promise<void> };

export class ExecutorUnavailableError extends Error {
  override name = "ExecutorUnavailableError";
}

type ParallelExecutorCtor = new (common: Common, opts?: { workers?: number }) => ParallelExecutor;

/**
 * The parallel executor plugs in as `ParallelExecutor` exported by @meridian/executor,
 * constructed with a Common, with `build(req)` (block + access list) and
 * `validate(block, accessList, parent, state, opts)`. Anything else is reported as
 * unavailable, with why.
 */
export async function loadParallelExecutor(
  mod: Record<string, unknown> | undefined = undefined,
): Promise<ParallelExecutorCtor> {
  const exports = mod ?? ((await import("@meridian/executor")) as Record<string, unknown>);
  const ctor = exports.ParallelExecutor;
  if (typeof ctor !== "function") {
    throw new ExecutorUnavailableError(
      "parallel executor not available: @meridian/executor does not export ParallelExecutor; use --executor sequential",
    );
  }
  const proto = ctor.prototype as Record<string, unknown> | undefined;
  for (const method of ["build", "validate"]) {
    if (typeof proto?.[method] !== "function") {
      throw new ExecutorUnavailableError(
        `parallel executor not available: ParallelExecutor has no ${method}(); use --executor sequential`,
      );
    }
  }
  return ctor as unknown as ParallelExecutorCtor;
}

const fail = (reason: string): never => {
  throw new Error(`parallel: ${reason}`);
};

/** Fixture block → parallel build (list discovery) → header roots compared → parallel validation. */
export class ParallelBlockExecutor implements BlockExecutor {
  readonly name = "parallel";
  readonly inner: ParallelExecutor;

  constructor(inner: ParallelExecutor) {
    this.inner = inner;
  }

  async execute(
    block: Block,
    parent: Block,
    state: FlatStateManager,
    opts: ExecuteOptions,
  ): Promise<{ receipts: StoredReceipt[]; state: FlatStateManager }> {
    const h = block.header;
    const rules = opts.rules ?? "meridian";
    // The fixture's own header and body rules, as the sequential executor checks them.
    await validateHeader(block, parent, rules);
    const txs = block.transactions;
    let next = 0;
    let senderError: string | undefined;
    const source: TxSource = {
      peek: () => {
        const tx = txs[next] as TypedTransaction | undefined;
        if (!tx || senderError !== undefined) return undefined;
        try {
          return { tx, sender: tx.getSenderAddress().bytes };
        } catch (err) {
          senderError = `tx ${next}: ${(err as Error).message}`;
          return undefined;
        }
      },
      shift: () => {
        next++;
      },
      pop: () => {
        next++;
      },
    };
    const built = await this.inner.build({
      parent,
      state,
      timestamp: h.timestamp,
      coinbase: h.coinbase.bytes,
      txs: source,
      header: {
        gasLimit: h.gasLimit,
        mixHash: h.mixHash,
        parentBeaconBlockRoot: h.parentBeaconBlockRoot,
        withdrawals: block.withdrawals?.map((w) => w.toValue()),
      },
      allowBlobTxs: true,
      blockHash: opts.blockHash,
    });
    if (senderError !== undefined) fail(`build: ${senderError}`);
    const dropped = built.rejected[0];
    if (dropped) {
      const i = txs.findIndex((tx) => bytesToHex(tx.hash()) === bytesToHex(dropped.hash));
      fail(`build rejected tx ${i}: ${dropped.reason}`);
    }
    if (built.receipts.length !== txs.length)
      fail(`build included ${built.receipts.length} of ${txs.length} transactions`);
    // The built header against the fixture's, with the comparisons both executors apply.
    const g = built.block.header;
    try {
      checkTransactionsRoot(h, g.transactionsTrie);
      checkExecutedHeader(h, executedFieldsOf(g));
    } catch (err) {
      fail(`built block: ${(err as Error).message}`);
    }
    const fresh = opts.freshState ?? fail("no fresh parent state to validate on");
    const validated = await this.inner.validate(built.block, built.accessList, parent, fresh(), {
      rules,
      blockHash: opts.blockHash,
    });
    return { receipts: validated.receipts, state: validated.state };
  }
}

function sequentialExecutor(common: Common): BlockExecutor {
  const inner = new SequentialExecutor(common);
  return {
    name: "sequential",
    execute: (block, parent, state, opts) => inner.execute(block, parent, state, opts),
  };
}

export type ExecutorFactoryOptions = {
  /** Worker threads of each ParallelExecutor (one per runner thread, shared by its cases); default 1. */
  parallelWorkers?: number;
};

/** Resolves `mode` to an executor factory; fails before any case runs if an executor is missing. */
export async function executorFactory(
  mode: ExecutorMode,
  opts: ExecutorFactoryOptions = {},
): Promise<ExecutorFactory> {
  if (mode === "sequential") return (common) => [sequentialExecutor(common)];
  const Parallel = await loadParallelExecutor();
  // One ParallelExecutor (and its worker pool) per hardfork, shared by every case.
  const shared = new Map<string, ParallelBlockExecutor>();
  const parallel = (common: Common): BlockExecutor => {
    let ex = shared.get(common.hardfork());
    if (!ex) {
      ex = new ParallelBlockExecutor(new Parallel(common, { workers: opts.parallelWorkers ?? 1 }));
      shared.set(common.hardfork(), ex);
    }
    return ex;
  };
  const factory: ExecutorFactory =
    mode === "parallel"
      ? (common) => [parallel(common)]
      : (common) => [sequentialExecutor(common), parallel(common)];
  factory.close = async () => {
    for (const ex of shared.values()) await ex.inner.close();
    shared.clear();
  };
  return factory;
}
