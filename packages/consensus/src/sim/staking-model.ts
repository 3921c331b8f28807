/**
 * A small proof-of-stake model for the simulator's application (the node's staking contract in
 * miniature): stakes, issuance split by stake among validators not jailed, a slash and a jail
 * per equivocator named by evidence a committed value carries, and at every epoch's last
 * height the new set (power = stake / powerUnit, jailed validators removed) as updates.
 * Everything is a function of committed values, so every node computes the same updates.
 */
import { hexKey, rlpDecode, rlpEncode } from "@meridian/primitives";
import { recoverVote } from "../codec/verify.ts";
import { decodeEvidence, encodeEvidence } from "../codec/wire.ts";
import type { ValidatorSetSource } from "../driver/validator-sets.ts";
import { type DuplicateVoteEvidence, verifyEvidence } from "../evidence/evidence.ts";
import type { ValidatorSet, ValidatorUpdate } from "../validator-set.ts";

export type SimStakingParams = {
  epochLength: bigint;
  /** power = stake / powerUnit. */
  powerUnit: bigint;
  /** Stake units credited per committed block, split by stake among validators not jailed. */
  issuance: bigint;
  /** Share (bps) of an equivocator's stake burned. */
  slashBps: bigint;
};

export const defaultSimStakingParams: SimStakingParams = {
  epochLength: 4n,
  powerUnit: 1_000n,
  issuance: 50_000n,
  slashBps: 5_000n,
};

type Stakes = ReadonlyMap<string, { address: Uint8Array; stake: bigint; jailed: boolean }>;

/** Bytes of the value a block carries after its fixed 25-byte part: RLP([evidence…]). */
export function encodeValueEvidence(evidence: readonly DuplicateVoteEvidence[]): Uint8Array {
  return rlpEncode(evidence.map((e) => encodeEvidence(e)));
}

/** The evidence a value carries (signatures recovered, not verified); throws on a malformed tail. */
export function valueEvidence(chainId: string, value: Uint8Array): DuplicateVoteEvidence[] {
  if (value.length <= 25) return [];
  const items = rlpDecode(value.subarray(25));
  if (!Array.isArray(items)) throw new Error("value evidence is not a list");
  return items.map((item) => {
    if (!(item instanceof Uint8Array)) throw new Error("value evidence item is not bytes");
    const raw = decodeEvidence(item);
    return { voteA: recoverVote(chainId, raw.voteA), voteB: recoverVote(chainId, raw.voteB) };
  });
}

/** Evidence in a value must be of an earlier height and verify against that height's set. */
export function checkValueEvidence(
  chainId: string,
  sets: ValidatorSetSource,
  height: bigint,
  evidence: readonly DuplicateVoteEvidence[],
): void {
  for (const e of evidence) {
    if (e.voteA.height >= height) throw new Error(`evidence of height ${e.voteA.height} at ${height}`);
    verifyEvidence(sets.at(e.voteA.height), chainId, e);
  }
}

export class SimStaking {
  readonly params: SimStakingParams;
  private stakes: Stakes;

  constructor(params: SimStakingParams, genesis: ValidatorSet) {
    this.params = params;
    this.stakes = new Map(
      genesis.validators.map((v) => [
        hexKey(v.address),
        { address: v.address, stake: BigInt(v.power) * params.powerUnit, jailed: false },
      ]),
    );
  }

  /**
   * The stakes after committing `height` with `evidence`, and the updates to `current` (this
   * height's set) when it ends an epoch. Pure: `commit` adopts the stakes once the block is.
   */
  after(
    height: bigint,
    evidence: readonly DuplicateVoteEvidence[],
    current: ValidatorSet,
  ): { stakes: Stakes; updates: ValidatorUpdate[] } {
    const next = new Map([...this.stakes].map(([k, v]) => [k, { ...v }]));
    for (const e of evidence) {
      const v = next.get(hexKey(e.voteA.validator));
      if (!v || v.jailed) continue;
      v.stake -= (v.stake * this.params.slashBps) / 10_000n;
      v.jailed = true;
    }
    const earning = [...next.values()].filter((v) => !v.jailed);
    const total = earning.reduce((s, v) => s + v.stake, 0n);
    if (total > 0n) for (const v of earning) v.stake += (this.params.issuance * v.stake) / total;
    const updates: ValidatorUpdate[] = [];
    if (height % this.params.epochLength === 0n) {
      for (const v of next.values()) {
        const power = v.jailed ? 0 : Number(v.stake / this.params.powerUnit);
        if (power !== current.powerOf(v.address)) updates.push({ address: v.address, power });
      }
      // Never an empty set: it could not commit again.
      if (earning.every((v) => v.stake / this.params.powerUnit === 0n)) updates.length = 0;
    }
    return { stakes: next, updates };
  }

  commit(stakes: Stakes): void {
    this.stakes = stakes;
  }
}
