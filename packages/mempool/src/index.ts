export { invalidTransaction, TX_REJECTED, type TxErrorMessage, TxErrors, TxRejectedError } from "./errors.ts";
export { effectiveTip, type PendingIterator } from "./iterator.ts";
export { TxJournal, type TxJournalOptions } from "./journal.ts";
export { TxPool } from "./pool.ts";
export type {
  AddResult,
  PendingListener,
  PooledTx,
  PoolStateView,
  TxPoolContent,
  TxPoolOptions,
  TxPoolStatus,
} from "./types.ts";
