export { GenesisError } from "@meridian/primitives";
export {
  blockBytes,
  type CommonAt,
  type DecodeBlockOptions,
  decodeBlock,
  transactionBytes,
  transactionCount,
  transactionHashes,
} from "./block-rlp.ts";
export type { CallPoolOptions, JobContext, JobState, SubmitOptions } from "./call-pool/pool.ts";
export { CallPool, CallPoolError } from "./call-pool/pool.ts";
export type { CallJob, TraceConfig } from "./call-pool/protocol.ts";
export { memoizeParamsUpdates } from "./common-params.ts";
export type {
  BuildHeaderOverrides,
  BuildRequest,
  BuildWithdrawal,
  CallOptions,
  CallOutput,
  ExecutedBlock,
  TxCandidate,
  TxSource,
} from "./executor.ts";
export { ExecutionError, effectiveGasPrice, SequentialExecutor } from "./executor.ts";
export type { ForkActivation, GenesisAccount, GenesisSpec } from "./genesis.ts";
export { buildGenesis, chainCommon, hardforkAt, parseGenesis } from "./genesis.ts";
export type { BlockRules, ExecutedHeaderFields } from "./header-rules.ts";
export {
  BlockRuleCode,
  checkExecutedHeader,
  checkHeaderRules,
  checkRequestSystemCalls,
  checkTransactionsRoot,
  executedFieldsOf,
  validateHeader,
} from "./header-rules.ts";
export { jumpAnalysesRun, jumpAnalysisCached, setJumpAnalysisCache } from "./jump-analysis.ts";
export { kzg, loadKzg } from "./kzg.ts";
export type {
  AccountRead,
  AccountWrite,
  BlockAccessList,
  Proposal,
  SlotWrite,
  TxAccess,
} from "./parallel/access-list.ts";
export {
  accessListHash,
  decodeAccessList,
  decodeProposal,
  encodeAccessList,
  encodeProposal,
  ReceivedAccessList,
  sameReads,
  sameWrites,
} from "./parallel/access-list.ts";
export type {
  BuildStats,
  ParallelExecutedBlock,
  ParallelExecutorOptions,
  ParallelValidateOptions,
} from "./parallel/executor.ts";
export { ParallelExecutor } from "./parallel/executor.ts";
export type { LogTuple, StoredLog, StoredReceipt } from "./receipts.ts";
export { decodeReceipts, encodeConsensusReceipt, encodeReceipts } from "./receipts.ts";
export {
  runStakingEpilogue,
  runStakingPrologue,
  STAKING_SYSTEM_CALL_FAILED,
  type StakingBlockCalls,
  stakingContextBlock,
} from "./staking-calls.ts";
export type { StructLoggerOptions, TraceLimits } from "./tracers.ts";
export { callTracer, structLogger, TraceLimitError } from "./tracers.ts";
export type { BlockHashLookup } from "./vm-pool.ts";
