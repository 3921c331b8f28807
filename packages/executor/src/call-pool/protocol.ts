/**
 * Messages between the RPC execution pool (main thread) and its workers (structured clone).
 * A job carries its block context as RLP; the worker reads and writes state through `state`
 * requests that the main thread answers from the job's own state (a snapshot at the
 * block's state root with the request's overrides).
 */
import type { CallParams } from "@meridian/primitives";
import type { StructLoggerOptions } from "../tracers.ts";

export type CallWorkerInit = { chainId: number; hardfork: string };

/** The block a call runs on top of: its hash (a cache key) and header RLP. */
export type WireHeader = { hash: Uint8Array; rlp: Uint8Array };

export type TraceConfig =
  | ({ tracer: "structLogger" } & StructLoggerOptions)
  | { tracer: "callTracer"; onlyTopCall?: boolean };

export type CallJob =
  | { kind: "call"; header: WireHeader; input: CallParams; gasCap: bigint }
  | { kind: "estimate"; header: WireHeader; input: CallParams; gasCap: bigint }
  | { kind: "accessList"; header: WireHeader; input: CallParams; gasCap: bigint }
  | {
      kind: "trace";
      /** The traced block's RLP and its parent's header RLP. */
      block: Uint8Array;
      parentHeader: Uint8Array;
      txIndex: number;
      config: TraceConfig;
      /** Size limit of the trace as JSON, in bytes. */
      maxBytes: number;
    };

/** Account as it crosses the thread boundary: [nonce, balance, storageRoot, codeHash] or null. */
export type WireAccount = [bigint, bigint, Uint8Array, Uint8Array] | null;

export type WireAccountFields = {
  nonce?: bigint;
  balance?: bigint;
  storageRoot?: Uint8Array;
  codeHash?: Uint8Array;
};

export type StateOp =
  | { op: "getAccount"; address: Uint8Array }
  | { op: "putAccount"; address: Uint8Array; account: WireAccount }
  | { op: "deleteAccount"; address: Uint8Array }
  | { op: "modifyAccountFields"; address: Uint8Array; fields: WireAccountFields }
  | { op: "putCode"; address: Uint8Array; code: Uint8Array }
  | { op: "getCode"; address: Uint8Array }
  | { op: "getCodeSize"; address: Uint8Array }
  | { op: "getStorage"; address: Uint8Array; key: Uint8Array }
  | { op: "putStorage"; address: Uint8Array; key: Uint8Array; value: Uint8Array }
  | { op: "clearStorage"; address: Uint8Array }
  | { op: "originalStorage"; address: Uint8Array; key: Uint8Array }
  | { op: "clearOriginalStorage" }
  | { op: "checkpoint" }
  | { op: "commit" }
  | { op: "revert" }
  | { op: "getStateRoot" }
  /** Starts over from the snapshot (each run of a gas estimate's search). */
  | { op: "fresh" }
  /** Canonical hash of block `number` for BLOCKHASH. */
  | { op: "blockHash"; number: bigint };

export type StateValue = WireAccount | Uint8Array | number | undefined;

/** Outcome of `CallJob` kinds: call and accessList return CallOutput, estimate a gas amount, trace JSON. */
export type JobResult = unknown;

export type ToWorker =
  | { kind: "job"; id: number; job: CallJob }
  | { kind: "state-result"; sid: number; value: StateValue }
  | { kind: "state-error"; sid: number; message: string };

export type FromWorker =
  | { kind: "ready" }
  | { kind: "state"; id: number; sid: number; req: StateOp }
  | { kind: "done"; id: number; result: JobResult }
  | { kind: "failed"; id: number; message: string; code: string | undefined; details: unknown };
