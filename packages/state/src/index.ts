export { FlatStateStore } from "./flat-store.ts";
export type { StateProof } from "./historical.ts";
export { historicalState, stateProof } from "./historical.ts";
export { OverlayChanges } from "./overlay-changes.ts";
export type {
  AddressHashes,
  EarlyShards,
  NodeFetch,
  ShardAccount,
  ShardResult,
  ShardRunner,
  ShardTask,
} from "./sharded.ts";
export {
  computeShardedCommitment,
  dbNodeFetch,
  runShardTask,
  shardTasks,
  startShardTasks,
} from "./sharded.ts";
export type { Commitment, StateDiff } from "./state-manager.ts";
export { accountRlp, computeCommitment, FlatStateManager } from "./state-manager.ts";
export { TrieNodeCache, TrieNodeDB } from "./trie-db.ts";
