import { ConsensusError, ConsensusErrorCode } from "../errors.ts";
import type { ValidatorSet } from "../validator-set.ts";
import { type DuplicateVoteEvidence, evidenceKey, verifyEvidence } from "./evidence.ts";

export type EvidencePoolOptions = {
  chainId: string;
  /** Evidence more than this many heights below the current height is rejected and pruned. */
  maxAgeHeights: bigint;
};

export type AddEvidenceResult = "added" | "duplicate";

/**
 * Verified equivocations waiting to be included in a block, one per (validator, height, round,
 * type). Evidence older than `maxAgeHeights` is rejected; committed evidence is not re-added.
 */
export class EvidencePool {
  private readonly opts: EvidencePoolOptions;
  private readonly pendingByKey = new Map<string, DuplicateVoteEvidence>();
  private readonly committedKeys = new Map<string, bigint>();

  constructor(opts: EvidencePoolOptions) {
    this.opts = opts;
  }

  /** Verifies and adds; throws EvidenceExpired or InvalidEvidence. */
  add(evidence: DuplicateVoteEvidence, currentHeight: bigint, validators: ValidatorSet): AddEvidenceResult {
    const height = evidence.voteA.height;
    if (height + this.opts.maxAgeHeights < currentHeight)
      throw new ConsensusError(
        `evidence at height ${height} is older than ${this.opts.maxAgeHeights} heights`,
        {
          code: ConsensusErrorCode.EvidenceExpired,
        },
      );
    if (height > currentHeight)
      throw new ConsensusError(`evidence at height ${height} is from the future`, {
        code: ConsensusErrorCode.InvalidEvidence,
      });
    const key = evidenceKey(evidence);
    if (this.pendingByKey.has(key) || this.committedKeys.has(key)) return "duplicate";
    verifyEvidence(validators, this.opts.chainId, evidence);
    this.pendingByKey.set(key, evidence);
    return "added";
  }

  /** Evidence to put into the next block, oldest first. */
  pending(): DuplicateVoteEvidence[] {
    return [...this.pendingByKey.values()].sort((a, b) =>
      a.voteA.height < b.voteA.height ? -1 : a.voteA.height > b.voteA.height ? 1 : 0,
    );
  }

  has(evidence: DuplicateVoteEvidence): boolean {
    const key = evidenceKey(evidence);
    return this.pendingByKey.has(key) || this.committedKeys.has(key);
  }

  /** Whether a committed block already recorded this equivocation (within the max age, since start). */
  isCommitted(evidence: DuplicateVoteEvidence): boolean {
    return this.committedKeys.has(evidenceKey(evidence));
  }

  /** Evidence included in a committed block leaves the pool and is not accepted again. */
  markCommitted(evidence: readonly DuplicateVoteEvidence[]): void {
    for (const e of evidence) {
      const key = evidenceKey(e);
      this.pendingByKey.delete(key);
      this.committedKeys.set(key, e.voteA.height);
    }
  }

  /** Drops pending and committed entries that are too old to matter at `currentHeight`. */
  prune(currentHeight: bigint): void {
    const oldest = currentHeight - this.opts.maxAgeHeights;
    for (const [key, e] of this.pendingByKey) if (e.voteA.height < oldest) this.pendingByKey.delete(key);
    for (const [key, h] of this.committedKeys) if (h < oldest) this.committedKeys.delete(key);
  }

  get size(): number {
    return this.pendingByKey.size;
  }
}
