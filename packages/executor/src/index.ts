export type {
  BuildRequest,
  CallInput,
  CallOutput,
  ExecutedBlock,
  TxCandidate,
  TxSource,
} from "./executor.ts";
export { ExecutionError, effectiveGasPrice, SequentialExecutor } from "./executor.ts";
export type { GenesisAccount, GenesisSpec } from "./genesis.ts";
export { buildGenesis, chainCommon, GenesisError, parseGenesis } from "./genesis.ts";
export type { StoredLog, StoredReceipt } from "./receipts.ts";
export { decodeReceipts, encodeReceipts } from "./receipts.ts";
export type { StructLoggerOptions } from "./tracers.ts";
export { callTracer, structLogger } from "./tracers.ts";
