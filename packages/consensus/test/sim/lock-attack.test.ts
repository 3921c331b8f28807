import { hexKey, keccak256 } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import {
  type ConsensusEffect,
  type ConsensusInput,
  type ConsensusState,
  type Mutation,
  type SignedVote,
  step,
  VoteType,
} from "../../src/index.ts";
import {
  precommit,
  prevote,
  signedProposal,
  signedVote,
  stateFor,
  type TestValidator,
  testValidators,
  validatorByAddress,
  value,
} from "../helpers.ts";

/**
 * A scripted schedule (the adversary controls delivery) that the lock rule (lines 23 and 29)
 * exists for. Four validators of power 1; Z, the proposer of round 1, is Byzantine.
 *
 * Round 0: A, B lock v and precommit it; C timed out and precommits nil. Z sends its v
 * precommit to A only, so A decides v, and A is cut off. B and C time out into round 1.
 * Round 1: Z proposes a fresh w. B is locked on v: correct cores prevote nil and w gets no
 * polka; with the lock ignored, B, C and Z prevote w and B decides w: two decisions.
 */
const { set, vals } = testValidators([1, 1, 1, 1]);
const byAddress = (a: Uint8Array): TestValidator => validatorByAddress(vals, a);
const Z = byAddress(set.proposer(1));
const P0 = byAddress(set.proposer(0));
const honest = vals.filter((v) => v !== Z);
// A proposes round 0 if an honest validator does; B and C are the other two.
const A = P0 === Z ? (honest[0] as TestValidator) : P0;
const [B, C] = honest.filter((v) => v !== A) as [TestValidator, TestValidator];
const H = 1n;
const V = value(1);
const W = value(2);

type Core = { v: TestValidator; state: ConsensusState; decided: string | null };

function runLockAttack(mutation: Mutation | null): { a: string | null; b: string | null; c: string | null } {
  const cores = new Map<TestValidator, Core>(
    [A, B, C].map((v) => [v, { v, state: stateFor(v.address, mutation ?? undefined), decided: null }]),
  );
  /** Feeds an input; performs sign and validation effects locally (as the driver would). */
  const feed = (v: TestValidator, input: ConsensusInput): void => {
    const core = cores.get(v) as Core;
    const queue: ConsensusInput[] = [input];
    while (queue.length > 0) {
      const { state, effects } = step(core.state, queue.shift() as ConsensusInput);
      core.state = state;
      for (const e of effects as ConsensusEffect[]) {
        if (e.type === "SignVote")
          queue.push({
            type: "Vote",
            vote: signedVote(v, e.vote.type, e.vote.height, e.vote.round, e.vote.valueId),
          });
        if (e.type === "RequestValidation")
          queue.push({ type: "ProposalValidated", height: H, valueId: e.valueId, valid: true });
        if (e.type === "Decide") core.decided = hexKey(e.proposal.valueId);
      }
    }
  };
  const ownVote = (v: TestValidator, type: VoteType, round: number): SignedVote => {
    const votes = (cores.get(v) as Core).state.votes.get(round);
    const list = type === VoteType.Prevote ? votes?.prevotes : votes?.precommits;
    const own = list?.get(hexKey(v.address))?.[0];
    if (own === undefined) throw new Error(`${hexKey(v.address)} has not voted ${type} in round ${round}`);
    return own;
  };
  const timeout = (v: TestValidator, kind: "propose" | "prevote" | "precommit", round: number) =>
    feed(v, { type: "TimeoutFired", timeout: { kind, height: H, round } });

  for (const v of [A, B, C]) feed(v, { type: "StartHeight", height: H, validators: set });
  // Round 0: A proposes v; B sees it, C times out first.
  const proposal0 = signedProposal(A, H, 0, V);
  feed(A, { type: "Proposal", proposal: proposal0 });
  feed(B, { type: "Proposal", proposal: proposal0 });
  timeout(C, "propose", 0);
  // Prevotes: A and B see the polka for v (A, B, Z); C sees A, B and its own nil.
  const zPrevote = prevote(Z, H, 0, keccak256(V));
  for (const to of [A, B]) {
    for (const from of [A, B])
      if (from !== to) feed(to, { type: "Vote", vote: ownVote(from, VoteType.Prevote, 0) });
    feed(to, { type: "Vote", vote: zPrevote });
  }
  for (const from of [A, B]) feed(C, { type: "Vote", vote: ownVote(from, VoteType.Prevote, 0) });
  timeout(C, "prevote", 0);
  // Precommits: A gets B's and Z's v precommit and decides; B and C get Z's nil, C's nil, B's v.
  feed(A, { type: "Vote", vote: ownVote(B, VoteType.Precommit, 0) });
  feed(A, { type: "Vote", vote: precommit(Z, H, 0, keccak256(V)) });
  const zNil = precommit(Z, H, 0, null);
  feed(B, { type: "Vote", vote: ownVote(C, VoteType.Precommit, 0) });
  feed(B, { type: "Vote", vote: zNil });
  feed(C, { type: "Vote", vote: ownVote(B, VoteType.Precommit, 0) });
  feed(C, { type: "Vote", vote: zNil });
  // A is cut off from here on. B and C move to round 1.
  timeout(B, "precommit", 0);
  timeout(C, "precommit", 0);
  // Round 1: Z proposes a fresh w to B and C and prevotes it.
  const proposal1 = signedProposal(Z, H, 1, W);
  feed(B, { type: "Proposal", proposal: proposal1 });
  feed(C, { type: "Proposal", proposal: proposal1 });
  const zPrevote1 = prevote(Z, H, 1, keccak256(W));
  feed(B, { type: "Vote", vote: zPrevote1 });
  feed(C, { type: "Vote", vote: zPrevote1 });
  feed(B, { type: "Vote", vote: ownVote(C, VoteType.Prevote, 1) });
  feed(C, { type: "Vote", vote: ownVote(B, VoteType.Prevote, 1) });
  // Whatever B and C precommitted, Z adds its w precommit and B and C exchange theirs.
  const zPrecommit1 = precommit(Z, H, 1, keccak256(W));
  for (const [to, from] of [
    [B, C],
    [C, B],
  ] as const) {
    feed(to, { type: "Vote", vote: zPrecommit1 });
    const theirs = (cores.get(from) as Core).state.votes.get(1)?.precommits.get(hexKey(from.address));
    if (theirs) feed(to, { type: "Vote", vote: theirs[0] as SignedVote });
  }
  return {
    a: (cores.get(A) as Core).decided,
    b: (cores.get(B) as Core).decided,
    c: (cores.get(C) as Core).decided,
  };
}

describe("scripted lock attack (why lines 23 and 29 check the lock)", () => {
  it("correct cores: A decides v, and B (locked on v) refuses w, so nobody decides w", () => {
    const r = runLockAttack(null);
    expect(r.a).toBe(hexKey(keccak256(V)));
    expect(r.b).toBeNull();
    expect(r.c).toBeNull();
  });

  it("mutation ignoreLock: B and C decide w after A decided v (an agreement violation)", () => {
    const r = runLockAttack("ignoreLock");
    expect(r.a).toBe(hexKey(keccak256(V)));
    expect(r.b).toBe(hexKey(keccak256(W)));
    expect(r.c).toBe(hexKey(keccak256(W)));
  });
});
