export { MAX_TOTAL_VOTING_POWER } from "@meridian/primitives";
export type {
  ConsensusApplication,
  FinalizeRequest,
  FinalizeResult,
  PrepareValueRequest,
  ProcessValueRequest,
} from "./application.ts";
export { recoverProposal, recoverVote } from "./codec/verify.ts";
export type { UnverifiedProposal, UnverifiedVote, WireMessage } from "./codec/wire.ts";
export {
  DEFAULT_MAX_VALUE_BYTES,
  decodeEvidence,
  decodeMessage,
  encodeEvidence,
  encodeProposal,
  encodeVote,
  MessageType,
  WIRE_VERSION,
} from "./codec/wire.ts";
export { verifyCommit } from "./commit.ts";
export type { ConsensusEffect, ConsensusEffectType } from "./core/effect.ts";
export type { ConsensusInput, ConsensusInputType } from "./core/input.ts";
export type {
  ConsensusState,
  ConsensusStateOptions,
  Decision,
  Mutation,
  PendingSign,
  RoundVotes,
  Step,
  Validity,
  ValueRecord,
} from "./core/state.ts";
export { initialState } from "./core/state.ts";
export type { StepResult } from "./core/step.ts";
export { MAX_PROPOSALS_PER_ROUND, MAX_ROUNDS_AHEAD, resumeEffects, step } from "./core/step.ts";
export type { Tally } from "./core/votes.ts";
export { isOneThird, isQuorum, MAX_VOTES_PER_VALIDATOR, tally } from "./core/votes.ts";
export {
  addressOfKey,
  PROPOSAL_DOMAIN,
  proposalSignBytes,
  recoverSigner,
  SIGNATURE_BYTES,
  signDigest,
  signDigestWithKey,
  VOTE_DOMAIN,
  voteSignBytes,
} from "./crypto.ts";
export type { DriverObserver, DriverOptions, MessageRecoverer, SignedMessage } from "./driver/driver.ts";
export { ConsensusDriver, recoverMessage } from "./driver/driver.ts";
export { EpochValidatorSets } from "./driver/epoch-validator-sets.ts";
export type { ConsensusMetrics, DropReason, Scheduler, TimerHandle, Transport } from "./driver/interfaces.ts";
export { SystemScheduler } from "./driver/interfaces.ts";
export type { ValidatorSetSource } from "./driver/validator-sets.ts";
export { StaticValidatorSets } from "./driver/validator-sets.ts";
export type { FileWalOptions, LoggedInput, ScanResult, Wal, WalRecord } from "./driver/wal.ts";
export { decodeRecord, encodeFrame, FileWal, MAX_FRAME_BYTES, MemoryWal, scanFrames } from "./driver/wal.ts";
export { ConsensusError, ConsensusErrorCode } from "./errors.ts";
export type { DuplicateVoteEvidence } from "./evidence/evidence.ts";
export { evidenceKey, orderEvidence, verifyEvidence } from "./evidence/evidence.ts";
export type { AddEvidenceResult, EvidencePoolOptions } from "./evidence/pool.ts";
export { EvidencePool } from "./evidence/pool.ts";
export { exportSigningState, importSigningState, Signer } from "./signer/signer.ts";
export type { LastSignState, SignerStateStore } from "./signer/store.ts";
export {
  exportSignerState,
  FileSignerStateStore,
  MemorySignerStateStore,
  parseSignerState,
  SignStep,
} from "./signer/store.ts";
export type {
  Commit,
  CommitSignature,
  ConsensusParams,
  Proposal,
  SignedProposal,
  SignedVote,
  Timeout,
  TimeoutKind,
  TimeoutParams,
  Vote,
} from "./types.ts";
export { defaultConsensusParams, timeoutDurationMs, VoteType } from "./types.ts";
export type { Validator, ValidatorUpdate } from "./validator-set.ts";
export { ValidatorSet } from "./validator-set.ts";
