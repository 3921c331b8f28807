import type { Commit, ConsensusParams, Proposal, SignedProposal, SignedVote, Vote } from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";

export type Step = "propose" | "prevote" | "precommit" | "decided";

/** A value and its id (keccak256 of the bytes): lockedValue and validValue keep both. */
export type ValueRecord = { valueId: Uint8Array; value: Uint8Array };

/**
 * The votes of one round by validator (address hex): the first vote, then up to
 * MAX_VOTES_PER_VALIDATOR - 1 conflicting ones of an equivocator. Each signed vote counts for
 * its value (the paper counts messages received; quorum intersection still holds because
 * honest validators never equivocate), while "any" thresholds count each validator once.
 */
export type RoundVotes = {
  readonly prevotes: ReadonlyMap<string, readonly SignedVote[]>;
  readonly precommits: ReadonlyMap<string, readonly SignedVote[]>;
};

export type Validity = "pending" | "valid" | "invalid";

/** A sign request that has not come back as a signed message yet (re-issued after a crash). */
export type PendingSign =
  | { type: "vote"; vote: Vote }
  | { type: "proposal"; proposal: Proposal & { value: Uint8Array } };

/**
 * Deliberately broken rules for the simulator's mutation check; never set in a node.
 * `ignoreLock`: lines 23 and 29 prevote for any valid value whatever the lock.
 * `quorumIsOneThird`: every +2/3 threshold is f+1 instead.
 */
export type Mutation = "ignoreLock" | "quorumIsOneThird";

export type Decision = { round: number; proposal: SignedProposal; commit: Commit };

export type ConsensusState = {
  readonly chainId: string;
  readonly params: ConsensusParams;
  /** Our validator address, or null for a node that only follows. */
  readonly self: Uint8Array | null;
  readonly mutation: Mutation | null;
  readonly height: bigint;
  readonly validators: ValidatorSet | null;
  /** -1 before StartHeight. */
  readonly round: number;
  readonly step: Step;
  readonly lockedValue: ValueRecord | null;
  readonly lockedRound: number;
  readonly validValue: ValueRecord | null;
  readonly validRound: number;
  /** Proposals of each round from that round's proposer, first received first (MAX_PROPOSALS_PER_ROUND). */
  readonly proposals: ReadonlyMap<number, readonly SignedProposal[]>;
  /** valid(v) by value id hex, as the application answered. */
  readonly validity: ReadonlyMap<string, Validity>;
  readonly votes: ReadonlyMap<number, RoundVotes>;
  /** "for the first time" rules already taken, as `${line}:${round}` (lines 34, 36, 47). */
  readonly fired: ReadonlySet<string>;
  readonly decision: Decision | null;
  /** The application committed the decided block; with the commit timeout this starts the next height. */
  readonly nextValidators: ValidatorSet | null;
  readonly commitTimeoutFired: boolean;
  /** We asked the application for a value for the current round and wait for it. */
  readonly awaitingValue: boolean;
  readonly pendingSigns: readonly PendingSign[];
};

export type ConsensusStateOptions = {
  chainId: string;
  params: ConsensusParams;
  self: Uint8Array | null;
  mutation?: Mutation | null;
};

/** The state before the first StartHeight. */
export function initialState(opts: ConsensusStateOptions): ConsensusState {
  return {
    chainId: opts.chainId,
    params: opts.params,
    self: opts.self,
    mutation: opts.mutation ?? null,
    height: 0n,
    validators: null,
    ...heightStart(),
  };
}

/** What a height starts from (line 10's reset): no round yet, no lock, no votes, no decision. */
export function heightStart() {
  return {
    round: -1,
    step: "propose",
    lockedValue: null,
    lockedRound: -1,
    validValue: null,
    validRound: -1,
    proposals: new Map(),
    validity: new Map(),
    votes: new Map(),
    fired: new Set(),
    decision: null,
    nextValidators: null,
    commitTimeoutFired: false,
    awaitingValue: false,
    pendingSigns: [],
  } satisfies Partial<ConsensusState>;
}
