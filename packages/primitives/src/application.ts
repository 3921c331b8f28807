/**
 * The application interface consensus drives, in the spirit of ABCI++.
 * Consensus never imports the executor: it sees only this contract. A proposal
 * is opaque bytes to consensus (an RLP-encoded block plus whatever the
 * executor attaches, e.g. an access list); the application owns its meaning.
 */
export type ProposalBytes = Uint8Array;

export type PrepareProposalRequest = {
  height: bigint;
  /** Milliseconds since the epoch, chosen by the proposer. */
  timestampMs: number;
  proposer: Uint8Array;
  /** Upper bound on the encoded proposal size. */
  maxBytes: number;
};

export type ProcessProposalResult =
  | { accept: true; blockHash: Uint8Array }
  | { accept: false; reason: string };

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
};

export type CommitSignature = { validator: Uint8Array; signature: Uint8Array; timestampMs: number };

export type FinalizedBlock = { height: bigint; hash: Uint8Array; txCount: number; gasUsed: bigint };

export interface Application {
  /** Builds a proposal for `height` from the mempool. */
  prepareProposal(req: PrepareProposalRequest): Promise<ProposalBytes>;
  /** Validates a proposal by re-executing it; never changes committed state. */
  processProposal(height: bigint, proposal: ProposalBytes): Promise<ProcessProposalResult>;
  /** Executes (or reuses the result of processing) the decided proposal, without persisting it. */
  finalizeBlock(height: bigint, proposal: ProposalBytes, commit: CommitInfo): Promise<FinalizedBlock>;
  /** Persists the finalised block in one atomic batch and makes it the head. */
  commit(): Promise<FinalizedBlock>;
  /** Height of the last committed block (0 is genesis). */
  lastCommittedHeight(): bigint;
}
