import type { DuplicateVoteEvidence } from "../evidence/evidence.ts";
import type { Commit, Proposal, SignedProposal, SignedVote, Timeout, Vote } from "../types.ts";

/** What the core asks the driver to do. The core never performs any of it itself. */
export type ConsensusEffect =
  /** Ask the application for a value to propose (getValue(), line 18). Answered by ValueReady. */
  | { type: "RequestValue"; height: bigint; round: number }
  /** Ask the application whether a proposed value is valid. Answered by ProposalValidated. */
  | { type: "RequestValidation"; height: bigint; round: number; valueId: Uint8Array; value: Uint8Array }
  /** Sign our proposal; the driver feeds the signed proposal back as a Proposal input. */
  | { type: "SignProposal"; proposal: Proposal & { value: Uint8Array } }
  /** Sign our vote; the driver feeds the signed vote back as a Vote input. */
  | { type: "SignVote"; vote: Vote }
  /** Gossip our own signed proposal (it is in the WAL by now). */
  | { type: "BroadcastProposal"; proposal: SignedProposal }
  /** Gossip our own signed vote (it is in the WAL by now). */
  | { type: "BroadcastVote"; vote: SignedVote }
  | { type: "ScheduleTimeout"; timeout: Timeout; durationMs: number }
  /** The value of `height` is decided (line 49): finalize and commit it with this commit. */
  | { type: "Decide"; height: bigint; round: number; proposal: SignedProposal; commit: Commit }
  /** A validator signed two different votes for one height, round and type. */
  | { type: "Evidence"; evidence: DuplicateVoteEvidence };

export type ConsensusEffectType = ConsensusEffect["type"];
