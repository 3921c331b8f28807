import type {
  Application,
  FinalizeBlockRequest,
  FinalizeBlockResult,
  PrepareProposalRequest,
  ProcessProposalRequest,
} from "@meridian/primitives";

/**
 * What the consensus driver needs from the chain: primitives' `Application` (one interface;
 * the node's Chain implements it). The round and proposer reach prepare/process, the commit
 * and the misbehaviour reach finalize, and validator-set changes come back. Its types are
 * structurally consensus' own: a `Commit` is a `DecidedCommit`, a `DuplicateVoteEvidence` a
 * `DuplicateVoteMisbehavior`, a `ValidatorUpdate` the same record.
 */
export type ConsensusApplication = Application;
export type PrepareValueRequest = PrepareProposalRequest;
export type ProcessValueRequest = ProcessProposalRequest;
export type FinalizeRequest = FinalizeBlockRequest;
export type FinalizeResult = FinalizeBlockResult;
