/**
 * Messages between the RPC execution pool (main thread) and its workers (structured clone).
 * A job carries its block context as RLP; the worker reads state through `state` requests
 * that the main thread answers from the job's snapshot (the block's state root with the
 * request's overrides); the job's writes stay in the worker.
 */
import type { CallParams } from "@meridian/primitives";
import type { ForkActivation } from "../genesis.ts";
import type { CallTracerOptions, StructLoggerOptions } from "../tracers.ts";

/** The chain a worker executes for: each job runs the fork of its block's timestamp. */
export type CallWorkerInit = { chainId: number; hardfork: string; schedule: ForkActivation[] };

/** The block a call runs on top of: its hash (a cache key) and header RLP. */
export type WireHeader = { hash: Uint8Array; rlp: Uint8Array };

export type TraceConfig =
  | ({ tracer: "structLogger" } & StructLoggerOptions)
  | ({ tracer: "callTracer" } & CallTracerOptions)
  | { tracer: "prestateTracer"; diffMode?: boolean }
  | { tracer: "4byteTracer" };

export type CallJob =
  | { kind: "call"; header: WireHeader; input: CallParams; gasCap: bigint }
  | { kind: "estimate"; header: WireHeader; input: CallParams; gasCap: bigint }
  | { kind: "accessList"; header: WireHeader; input: CallParams; gasCap: bigint }
  | {
      kind: "trace";
      /** The traced block's RLP and its parent's header RLP. */
      block: Uint8Array;
      parentHeader: Uint8Array;
      /** One transaction's trace; absent: every transaction's, as `[{txHash, result}]`. */
      txIndex?: number;
      config: TraceConfig;
      /** Size limit of the trace as JSON, in bytes (a whole block's counts as one). */
      maxBytes: number;
    }
  | {
      kind: "traceCall";
      header: WireHeader;
      input: CallParams;
      gasCap: bigint;
      config: TraceConfig;
      maxBytes: number;
    };

/** Account as it crosses the thread boundary: [nonce, balance, storageRoot, codeHash] or null. */
export type WireAccount = [bigint, bigint, Uint8Array, Uint8Array] | null;

/** Reads of the job's snapshot (with the request's overrides); writes stay in the worker. */
export type StateOp =
  | { op: "account"; address: Uint8Array }
  | { op: "storage"; address: Uint8Array; key: Uint8Array }
  | { op: "code"; codeHash: Uint8Array }
  /** Canonical hash of block `number` for BLOCKHASH. */
  | { op: "blockHash"; number: bigint };

export type StateValue = WireAccount | Uint8Array | undefined;

/**
 * Snapshot reads the main thread makes before a job starts and sends with it (the caller,
 * the callee and its code, the coinbase, the slots the last call to the callee read): every
 * call reads the first four, and each would otherwise
 * be a round trip to the main thread while the worker waits.
 */
export type Prefetched = {
  /** Account RLP (as the worker's store keeps it), null where there is none. */
  accounts: [address: Uint8Array, rlp: Uint8Array | null][];
  code: [codeHash: Uint8Array, code: Uint8Array][];
  /** Slots the previous call to the same contract read, with their values in this snapshot. */
  slots: [address: Uint8Array, key: Uint8Array, value: Uint8Array][];
};

/** Outcome of `CallJob` kinds: call and accessList return CallOutput, estimate a gas amount, trace JSON. */
export type JobResult = unknown;

export type ToWorker =
  | { kind: "job"; id: number; job: CallJob; prefetched: Prefetched | undefined }
  | { kind: "state-result"; sid: number; value: StateValue }
  | { kind: "state-error"; sid: number; message: string };

export type FromWorker =
  | { kind: "ready" }
  | { kind: "state"; id: number; sid: number; req: StateOp }
  | { kind: "done"; id: number; result: JobResult }
  | { kind: "failed"; id: number; message: string; code: string | undefined; details: unknown };
