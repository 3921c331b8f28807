/**
 * Each height's validator set on a chain whose set changes (proof-of-stake epochs): the genesis
 * set, advanced height by height exactly as the driver advances it (`update` at a height whose
 * finalizeBlock returned updates, `next` otherwise). The application records the updates it
 * committed (and persists `encode()`), so a restarted driver, and anyone asking for an old
 * height's set, see the sets the chain had.
 */
import {
  bigIntToBytes,
  bytesToBigInt,
  expectBytes,
  expectList,
  MeridianError,
  type RlpDecoded,
  rlpDecode,
  rlpEncode,
} from "@meridian/primitives";
import type { ValidatorSet, ValidatorUpdate } from "../validator-set.ts";
import type { ValidatorSetSource } from "./validator-sets.ts";

/** Every how many heights a computed set is kept, so a lookup walks at most this many. */
const CACHE_EVERY = 64n;

export class EpochValidatorSets implements ValidatorSetSource {
  /** Height h → the updates its finalizeBlock returned (they shape the set of h + 1). */
  private readonly updates = new Map<bigint, readonly ValidatorUpdate[]>();
  private readonly cache = new Map<bigint, ValidatorSet>();

  constructor(genesis: ValidatorSet, updates: Iterable<[bigint, readonly ValidatorUpdate[]]> = []) {
    this.cache.set(1n, genesis);
    for (const [h, u] of updates) this.updates.set(h, u);
  }

  /** Records the updates committed at `height`; sets of later heights are recomputed. */
  record(height: bigint, updates: readonly ValidatorUpdate[]): void {
    if (updates.length === 0) return;
    this.updates.set(height, updates);
    for (const h of this.cache.keys()) if (h > height) this.cache.delete(h);
  }

  /** The recorded updates, ascending by height (what `encode` persists). */
  entries(): [bigint, readonly ValidatorUpdate[]][] {
    return [...this.updates].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  at(height: bigint): ValidatorSet {
    if (height < 1n) throw new RangeError(`no validator set below height 1 (asked ${height})`);
    const hit = this.cache.get(height);
    if (hit) return hit;
    let from = 1n;
    for (const h of this.cache.keys()) if (h <= height && h > from) from = h;
    let set = this.cache.get(from) as ValidatorSet;
    for (let h = from; h < height; ) {
      const u = this.updates.get(h);
      set = u ? set.update(u) : set.next();
      h++;
      if (h % CACHE_EVERY === 0n || h === height) this.cache.set(h, set);
    }
    return set;
  }

  /** RLP([[height, [[address, power]…]]…]). */
  encode(): Uint8Array {
    return rlpEncode(
      this.entries().map(([h, u]) => [
        bigIntToBytes(h),
        u.map((v) => [v.address, bigIntToBytes(BigInt(v.power))]),
      ]),
    );
  }

  static decodeUpdates(bytes: Uint8Array): [bigint, ValidatorUpdate[]][] {
    try {
      return expectList(rlpDecode(bytes), "validator updates").map((entry) => {
        const [h, list] = expectList(entry, "validator update entry", 2);
        return [
          bytesToBigInt(expectBytes(h as RlpDecoded, "height")),
          expectList(list as RlpDecoded, "updates").map((item) => {
            const [a, p] = expectList(item, "update", 2);
            return {
              address: expectBytes(a as RlpDecoded, "address"),
              power: Number(bytesToBigInt(expectBytes(p as RlpDecoded, "power"))),
            };
          }),
        ];
      });
    } catch (cause) {
      throw new MeridianError("stored validator updates are malformed", { code: "CORRUPT_DB", cause });
    }
  }
}
