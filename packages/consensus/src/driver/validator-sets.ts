import type { ValidatorSet } from "../validator-set.ts";

/** The validator set of each height, with its proposer priorities. */
export interface ValidatorSetSource {
  at(height: bigint): ValidatorSet;
}

/**
 * A set that never changes: height h's set is the genesis set advanced h - 1 times (priorities
 * move every height). Heights are cached so each is computed once.
 */
export class StaticValidatorSets implements ValidatorSetSource {
  private readonly byHeight = new Map<bigint, ValidatorSet>();
  private highest: bigint;
  constructor(genesis: ValidatorSet) {
    this.byHeight.set(1n, genesis);
    this.highest = 1n;
  }
  at(height: bigint): ValidatorSet {
    if (height < 1n) throw new RangeError(`no validator set below height 1 (asked ${height})`);
    let set = this.byHeight.get(height);
    if (set !== undefined) return set;
    // Advance from the highest known height at or below `height`.
    let h = this.highest <= height ? this.highest : 1n;
    for (const known of this.byHeight.keys()) if (known <= height && known > h) h = known;
    set = this.byHeight.get(h) as ValidatorSet;
    while (h < height) {
      set = set.next();
      h++;
      if (h % 64n === 0n || h === height) this.byHeight.set(h, set);
    }
    if (height > this.highest) this.highest = height;
    return set;
  }
}
