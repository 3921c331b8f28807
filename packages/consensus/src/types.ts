/**
 * Consensus messages and parameters. Heights are bigint (they end up in blocks and on L1);
 * rounds are small numbers. A value is opaque bytes to consensus (the application's
 * proposal); it is named everywhere by its id, keccak256 of the bytes.
 */

export const VoteType = { Prevote: 1, Precommit: 2 } as const;
export type VoteType = (typeof VoteType)[keyof typeof VoteType];

/** An unsigned vote: `valueId` null is a vote for nil. */
export type Vote = {
  type: VoteType;
  height: bigint;
  round: number;
  valueId: Uint8Array | null;
};

/** A vote with its 65-byte recoverable signature and the address recovered from it. */
export type SignedVote = Vote & { validator: Uint8Array; signature: Uint8Array };

/** An unsigned proposal; `polRound` is -1 or the round of the proof of lock (validRound). */
export type Proposal = {
  height: bigint;
  round: number;
  valueId: Uint8Array;
  polRound: number;
};

/** A proposal with its value bytes, signature and the proposer's address recovered from it. */
export type SignedProposal = Proposal & { value: Uint8Array; proposer: Uint8Array; signature: Uint8Array };

export type TimeoutKind = "propose" | "prevote" | "precommit" | "commit";
export type Timeout = { kind: TimeoutKind; height: bigint; round: number };

/** One validator's entry in a commit: its precommit for the decided value. */
export type CommitSignature = { validator: Uint8Array; signature: Uint8Array };

/** +2/3 of the voting power precommitted `valueId` at (height, round): the proof a block is final. */
export type Commit = {
  height: bigint;
  round: number;
  valueId: Uint8Array;
  signatures: readonly CommitSignature[];
};

/** Base and per-round increment of one timeout, in milliseconds. */
export type TimeoutParams = { baseMs: number; deltaMs: number };

export type ConsensusParams = {
  propose: TimeoutParams;
  prevote: TimeoutParams;
  precommit: TimeoutParams;
  /** Wait after a decision before the next height starts (the block time target). */
  commit: TimeoutParams;
};

/** Tuned for ~1 s blocks on a LAN or a single region. */
export const defaultConsensusParams: ConsensusParams = {
  propose: { baseMs: 1000, deltaMs: 500 },
  prevote: { baseMs: 500, deltaMs: 500 },
  precommit: { baseMs: 500, deltaMs: 500 },
  commit: { baseMs: 1000, deltaMs: 0 },
};

export function timeoutDurationMs(params: ConsensusParams, kind: TimeoutKind, round: number): number {
  const p = params[kind];
  return p.baseMs + p.deltaMs * round;
}
