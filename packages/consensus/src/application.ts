import type { Application, CommitInfo } from "@meridian/primitives";
import type { DuplicateVoteEvidence } from "./evidence/evidence.ts";
import type { Commit } from "./types.ts";
import type { ValidatorUpdate } from "./validator-set.ts";

/**
 * What the consensus driver needs from the chain. A superset of primitives' `Application`
 * (see `fromApplication`), proposed for it: the round and proposer reach prepare/process,
 * the commit and the misbehaviour reach finalize, and validator-set changes come back.
 */
export interface ConsensusApplication {
  /** Height of the last committed block (0 is genesis); consensus resumes at the next one. */
  lastCommittedHeight(): bigint;
  prepareProposal(req: PrepareValueRequest): Promise<Uint8Array>;
  /** valid(v): re-executes the value; never changes committed state. */
  processProposal(req: ProcessValueRequest): Promise<boolean>;
  /** Executes the decided value with its commit; returns changes to the next height's validator set. */
  finalizeBlock(req: FinalizeRequest): Promise<FinalizeResult>;
  /** Persists the finalised block; durable when the promise resolves. */
  commit(height: bigint): Promise<void>;
}

export type PrepareValueRequest = {
  height: bigint;
  round: number;
  proposer: Uint8Array;
  timestampMs: number;
  maxBytes: number;
};

export type ProcessValueRequest = { height: bigint; round: number; proposer: Uint8Array; value: Uint8Array };

export type FinalizeRequest = {
  height: bigint;
  round: number;
  proposer: Uint8Array;
  value: Uint8Array;
  commit: Commit;
  /** Verified equivocations to record in the block. */
  misbehavior: readonly DuplicateVoteEvidence[];
};

export type FinalizeResult = { validatorUpdates: readonly ValidatorUpdate[] };

/**
 * Drives primitives' `Application` (the node's Chain) with the consensus interface: the round
 * and misbehaviour are dropped, commit signatures carry no timestamp (0), and the validator set
 * never changes.
 */
export function fromApplication(app: Application): ConsensusApplication {
  return {
    lastCommittedHeight: () => app.lastCommittedHeight(),
    prepareProposal: (req) =>
      app.prepareProposal({
        height: req.height,
        timestampMs: req.timestampMs,
        proposer: req.proposer,
        maxBytes: req.maxBytes,
      }),
    processProposal: async (req) => (await app.processProposal(req.height, req.value)).accept,
    finalizeBlock: async (req) => {
      const info: CommitInfo = {
        height: req.height,
        round: req.round,
        proposer: req.proposer,
        signatures: req.commit.signatures.map((s) => ({
          validator: s.validator,
          signature: s.signature,
          timestampMs: 0,
        })),
      };
      await app.finalizeBlock(req.height, req.value, info);
      return { validatorUpdates: [] };
    },
    commit: async () => {
      await app.commit();
    },
  };
}
