import type { SignedProposal, SignedVote, Timeout } from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";

/**
 * What the core reacts to. Messages arrive already decoded and with their signer recovered
 * (the driver checks signatures); the core checks who may say what.
 */
export type ConsensusInput =
  /** Begin `height` with its validator set: StartRound(0) (Algorithm 1 line 10). */
  | { type: "StartHeight"; height: bigint; validators: ValidatorSet }
  | { type: "Proposal"; proposal: SignedProposal }
  /** A prevote or a precommit (`vote.type`). */
  | { type: "Vote"; vote: SignedVote }
  | { type: "TimeoutFired"; timeout: Timeout }
  /** The application's answer to RequestValue: getValue() of line 18. */
  | { type: "ValueReady"; height: bigint; round: number; valueId: Uint8Array; value: Uint8Array }
  /** The application's answer to RequestValidation: valid(v). */
  | { type: "ProposalValidated"; height: bigint; valueId: Uint8Array; valid: boolean }
  /** The decided block of `height` is committed; `nextValidators` is the set of height + 1. */
  | { type: "BlockCommitted"; height: bigint; nextValidators: ValidatorSet };

export type ConsensusInputType = ConsensusInput["type"];
