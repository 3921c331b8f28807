import type { Common } from "@ethereumjs/common";
import type { TypedTransaction } from "@ethereumjs/tx";
import type { Logger } from "@meridian/primitives";

/** Account state at the head block, as the pool needs it. */
export interface PoolStateView {
  getAccount(address: Uint8Array): Promise<{ nonce: bigint; balance: bigint }>;
}

export type TxPoolOptions = {
  /** Chain id + hardfork used for decoding and validation. */
  common: Common;
  /**
   * The Common of the next block, where a fork schedule switches the rules (EIP-7825's gas
   * cap from Osaka on, say); called for each admission. Default: `common`.
   */
  nextBlockCommon?: () => Common;
  /** Gas limit of the next block. */
  blockGasLimit: () => bigint;
  /** Base fee of the next block; prices eviction and promotion. */
  baseFee: () => bigint;
  /** Minimum tip in wei (geth txpool.pricelimit); default 1n. */
  priceLimit?: bigint;
  /** Replacement bump in percent (geth txpool.pricebump); default 10. */
  priceBump?: number;
  /** Pending txs each sender is guaranteed when the pool is full; default 16. */
  accountSlots?: number;
  /** Max pending txs overall; default 5120. */
  globalSlots?: number;
  /** Max queued (future) txs per sender; default 64. */
  accountQueue?: number;
  /** Max queued txs overall; default 1024. */
  globalQueue?: number;
  /** Max encoded tx size in bytes (geth txMaxSize); default 128 KiB. */
  maxTxBytes?: number;
  logger?: Logger;
};

/** A transaction held by the pool; the sender was recovered once at admission. */
export type PooledTx = {
  readonly tx: TypedTransaction;
  readonly sender: Uint8Array;
  readonly hash: Uint8Array;
  readonly raw?: Uint8Array;
  /** Admission time, ms since epoch. */
  readonly addedAt: number;
};

export type TxPoolStatus = { pending: number; queued: number };

/** Lower-case 0x sender → decimal nonce → tx (geth txpool_content shape). */
export type TxPoolContent = {
  pending: Map<string, Map<string, TypedTransaction>>;
  queued: Map<string, Map<string, TypedTransaction>>;
};

export type AddResult = { hash: Uint8Array; sender: Uint8Array };

export type PendingListener = (tx: PooledTx) => void;
