export type {
  AccountProof,
  BackendEvents,
  BlockSelector,
  BlockTag,
  CallRequest,
  CallResult,
  FeeHistory,
  LogFilter,
  RpcBackend,
  RpcLog,
  RpcReceipt,
  StateOverride,
  SyncStatus,
  TraceOptions,
  TransactionWithLocation,
  TxPoolContent,
} from "./backend.ts";
export { decodeRevertReason, ParamError, RpcError, RpcErrorCode } from "./errors.ts";
export type {
  Hex,
  RpcAccessListJson,
  RpcAuthorizationJson,
  RpcBlockJson,
  RpcFeeHistoryJson,
  RpcHeaderJson,
  RpcLogJson,
  RpcProofJson,
  RpcReceiptJson,
  RpcSyncStatusJson,
  RpcTransactionJson,
  RpcWithdrawalJson,
  TxLocation,
} from "./format.ts";
export {
  formatBlock,
  formatHeader,
  formatLog,
  formatReceipt,
  formatTransaction,
} from "./format.ts";
export type { RpcHandlerOptions, RpcSession } from "./handler.ts";
export { DEFAULT_BATCH_LIMIT, DEFAULT_FILTER_TIMEOUT_MS, RpcHandler } from "./handler.ts";
export type { FilterCriteria } from "./params.ts";
export {
  parseAddress,
  parseBlockNumberOrHash,
  parseBlockNumberOrTag,
  parseCallRequest,
  parseData,
  parseDuration,
  parseHash,
  parseQuantity,
  parseStorageKey,
  parseTraceOptions,
} from "./params.ts";
export { RawJson } from "./raw-json.ts";
export type { RpcServer, RpcServerOptions } from "./server.ts";
export { DEFAULT_BODY_LIMIT, startRpcServer } from "./server.ts";
