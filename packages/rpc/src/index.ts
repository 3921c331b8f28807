export type {
  AccountProof,
  BackendEvents,
  BlockOverrides,
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
export type { RpcLimit } from "./events.ts";
export {
  DEFAULT_FILTER_MAX_ITEMS,
  DEFAULT_MAX_FILTERS,
  DEFAULT_MAX_FILTERS_PER_CONNECTION,
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
} from "./events.ts";
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
export {
  DEFAULT_BATCH_LIMIT,
  DEFAULT_FILTER_TIMEOUT_MS,
  DEFAULT_MAX_PROOF_KEYS,
  RpcHandler,
} from "./handler.ts";
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
export type { RpcServer, RpcServerOptions, RpcServerStats } from "./server.ts";
export {
  DEFAULT_BODY_LIMIT,
  DEFAULT_WS_MAX_QUEUED_BYTES,
  hostAllowed,
  startRpcServer,
  wsOriginChecker,
} from "./server.ts";
