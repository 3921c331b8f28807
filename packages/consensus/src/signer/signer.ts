import { equalBytes } from "@meridian/primitives";
import { addressOfKey, proposalSignBytes, signDigest, signDigestWithKey, voteSignBytes } from "../crypto.ts";
import { ConsensusError, ConsensusErrorCode } from "../errors.ts";
import { type Proposal, type Vote, VoteType } from "../types.ts";
import {
  exportSignerState,
  type LastSignState,
  parseSignerState,
  type SignerStateStore,
  SignStep,
} from "./store.ts";

/**
 * A validator key that never signs two different messages for one (height, round, step) and
 * never signs below what it signed last (CometBFT privval CheckHRS / saveSigned). The last
 * signed state is durable in the store before a signature is returned.
 */
export class Signer {
  readonly address: Uint8Array;
  private readonly privateKey: Uint8Array;
  private readonly store: SignerStateStore;
  private last: LastSignState | null;
  /** Sign requests run one at a time: each reads the state the previous one saved. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(privateKey: Uint8Array, store: SignerStateStore, last: LastSignState | null) {
    this.privateKey = privateKey;
    this.address = addressOfKey(privateKey);
    this.store = store;
    this.last = last;
  }

  static async open(privateKey: Uint8Array, store: SignerStateStore): Promise<Signer> {
    if (privateKey.length !== 32)
      throw new ConsensusError("validator private key must be 32 bytes", {
        code: ConsensusErrorCode.SignerState,
      });
    return new Signer(privateKey, store, await store.load());
  }

  lastSigned(): LastSignState | null {
    return this.last;
  }

  signVote(chainId: string, vote: Vote): Promise<Uint8Array> {
    const step = vote.type === VoteType.Prevote ? SignStep.Prevote : SignStep.Precommit;
    return this.sign(vote.height, vote.round, step, voteSignBytes(chainId, vote));
  }

  signProposal(chainId: string, proposal: Proposal): Promise<Uint8Array> {
    return this.sign(proposal.height, proposal.round, SignStep.Propose, proposalSignBytes(chainId, proposal));
  }

  private sign(height: bigint, round: number, step: SignStep, signBytes: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.signNow(height, round, step, signBytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async signNow(
    height: bigint,
    round: number,
    step: SignStep,
    signBytes: Uint8Array,
  ): Promise<Uint8Array> {
    const last = this.last;
    if (last !== null) {
      const order = compareHrs(height, round, step, last);
      if (order < 0)
        throw new ConsensusError("refusing to sign: height/round/step regression", {
          code: ConsensusErrorCode.DoubleSign,
          details: `requested ${height}/${round}/${step}, last signed ${last.height}/${last.round}/${last.step}`,
        });
      if (order === 0) {
        // The same request again (e.g. replay after a crash) gets the same signature.
        if (equalBytes(signBytes, last.signBytes)) return last.signature;
        throw new ConsensusError("refusing to sign: conflicting data at the same height/round/step", {
          code: ConsensusErrorCode.DoubleSign,
          details: `height ${height} round ${round} step ${step}`,
        });
      }
    }
    const signature = signDigestWithKey(this.privateKey, signDigest(signBytes));
    const next: LastSignState = { height, round, step, signBytes, signature };
    await this.store.save(next);
    this.last = next;
    return signature;
  }
}

function compareHrs(height: bigint, round: number, step: SignStep, last: LastSignState): number {
  if (height !== last.height) return height < last.height ? -1 : 1;
  if (round !== last.round) return round < last.round ? -1 : 1;
  return step - last.step;
}

/** Reads the signing state as JSON from a store (for `meridian validator export-state`, later). */
export async function exportSigningState(store: SignerStateStore): Promise<string | null> {
  const state = await store.load();
  return state === null ? null : exportSignerState(state);
}

/**
 * Writes exported signing state into a store on the validator's new machine. Refuses to move the
 * store backwards: importing an older state than the store holds would allow a double sign.
 */
export async function importSigningState(store: SignerStateStore, json: string): Promise<LastSignState> {
  const incoming = parseSignerState(json);
  const current = await store.load();
  if (current !== null && compareHrs(incoming.height, incoming.round, incoming.step, current) < 0)
    throw new ConsensusError("refusing to import signing state older than the current one", {
      code: ConsensusErrorCode.DoubleSign,
      details: `importing ${incoming.height}/${incoming.round}/${incoming.step}, have ${current.height}/${current.round}/${current.step}`,
    });
  await store.save(incoming);
  return incoming;
}
