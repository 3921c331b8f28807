/**
 * The executors a blocktest runs blocks through. Every executor re-executes a
 * block on a FlatStateManager overlay and either throws (block rejected) or
 * returns the receipts with the overlay holding the block's state changes.
 */
import type { Block } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { SequentialExecutor, type StoredReceipt } from "@meridian/executor";
import type { FlatStateManager } from "@meridian/state";

export type ExecutorMode = "sequential" | "parallel" | "both";

export type ExecuteOptions = NonNullable<Parameters<SequentialExecutor["execute"]>[3]>;

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

/** Builds the executors for one hardfork; the first one is the reference whose result is committed. */
export type ExecutorFactory = (common: Common) => BlockExecutor[];

export class ExecutorUnavailableError extends Error {
  override name = "ExecutorUnavailableError";
}

type ParallelExecutorCtor = new (common: Common) => BlockExecutor;

/**
 * The parallel executor plugs in as `ParallelExecutor` exported by
 * @meridian/executor, constructed with a Common, with the same
 * `execute(block, parent, state, opts)` contract as SequentialExecutor (and
 * an optional `close()`). Anything else is reported as unavailable, with why.
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
  if (typeof (ctor.prototype as Record<string, unknown> | undefined)?.execute !== "function") {
    throw new ExecutorUnavailableError(
      "parallel executor not available: ParallelExecutor has no execute(block, parent, state, opts) for " +
        "Ethereum blocks (its validate() needs a Meridian block access list committed in extraData); " +
        "use --executor sequential",
    );
  }
  return ctor as unknown as ParallelExecutorCtor;
}

function named(name: string, ctor: new (common: Common) => BlockExecutor, common: Common): BlockExecutor {
  const inner = new ctor(common);
  return {
    name,
    execute: (block, parent, state, opts) => inner.execute(block, parent, state, opts),
    close: () => inner.close?.(),
  };
}

/** Resolves `mode` to an executor factory; fails before any case runs if an executor is missing. */
export async function executorFactory(mode: ExecutorMode): Promise<ExecutorFactory> {
  const sequential = SequentialExecutor as unknown as new (common: Common) => BlockExecutor;
  if (mode === "sequential") return (common) => [named("sequential", sequential, common)];
  const parallel = await loadParallelExecutor();
  if (mode === "parallel") return (common) => [named("parallel", parallel, common)];
  return (common) => [named("sequential", sequential, common), named("parallel", parallel, common)];
}
