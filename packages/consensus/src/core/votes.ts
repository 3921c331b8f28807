import { hexKey } from "@meridian/primitives";
import type { SignedVote } from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";
import type { Mutation, RoundVotes } from "./state.ts";

/** Voting power behind one vote map: in all, per value id hex, and for nil. */
export type Tally = { total: number; nil: number; byValue: ReadonlyMap<string, number> };

export const EMPTY_ROUND_VOTES: RoundVotes = { prevotes: new Map(), precommits: new Map() };

/** An equivocator's votes kept per round and type: enough to count its real vote, bounded against spam. */
export const MAX_VOTES_PER_VALIDATOR = 3;

export function tally(votes: ReadonlyMap<string, readonly SignedVote[]>, validators: ValidatorSet): Tally {
  let total = 0;
  let nil = 0;
  const byValue = new Map<string, number>();
  for (const list of votes.values()) {
    const power = validators.powerOf((list[0] as SignedVote).validator);
    total += power;
    for (const vote of list) {
      if (vote.valueId === null) nil += power;
      else {
        const key = hexKey(vote.valueId);
        byValue.set(key, (byValue.get(key) ?? 0) + power);
      }
    }
  }
  return { total, nil, byValue };
}

/** More than two thirds of the total power (2f+1 in the paper). */
export function isQuorum(power: number, totalPower: number, mutation: Mutation | null): boolean {
  if (mutation === "quorumIsOneThird") return isOneThird(power, totalPower);
  return 3 * power > 2 * totalPower;
}

/** More than one third of the total power (f+1 in the paper). */
export function isOneThird(power: number, totalPower: number): boolean {
  return 3 * power > totalPower;
}

/** Power of the distinct validators that sent any vote in a round (line 55's f+1 messages). */
export function roundParticipation(votes: RoundVotes, validators: ValidatorSet): number {
  let power = 0;
  for (const list of votes.prevotes.values()) power += validators.powerOf((list[0] as SignedVote).validator);
  for (const [key, list] of votes.precommits)
    if (!votes.prevotes.has(key)) power += validators.powerOf((list[0] as SignedVote).validator);
  return power;
}
