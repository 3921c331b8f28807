/** Messages between the parallel executor and its worker threads (structured clone). */
import type { ShardResult, ShardTask } from "@meridian/state";
import type { BatchRequest, TxResult } from "./exec-core.ts";
import type { AccountValue } from "./tx-state.ts";

export type WorkerInit = { chainId: number; hardfork: string; native: boolean; fastTransfers: boolean };

export type WorkerRequest =
  | { kind: "exec"; id: number; req: BatchRequest }
  | { kind: "shard"; id: number; task: ShardTask }
  /** orderedTrieRoot of the values packed in `bytes` (value i ends at `ends[i]`). */
  | { kind: "root"; id: number; bytes: Uint8Array; ends: Uint32Array }
  /**
   * The receipts-trie leaf hashes (32 bytes each, in order) of the receipts kept under `key`,
   * the first at index `first` of `count`, cumulative gas counted from `gasBefore`.
   */
  | { kind: "receipt-leaves"; id: number; key: number; count: number; first: number; gasBefore: bigint }
  /** keccak256 of `bytes`. */
  | { kind: "keccak"; id: number; bytes: Uint8Array }
  | { kind: "fetched"; fid: number; values: [string, AccountValue | Uint8Array | undefined][] }
  | { kind: "crash" };

export type WorkerResponse =
  | { kind: "ready"; backend: "native" | "noble" }
  | { kind: "exec-done"; id: number; results: TxResult[] }
  | { kind: "shard-done"; id: number; result: ShardResult }
  | { kind: "root-done"; id: number; root: Uint8Array }
  | { kind: "hash-done"; id: number; hash: Uint8Array }
  | { kind: "leaves-done"; id: number; refs: Uint8Array }
  | { kind: "fetch"; id: number; fid: number; keys: string[] }
  | { kind: "failed"; id: number; message: string };
