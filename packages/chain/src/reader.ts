import type { Block, BlockHeader } from "@ethereumjs/block";
import type { CommitInfo } from "@meridian/primitives";

/** A validator of a height as the chain records it (the genesis set until staking updates it). */
export type ChainValidator = { address: Uint8Array; power: bigint };

/**
 * What readers of the committed chain (RPC, a follower's block sync, the L1 bridge) need, by
 * height: headers, blocks, the commit that finalised each, and the validator set that signed it.
 * Nothing here changes the chain.
 */
export interface ChainReader {
  /** The last committed block. */
  readonly head: Block;
  headerByNumber(height: bigint): Promise<BlockHeader | undefined>;
  blockByNumber(height: bigint): Promise<Block | undefined>;
  blockByHash(hash: Uint8Array): Promise<Block | undefined>;
  /** The commit (+2/3 precommit signatures, proposer, round) stored with the block of `height`. */
  commitInfo(height: bigint): Promise<CommitInfo | undefined>;
  /** The validator set that decides `height` (heights above the head: the set known now). */
  validatorsAt(height: bigint): readonly ChainValidator[];
}
