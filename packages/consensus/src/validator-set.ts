import { bytesToHex, hexKey, MAX_TOTAL_VOTING_POWER } from "@meridian/primitives";
import { ConsensusError, ConsensusErrorCode } from "./errors.ts";

export type Validator = { address: Uint8Array; power: number };

/** A change to the set: power 0 removes the validator (ABCI's ValidatorUpdate). */
export type ValidatorUpdate = { address: Uint8Array; power: number };

/** Priorities are kept within 2 × total power of each other (CometBFT PriorityWindowSizeFactor). */
const PRIORITY_WINDOW_FACTOR = 2;

function compareAddress(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  }
  return a.length - b.length;
}

/**
 * A validator set with CometBFT's weighted round-robin proposer priorities. Immutable: each
 * height's set is `next()` of the previous one, and a round's proposer is found by incrementing
 * a copy `round` more times (`proposer(round)`), as CometBFT's consensus state does.
 */
export class ValidatorSet {
  readonly validators: readonly Validator[];
  readonly totalPower: number;
  /** Priorities after the increment that chose the round-0 proposer. */
  readonly priorities: readonly number[];
  private readonly indexByAddress: Map<string, number>;
  private readonly proposerByRound = new Map<number, number>();

  private constructor(validators: readonly Validator[], priorities: readonly number[], proposer: number) {
    this.validators = validators;
    this.priorities = priorities;
    this.totalPower = validators.reduce((sum, v) => sum + v.power, 0);
    this.indexByAddress = new Map(validators.map((v, i) => [hexKey(v.address), i]));
    this.proposerByRound.set(0, proposer);
  }

  /** A new set with all priorities 0, incremented once to choose the first proposer (NewValidatorSet). */
  static create(validators: readonly Validator[]): ValidatorSet {
    const sorted = checkValidators(validators);
    return ValidatorSet.withPriorities(
      sorted,
      sorted.map(() => 0),
      1,
    );
  }

  private static withPriorities(
    validators: readonly Validator[],
    priorities: number[],
    times: number,
  ): ValidatorSet {
    const proposer = incrementPriorities(validators, priorities, times);
    return new ValidatorSet(validators, priorities, proposer);
  }

  get size(): number {
    return this.validators.length;
  }

  indexOf(address: Uint8Array): number {
    return this.indexByAddress.get(hexKey(address)) ?? -1;
  }

  has(address: Uint8Array): boolean {
    return this.indexByAddress.has(hexKey(address));
  }

  powerOf(address: Uint8Array): number {
    const i = this.indexOf(address);
    return i < 0 ? 0 : (this.validators[i] as Validator).power;
  }

  /** The proposer of `round` at this set's height (CopyIncrementProposerPriority(round)). */
  proposer(round: number): Uint8Array {
    let index = this.proposerByRound.get(round);
    if (index === undefined) {
      index = incrementPriorities(this.validators, [...this.priorities], round);
      this.proposerByRound.set(round, index);
    }
    return (this.validators[index] as Validator).address;
  }

  /** The set for the next height: priorities incremented once more. */
  next(): ValidatorSet {
    return ValidatorSet.withPriorities(this.validators, [...this.priorities], 1);
  }

  /**
   * The set after `updates` (CometBFT updateWithChangeSet): a changed validator keeps its
   * priority, a new one starts at -1.125 × the new total so it cannot propose at once, removed
   * ones go; then priorities are rescaled and centred. The result is for the next height, so it
   * is incremented once like `next()`.
   */
  update(updates: readonly ValidatorUpdate[]): ValidatorSet {
    const byAddress = new Map<string, { v: Validator; p: number }>();
    this.validators.forEach((v, i) => {
      byAddress.set(hexKey(v.address), { v, p: this.priorities[i] as number });
    });
    const seen = new Set<string>();
    for (const u of updates) {
      const key = hexKey(u.address);
      if (seen.has(key))
        throw new ConsensusError(`duplicate update for ${bytesToHex(u.address)}`, {
          code: ConsensusErrorCode.InvalidValidatorSet,
        });
      seen.add(key);
    }
    // Total power after the changes but before removals, as CometBFT computes it.
    let totalBeforeRemovals = this.totalPower;
    for (const u of updates)
      totalBeforeRemovals += u.power - (byAddress.get(hexKey(u.address))?.v.power ?? 0);
    for (const u of updates) {
      const key = hexKey(u.address);
      const existing = byAddress.get(key);
      if (u.power === 0) byAddress.delete(key);
      else if (existing) byAddress.set(key, { v: { address: u.address, power: u.power }, p: existing.p });
      else
        byAddress.set(key, {
          v: { address: u.address, power: u.power },
          p: -(totalBeforeRemovals + Math.floor(totalBeforeRemovals / 8)),
        });
    }
    const entries = [...byAddress.values()];
    const validators = checkValidators(entries.map((e) => e.v));
    entries.sort((a, b) => compareAddress(a.v.address, b.v.address));
    return ValidatorSet.withPriorities(
      validators,
      entries.map((e) => e.p),
      1,
    );
  }
}

function checkValidators(validators: readonly Validator[]): Validator[] {
  if (validators.length === 0)
    throw new ConsensusError("validator set is empty", { code: ConsensusErrorCode.InvalidValidatorSet });
  const sorted = [...validators].sort((a, b) => compareAddress(a.address, b.address));
  let total = 0;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i] as Validator;
    if (v.address.length !== 20)
      throw new ConsensusError("validator address must be 20 bytes", {
        code: ConsensusErrorCode.InvalidValidatorSet,
      });
    if (!Number.isSafeInteger(v.power) || v.power <= 0)
      throw new ConsensusError(`validator ${bytesToHex(v.address)} has invalid power ${v.power}`, {
        code: ConsensusErrorCode.InvalidValidatorSet,
      });
    if (i > 0 && compareAddress((sorted[i - 1] as Validator).address, v.address) === 0)
      throw new ConsensusError(`duplicate validator ${bytesToHex(v.address)}`, {
        code: ConsensusErrorCode.InvalidValidatorSet,
      });
    total += v.power;
  }
  if (total > MAX_TOTAL_VOTING_POWER)
    throw new ConsensusError(`total voting power ${total} exceeds ${MAX_TOTAL_VOTING_POWER}`, {
      code: ConsensusErrorCode.InvalidValidatorSet,
    });
  return sorted;
}

/**
 * CometBFT IncrementProposerPriority(times) on `priorities` in place: rescale so the spread is
 * at most 2 × total power, centre on the average, then `times` steps of "add each power, pick the
 * highest priority (ties: lower address), subtract the total from it". Returns the last pick.
 */
function incrementPriorities(validators: readonly Validator[], priorities: number[], times: number): number {
  const total = validators.reduce((sum, v) => sum + v.power, 0);
  const diffMax = PRIORITY_WINDOW_FACTOR * total;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const p of priorities) {
    if (p < min) min = p;
    if (p > max) max = p;
  }
  const diff = max - min;
  if (diff > diffMax) {
    const ratio = Math.floor((diff + diffMax - 1) / diffMax);
    for (let i = 0; i < priorities.length; i++) priorities[i] = Math.trunc((priorities[i] as number) / ratio);
  }
  // big.Int Div (Euclidean) by a positive count: the floor of the average.
  const sum = priorities.reduce((s, p) => s + p, 0);
  const avg = Math.floor(sum / priorities.length);
  for (let i = 0; i < priorities.length; i++) priorities[i] = (priorities[i] as number) - avg;
  let proposer = mostPriority(validators, priorities);
  for (let t = 0; t < times; t++) {
    for (let i = 0; i < priorities.length; i++)
      priorities[i] = (priorities[i] as number) + (validators[i] as Validator).power;
    proposer = mostPriority(validators, priorities);
    priorities[proposer] = (priorities[proposer] as number) - total;
  }
  return proposer;
}

/** Highest priority; ties go to the lower address, and validators are sorted by address. */
function mostPriority(validators: readonly Validator[], priorities: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < validators.length; i++) {
    if ((priorities[i] as number) > (priorities[best] as number)) best = i;
  }
  return best;
}
