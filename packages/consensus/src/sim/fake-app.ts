import { type AppInfo, keccak256, type ProcessProposalResult } from "@meridian/primitives";
import type {
  ConsensusApplication,
  FinalizeRequest,
  FinalizeResult,
  PrepareValueRequest,
  ProcessValueRequest,
} from "../application.ts";
import type { EpochValidatorSets } from "../driver/epoch-validator-sets.ts";
import type { ValidatorUpdate } from "../validator-set.ts";
import type { Prng } from "./prng.ts";
import { checkValueEvidence, encodeValueEvidence, type SimStaking, valueEvidence } from "./staking-model.ts";

const VALID = 1;
const INVALID = 0;

/**
 * A fake block: a validity flag, the height (8 bytes) and 16 random bytes; on a staking
 * simulation followed by RLP([evidence…]) (staking-model.ts).
 */
export function makeValue(rng: Prng, height: bigint, valid: boolean): Uint8Array {
  const out = new Uint8Array(25);
  out[0] = valid ? VALID : INVALID;
  new DataView(out.buffer).setBigUint64(1, height);
  out.set(rng.bytes(16), 9);
  return out;
}

/** The simulator's validity predicate: the flag, and the height the value was built for. */
export function isValidValue(value: Uint8Array, height: bigint): boolean {
  if (value.length < 25 || value[0] !== VALID) return false;
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(1) === height;
}

export type FakeAppOptions = {
  rng: Prng;
  /** Byzantine: proposes invalid values half the time and accepts anything. */
  byzantine: boolean;
  /** Proof of stake: values carry evidence; equivocators are slashed and jailed; epochs change the set. */
  staking?: {
    chainId: string;
    model: SimStaking;
    /** Shared by the simulation's drivers: each height's set. */
    sets: EpochValidatorSets;
    /** Every commit's updates, for the simulation's checks. */
    committed(height: bigint, updates: readonly ValidatorUpdate[]): void;
  };
};

/** The application of one simulated node; its committed chain survives the node's crashes. */
export class FakeApplication implements ConsensusApplication {
  readonly chain: Uint8Array[] = [];
  private finalized: Uint8Array | null = null;
  private finalizedStaking: {
    stakes: ReturnType<SimStaking["after"]>["stakes"];
    updates: ValidatorUpdate[];
  } | null = null;
  private readonly opts: FakeAppOptions;

  constructor(opts: FakeAppOptions) {
    this.opts = opts;
  }

  lastCommittedHeight(): bigint {
    return BigInt(this.chain.length);
  }

  info(): AppInfo {
    const last = this.chain.at(-1);
    const blockHash = last === undefined ? new Uint8Array(32) : keccak256(last);
    return { height: this.lastCommittedHeight(), blockHash, appHash: blockHash };
  }

  async prepareProposal(req: PrepareValueRequest): Promise<Uint8Array> {
    const valid = !this.opts.byzantine || this.opts.rng.chance(0.5);
    const value = makeValue(this.opts.rng, req.height, valid);
    // Evidence of this height (an earlier round's equivocation) waits for the next height's value.
    const evidence = (req.misbehavior ?? []).filter((e) => e.voteA.height < req.height);
    if (!this.opts.staking || evidence.length === 0) return value;
    const tail = encodeValueEvidence(evidence as Parameters<typeof encodeValueEvidence>[0]);
    const out = new Uint8Array(value.length + tail.length);
    out.set(value);
    out.set(tail, value.length);
    return out;
  }

  async processProposal(req: ProcessValueRequest): Promise<ProcessProposalResult> {
    if (this.opts.byzantine) return { accept: true };
    if (!isValidValue(req.value, req.height)) return { accept: false, reason: "invalid value" };
    const staking = this.opts.staking;
    if (staking) {
      try {
        checkValueEvidence(
          staking.chainId,
          staking.sets,
          req.height,
          valueEvidence(staking.chainId, req.value),
        );
      } catch (err) {
        return { accept: false, reason: `invalid evidence: ${(err as Error).message}` };
      }
    } else if (req.value.length !== 25) return { accept: false, reason: "invalid value" };
    return { accept: true };
  }

  async finalizeBlock(req: FinalizeRequest): Promise<FinalizeResult> {
    this.finalized = req.value;
    const staking = this.opts.staking;
    if (!staking) return { validatorUpdates: [] };
    const evidence = valueEvidence(staking.chainId, req.value);
    this.finalizedStaking = staking.model.after(req.height, evidence, staking.sets.at(req.height));
    return { validatorUpdates: this.finalizedStaking.updates, misbehavior: evidence };
  }

  async commit(height: bigint): Promise<void> {
    if (this.finalized === null || height !== this.lastCommittedHeight() + 1n)
      throw new Error(`commit of height ${height} out of order`);
    this.chain.push(this.finalized);
    this.finalized = null;
    const staking = this.opts.staking;
    if (staking && this.finalizedStaking) {
      staking.model.commit(this.finalizedStaking.stakes);
      staking.committed(height, this.finalizedStaking.updates);
      this.finalizedStaking = null;
    }
  }
}
