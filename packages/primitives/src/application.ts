/**
 * The application interface consensus drives, in the spirit of ABCI++ — the one interface
 * between `@meridian/consensus` (which calls it `ConsensusApplication`) and the node's Chain.
 * Consensus never imports the executor: it sees only this contract. A proposal is opaque bytes
 * to consensus (an RLP-encoded block plus whatever the executor attaches, e.g. an access list);
 * the application owns its meaning. Consensus names a value by its id, keccak256 of the bytes.
 */
export type ProposalBytes = Uint8Array;

/** What a restarted node needs to resume consensus (ABCI Info): the last committed block. */
export type AppInfo = {
  /** Height of the last committed block (0 is genesis); consensus resumes at the next one. */
  height: bigint;
  blockHash: Uint8Array;
  /** The state root after that block. */
  appHash: Uint8Array;
};

export type PrepareProposalRequest = {
  height: bigint;
  round: number;
  /** The round's proposer (this node's validator); the block's coinbase. */
  proposer: Uint8Array;
  /** Milliseconds since the epoch, chosen by the proposer. */
  timestampMs: number;
  /** Upper bound on the encoded proposal size. */
  maxBytes: number;
  /**
   * Verified equivocations not yet recorded in a block: the application puts them in the
   * value (consensus cannot: the value is opaque to it) so every validator records them.
   */
  misbehavior?: readonly DuplicateVoteMisbehavior[];
};

export type ProcessProposalRequest = {
  height: bigint;
  round: number;
  /** The round's proposer, who signed the proposal. */
  proposer: Uint8Array;
  value: ProposalBytes;
};

export type ProcessProposalResult =
  | { accept: true; blockHash?: Uint8Array }
  | { accept: false; reason: string };

/** One validator's precommit for the decided value. */
export type CommitSignature = { validator: Uint8Array; signature: Uint8Array };

/** +2/3 of the voting power precommitted `valueId` at (height, round): the proof a block is final. */
export type DecidedCommit = {
  height: bigint;
  round: number;
  valueId: Uint8Array;
  signatures: readonly CommitSignature[];
};

/** A signed vote as consensus sees it (type 1 prevote, 2 precommit; null value id: nil). */
export type SignedVoteData = {
  type: 1 | 2;
  height: bigint;
  round: number;
  valueId: Uint8Array | null;
  validator: Uint8Array;
  signature: Uint8Array;
};

/** Verified misbehaviour: two votes of one validator for one height, round and type. */
export type DuplicateVoteMisbehavior = { voteA: SignedVoteData; voteB: SignedVoteData };

export type FinalizeBlockRequest = {
  height: bigint;
  round: number;
  proposer: Uint8Array;
  value: ProposalBytes;
  commit: DecidedCommit;
  /**
   * Verified equivocations this node holds. An application that carries evidence inside its
   * values records the value's evidence instead and reports it in the result.
   */
  misbehavior: readonly DuplicateVoteMisbehavior[];
};

/** A change of the next height's validator set; power 0 removes the validator. */
export type ValidatorUpdate = { address: Uint8Array; power: number };

/**
 * CometBFT's MaxTotalVotingPower (int64 max / 8) scaled to what a double holds exactly: the
 * proposer-priority arithmetic stays exact below it. A genesis above it is refused; a staking
 * epoch is kept below it (each of `maxValidators` gets at most an equal share).
 */
export const MAX_TOTAL_VOTING_POWER = Math.floor(Number.MAX_SAFE_INTEGER / 8);

/**
 * A staked validator's consensus power: its stake / powerUnit, capped at an equal share of
 * MAX_TOTAL_VOTING_POWER among `maxValidators`, so an active set never exceeds the maximum
 * however much is staked. The genesis set and every epoch's set use it alike.
 */
export function cappedVotingPower(power: bigint, maxValidators: number): number {
  const cap = BigInt(Math.floor(MAX_TOTAL_VOTING_POWER / Math.max(1, maxValidators)));
  return Number(power < cap ? power : cap);
}

export type FinalizeBlockResult = {
  validatorUpdates: readonly ValidatorUpdate[];
  /** The equivocations the block recorded, when not `misbehavior` of the request. */
  misbehavior?: readonly DuplicateVoteMisbehavior[];
};

/** Consensus data stored alongside the block: who proposed, which round, and the commit. */
export type CommitInfo = {
  height: bigint;
  round: number;
  proposer: Uint8Array;
  /**
   * What the precommits signed: consensus' id of the decided value (keccak256 of the proposal
   * bytes). Absent in blocks written before the node ran consensus.
   */
  valueId?: Uint8Array;
  /** Signatures of the validators that precommitted the value (+2/3 of the voting power). */
  signatures: readonly CommitSignature[];
  /** Equivocations the block records (finalizeBlock's misbehaviour). */
  misbehavior?: readonly DuplicateVoteMisbehavior[];
};

export type FinalizedBlock = { height: bigint; hash: Uint8Array; txCount: number; gasUsed: bigint };

export interface Application {
  /** The last committed block: where consensus resumes (WAL replay) after a restart. */
  info(): AppInfo;
  /** Height of the last committed block (0 is genesis); `info().height`. */
  lastCommittedHeight(): bigint;
  /** Builds a proposal for `height` (the mempool's transactions for a block). */
  prepareProposal(req: PrepareProposalRequest): Promise<ProposalBytes>;
  /** valid(v): re-executes the proposal; never changes committed state. */
  processProposal(req: ProcessProposalRequest): Promise<ProcessProposalResult>;
  /**
   * Executes (or reuses the result of processing) the decided proposal with its commit and
   * misbehaviour, without persisting it; returns changes to the next height's validator set.
   */
  finalizeBlock(req: FinalizeBlockRequest): Promise<FinalizeBlockResult>;
  /** Persists the finalised block of `height` in one atomic batch and makes it the head. */
  commit(height: bigint): Promise<unknown>;
}
