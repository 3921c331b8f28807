import { keccak256 } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import {
  type Commit,
  ConsensusErrorCode,
  EvidencePool,
  isOneThird,
  isQuorum,
  orderEvidence,
  tally,
  verifyCommit,
  verifyEvidence,
} from "../../src/index.ts";
import { CHAIN_ID, precommit, prevote, testValidators, value } from "../helpers.ts";

const { set, vals } = testValidators([3, 2, 2, 1, 1]); // total 9: +2/3 needs 7, +1/3 needs 4
const VID = keccak256(value(1));

function commitFrom(indices: number[], round = 0, height = 5n): Commit {
  return {
    height,
    round,
    valueId: VID,
    signatures: indices.map((i) => {
      const v = precommit(vals[i]!, height, round, VID);
      return { validator: v.validator, signature: v.signature };
    }),
  };
}

describe("vote thresholds by voting power", () => {
  it("+2/3 and +1/3 are strict and count power, not heads", () => {
    expect(isQuorum(6, 9, null)).toBe(false);
    expect(isQuorum(7, 9, null)).toBe(true);
    expect(isOneThird(3, 9)).toBe(false);
    expect(isOneThird(4, 9)).toBe(true);
    expect(isQuorum(4, 9, "quorumIsOneThird")).toBe(true);
  });

  it("tally sums power per value, nil and in all", () => {
    const votes = new Map([
      ["a", [prevote(vals[0]!, 1n, 0, VID)]],
      ["b", [prevote(vals[1]!, 1n, 0, VID)]],
      ["c", [prevote(vals[3]!, 1n, 0, null)]],
    ]);
    const t = tally(votes, set);
    expect(t.total).toBe(6);
    expect(t.nil).toBe(1);
    expect(t.byValue.get(Buffer.from(VID).toString("hex"))).toBe(5);
  });
});

describe("verifyCommit", () => {
  it("accepts precommits of more than two thirds of the power", () => {
    expect(() => verifyCommit(set, CHAIN_ID, commitFrom([0, 1, 2]))).not.toThrow(); // 7 of 9
  });

  it("rejects exactly two thirds, duplicates, strangers, and a signature for another round", () => {
    const fail = (commit: Commit) => {
      try {
        verifyCommit(set, CHAIN_ID, commit);
      } catch (err) {
        return (err as { code: string }).code;
      }
      return "accepted";
    };
    expect(fail(commitFrom([0, 1, 3]))).toBe(ConsensusErrorCode.InvalidCommit); // 6 of 9
    const dup = commitFrom([0, 1, 2]);
    expect(fail({ ...dup, signatures: [...dup.signatures, dup.signatures[0]!] })).toBe(
      ConsensusErrorCode.InvalidCommit,
    );
    const { vals: strangers } = testValidators([1, 1, 1, 1, 1, 1, 1]);
    const stranger = precommit(strangers[6]!, 5n, 0, VID);
    expect(
      fail({ ...commitFrom([0, 1, 2]), signatures: [...commitFrom([0, 1, 2]).signatures, stranger] }),
    ).toBe(ConsensusErrorCode.InvalidCommit);
    expect(fail({ ...commitFrom([0, 1, 2]), round: 1 })).toBe(ConsensusErrorCode.InvalidCommit);
    expect(() => verifyCommit(set, "another-chain", commitFrom([0, 1, 2]))).toThrow();
  });
});

describe("duplicate-vote evidence", () => {
  const a = prevote(vals[1]!, 5n, 2, VID);
  const b = prevote(vals[1]!, 5n, 2, null);
  const evidence = orderEvidence(a, b);

  it("is canonically ordered (nil first) and verifies", () => {
    expect(evidence.voteA.valueId).toBeNull();
    expect(() => verifyEvidence(set, CHAIN_ID, evidence)).not.toThrow();
  });

  it("rejects votes of different validators, rounds, or the same value", () => {
    const other = prevote(vals[2]!, 5n, 2, null);
    expect(() => verifyEvidence(set, CHAIN_ID, orderEvidence(a, other))).toThrow(/different validators/);
    expect(() => verifyEvidence(set, CHAIN_ID, orderEvidence(a, prevote(vals[1]!, 5n, 3, null)))).toThrow(
      /different height, round or type/,
    );
    expect(() => verifyEvidence(set, CHAIN_ID, { voteA: a, voteB: a })).toThrow(/same value/);
    expect(() => verifyEvidence(set, CHAIN_ID, { voteA: evidence.voteB, voteB: evidence.voteA })).toThrow(
      /canonical order/,
    );
    const forged = { voteA: evidence.voteA, voteB: { ...evidence.voteB, validator: vals[0]!.address } };
    expect(() => verifyEvidence(set, CHAIN_ID, forged)).toThrow(/does not recover/);
  });

  it("the pool dedups, rejects expired evidence and forgets committed evidence", () => {
    const pool = new EvidencePool({ chainId: CHAIN_ID, maxAgeHeights: 10n });
    expect(pool.add(evidence, 6n, set)).toBe("added");
    expect(pool.add(orderEvidence(b, a), 6n, set)).toBe("duplicate");
    expect(pool.pending()).toHaveLength(1);
    // Age is inclusive: 5 + 10 = 15 is still in time, 16 is not.
    expect(pool.add(evidence, 15n, set)).toBe("duplicate");
    expect(() => pool.add(evidence, 16n, set)).toThrow(
      expect.objectContaining({ code: ConsensusErrorCode.EvidenceExpired }),
    );
    const old = orderEvidence(prevote(vals[2]!, 2n, 0, VID), prevote(vals[2]!, 2n, 0, null));
    expect(() => pool.add(old, 13n, set)).toThrow(
      expect.objectContaining({ code: ConsensusErrorCode.EvidenceExpired }),
    );
    pool.markCommitted([evidence]);
    expect(pool.size).toBe(0);
    expect(pool.add(evidence, 7n, set)).toBe("duplicate");
    const forged = { voteA: evidence.voteA, voteB: { ...evidence.voteB, signature: new Uint8Array(65) } };
    const fresh = new EvidencePool({ chainId: CHAIN_ID, maxAgeHeights: 10n });
    expect(() => fresh.add(forged, 6n, set)).toThrow();
    expect(fresh.size).toBe(0);
  });
});
