import { keccak256 } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import { type ConsensusInput, type ConsensusState, resumeEffects, step, VoteType } from "../../src/index.ts";
import {
  precommit,
  prevote,
  signedProposal,
  stateFor,
  type TestValidator,
  testValidators,
  validatorByAddress,
  value,
} from "../helpers.ts";

// Four validators of power 1: +2/3 is 3 votes, +1/3 is 2.
const { set, vals } = testValidators([1, 1, 1, 1]);
const byAddress = (a: Uint8Array): TestValidator => validatorByAddress(vals, a);
const P0 = byAddress(set.proposer(0));
const P1 = byAddress(set.proposer(1));
// "Self": a validator that proposes neither round 0 nor round 1.
const SELF = vals.find((v) => v !== P0 && v !== P1) as TestValidator;
const OTHERS = vals.filter((v) => v !== SELF);
const H = 1n;
const V = value(1);
const VID = keccak256(V);
const W = value(2);
const WID = keccak256(W);

function run(state: ConsensusState, inputs: readonly ConsensusInput[]): ConsensusState {
  let s = state;
  for (const input of inputs) s = step(s, input).state;
  return s;
}

const start: ConsensusInput = { type: "StartHeight", height: H, validators: set };
const proposalV: ConsensusInput = { type: "Proposal", proposal: signedProposal(P0, H, 0, V) };
const validV: ConsensusInput = { type: "ProposalValidated", height: H, valueId: VID, valid: true };
const votes = (f: typeof prevote, from: readonly TestValidator[], round: number, id: Uint8Array | null) =>
  from.map((v): ConsensusInput => ({ type: "Vote", vote: f(v, H, round, id) }));

/** Self at round 0 in step prevote, having prevoted V (its own prevote not back yet). */
const prevoted = run(stateFor(SELF.address), [start, proposalV, validV]);
/** Self locked on V at round 0 and precommitted it. */
const locked = run(prevoted, votes(prevote, OTHERS, 0, VID));

const timeout = (kind: "propose" | "prevote" | "precommit", round: number): ConsensusInput => ({
  type: "TimeoutFired",
  timeout: { kind, height: H, round },
});
/** Not locked; 2f+1 prevoted W in round 0 (whose proposal we missed); round 1 re-proposes W with polRound 0. */
const unlockedWithPolForW = run(stateFor(SELF.address), [
  start,
  timeout("propose", 0),
  ...votes(prevote, OTHERS, 0, WID),
  timeout("prevote", 0),
  timeout("precommit", 0),
  { type: "Proposal", proposal: signedProposal(P1, H, 1, W, 0) },
]);
const P2 = byAddress(set.proposer(2));
/** As above, but round 1 proposed V fresh and we locked on it; round 2 re-proposes W with polRound 0. */
const lockedAboveThePol = run(stateFor(SELF.address), [
  start,
  timeout("propose", 0),
  ...votes(prevote, OTHERS, 0, WID),
  timeout("prevote", 0),
  timeout("precommit", 0),
  { type: "Proposal", proposal: signedProposal(P1, H, 1, V) },
  validV,
  ...votes(prevote, OTHERS, 1, VID),
  timeout("precommit", 1),
  { type: "Proposal", proposal: signedProposal(P2, H, 2, W, 0) },
]);

/** The round-0 proposer equivocated: three different proposals already held. */
const threeProposals = run(stateFor(SELF.address), [
  start,
  ...[11, 12, 13].map(
    (t): ConsensusInput => ({ type: "Proposal", proposal: signedProposal(P0, H, 0, value(t)) }),
  ),
]);

type Case = {
  desc: string;
  state: ConsensusState;
  input: ConsensusInput;
  expectedEffects: object[];
  expectedState: Partial<Record<keyof ConsensusState, unknown>>;
};

const cases: Case[] = [
  {
    desc: "line 11-21: StartRound(0) as a non-proposer schedules the propose timeout",
    state: stateFor(SELF.address),
    input: start,
    expectedEffects: [
      { type: "ScheduleTimeout", timeout: { kind: "propose", height: H, round: 0 }, durationMs: 1000 },
    ],
    expectedState: { height: H, round: 0, step: "propose" },
  },
  {
    desc: "line 18: StartRound(0) as the proposer with no valid value asks for a value",
    state: stateFor(P0.address),
    input: start,
    expectedEffects: [{ type: "RequestValue", height: H, round: 0 }],
    expectedState: { round: 0, step: "propose", awaitingValue: true },
  },
  {
    desc: "line 19: the value arrives and is proposed with validRound -1",
    state: run(stateFor(P0.address), [start]),
    input: { type: "ValueReady", height: H, round: 0, valueId: VID, value: V },
    expectedEffects: [
      { type: "SignProposal", proposal: { height: H, round: 0, valueId: VID, polRound: -1, value: V } },
    ],
    expectedState: { awaitingValue: false },
  },
  {
    desc: "a proposal from the round's proposer is stored and sent for validation",
    state: run(stateFor(SELF.address), [start]),
    input: proposalV,
    expectedEffects: [{ type: "RequestValidation", height: H, round: 0, valueId: VID, value: V }],
    expectedState: { step: "propose" },
  },
  {
    desc: "a proposal from anyone but the round's proposer is ignored",
    state: run(stateFor(SELF.address), [start]),
    input: { type: "Proposal", proposal: signedProposal(P1, H, 0, V) },
    expectedEffects: [],
    expectedState: { step: "propose", proposals: new Map() },
  },
  {
    desc: "line 22-24: a valid fresh proposal with no lock is prevoted",
    state: run(stateFor(SELF.address), [start, proposalV]),
    input: validV,
    expectedEffects: [
      { type: "SignVote", vote: { type: VoteType.Prevote, height: H, round: 0, valueId: VID } },
    ],
    expectedState: { step: "prevote" },
  },
  {
    desc: "line 25-26: an invalid proposal gets a nil prevote",
    state: run(stateFor(SELF.address), [start, proposalV]),
    input: { type: "ProposalValidated", height: H, valueId: VID, valid: false },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Prevote, round: 0, valueId: null } }],
    expectedState: { step: "prevote" },
  },
  {
    desc: "line 57-60: OnTimeoutPropose in step propose prevotes nil",
    state: run(stateFor(SELF.address), [start]),
    input: { type: "TimeoutFired", timeout: { kind: "propose", height: H, round: 0 } },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Prevote, round: 0, valueId: null } }],
    expectedState: { step: "prevote" },
  },
  {
    desc: "line 57: a propose timeout of another round is ignored",
    state: run(stateFor(SELF.address), [start]),
    input: { type: "TimeoutFired", timeout: { kind: "propose", height: H, round: 3 } },
    expectedEffects: [],
    expectedState: { step: "propose", round: 0 },
  },
  {
    desc: "line 34-35: 2f+1 prevotes of any kind schedule the prevote timeout, once",
    state: run(prevoted, [
      { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 0, null) },
      { type: "Vote", vote: prevote(OTHERS[1] as TestValidator, H, 0, WID) },
    ]),
    input: { type: "Vote", vote: prevote(SELF, H, 0, VID) },
    expectedEffects: [
      { type: "BroadcastVote" },
      { type: "ScheduleTimeout", timeout: { kind: "prevote", round: 0 }, durationMs: 500 },
    ],
    expectedState: { step: "prevote" },
  },
  {
    desc: "line 36-43: 2f+1 prevotes for the valid proposal lock it and precommit it",
    state: run(prevoted, votes(prevote, OTHERS.slice(0, 2), 0, VID)),
    input: { type: "Vote", vote: prevote(OTHERS[2] as TestValidator, H, 0, VID) },
    expectedEffects: [
      { type: "ScheduleTimeout", timeout: { kind: "prevote" } },
      { type: "SignVote", vote: { type: VoteType.Precommit, round: 0, valueId: VID } },
    ],
    expectedState: {
      step: "precommit",
      lockedRound: 0,
      validRound: 0,
      lockedValue: { valueId: VID, value: V },
    },
  },
  {
    desc: "line 44-46: 2f+1 nil prevotes: precommit nil, no lock",
    state: run(prevoted, votes(prevote, OTHERS.slice(0, 2), 0, null)),
    input: { type: "Vote", vote: prevote(OTHERS[2] as TestValidator, H, 0, null) },
    expectedEffects: [
      { type: "ScheduleTimeout", timeout: { kind: "prevote" } },
      { type: "SignVote", vote: { type: VoteType.Precommit, round: 0, valueId: null } },
    ],
    expectedState: { step: "precommit", lockedRound: -1 },
  },
  {
    desc: "line 61-64: OnTimeoutPrevote in step prevote precommits nil",
    state: prevoted,
    input: { type: "TimeoutFired", timeout: { kind: "prevote", height: H, round: 0 } },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Precommit, round: 0, valueId: null } }],
    expectedState: { step: "precommit" },
  },
  {
    desc: "line 47-48: 2f+1 precommits of any kind schedule the precommit timeout",
    state: run(locked, votes(precommit, OTHERS.slice(0, 2), 0, null)),
    input: { type: "Vote", vote: precommit(OTHERS[2] as TestValidator, H, 0, WID) },
    expectedEffects: [{ type: "ScheduleTimeout", timeout: { kind: "precommit", round: 0 }, durationMs: 500 }],
    expectedState: { step: "precommit", decision: null },
  },
  {
    desc: "line 65-67: OnTimeoutPrecommit starts the next round with a longer propose timeout",
    state: locked,
    input: { type: "TimeoutFired", timeout: { kind: "precommit", height: H, round: 0 } },
    expectedEffects: [{ type: "ScheduleTimeout", timeout: { kind: "propose", round: 1 }, durationMs: 1500 }],
    expectedState: { round: 1, step: "propose", lockedRound: 0 },
  },
  {
    desc: "line 49-54: the proposal and 2f+1 precommits for it decide",
    state: run(locked, votes(precommit, OTHERS.slice(0, 2), 0, VID)),
    input: { type: "Vote", vote: precommit(OTHERS[2] as TestValidator, H, 0, VID) },
    expectedEffects: [
      { type: "Decide", height: H, round: 0, commit: { height: H, round: 0, valueId: VID } },
      { type: "ScheduleTimeout", timeout: { kind: "commit", height: H }, durationMs: 1000 },
    ],
    expectedState: { step: "decided" },
  },
  {
    desc: "line 55-56: f+1 votes of a higher round skip to that round",
    state: run(stateFor(SELF.address), [
      start,
      { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 3, null) },
    ]),
    input: { type: "Vote", vote: precommit(OTHERS[1] as TestValidator, H, 3, null) },
    expectedEffects: [{ type: "ScheduleTimeout", timeout: { kind: "propose", round: 3 }, durationMs: 2500 }],
    expectedState: { round: 3, step: "propose" },
  },
  {
    desc: "line 23/25: locked on V, a fresh proposal of W in a later round gets a nil prevote",
    state: run(locked, [
      { type: "TimeoutFired", timeout: { kind: "precommit", height: H, round: 0 } },
      { type: "Proposal", proposal: signedProposal(P1, H, 1, W) },
    ]),
    input: { type: "ProposalValidated", height: H, valueId: WID, valid: true },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Prevote, round: 1, valueId: null } }],
    expectedState: { step: "prevote", lockedRound: 0 },
  },
  {
    desc: "line 28-30: a re-proposal whose proof of lock (2f+1 prevotes at validRound) we hold is prevoted",
    state: unlockedWithPolForW,
    input: { type: "ProposalValidated", height: H, valueId: WID, valid: true },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Prevote, round: 1, valueId: WID } }],
    expectedState: { step: "prevote", round: 1 },
  },
  {
    desc: "line 29/31: locked at a round above the proof of lock on another value: prevote nil",
    state: lockedAboveThePol,
    input: { type: "ProposalValidated", height: H, valueId: WID, valid: true },
    expectedEffects: [{ type: "SignVote", vote: { type: VoteType.Prevote, round: 2, valueId: null } }],
    expectedState: { step: "prevote", round: 2, lockedRound: 1 },
  },
  {
    desc: "line 15-16: a proposer with a valid value re-proposes it with validRound",
    state: run(stateFor(P1.address), [
      start,
      proposalV,
      validV,
      ...votes(prevote, vals.filter((v) => v !== P1).slice(0, 3), 0, VID),
    ]),
    input: { type: "TimeoutFired", timeout: { kind: "precommit", height: H, round: 0 } },
    expectedEffects: [{ type: "SignProposal", proposal: { round: 1, valueId: VID, polRound: 0 } }],
    expectedState: { round: 1, validRound: 0 },
  },
  {
    desc: "a second, different vote of one validator is evidence",
    state: run(prevoted, [{ type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 0, VID) }]),
    input: { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 0, null) },
    expectedEffects: [{ type: "Evidence", evidence: { voteA: { valueId: null }, voteB: { valueId: VID } } }],
    expectedState: { step: "prevote" },
  },
  {
    desc: "our own signed vote coming back is gossiped and clears the pending sign request",
    state: prevoted,
    input: { type: "Vote", vote: prevote(SELF, H, 0, VID) },
    expectedEffects: [{ type: "BroadcastVote", vote: { round: 0, valueId: VID } }],
    expectedState: { pendingSigns: [] },
  },
  {
    desc: "votes and proposals for rounds more than MAX_ROUNDS_AHEAD ahead are dropped unstored",
    state: prevoted,
    input: { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 5000, null) },
    expectedEffects: [],
    expectedState: { round: 0, votes: prevoted.votes },
  },
  {
    desc: "an equivocating proposer's proposals past MAX_PROPOSALS_PER_ROUND are dropped",
    state: threeProposals,
    input: { type: "Proposal", proposal: signedProposal(P0, H, 0, value(14)) },
    expectedEffects: [],
    expectedState: { step: "propose" },
  },
  {
    desc: "... unless validators voted for that value in the round (it may be the decided one)",
    state: run(threeProposals, [
      { type: "Vote", vote: precommit(OTHERS[1] as TestValidator, H, 0, keccak256(value(14))) },
    ]),
    input: { type: "Proposal", proposal: signedProposal(P0, H, 0, value(14)) },
    expectedEffects: [{ type: "RequestValidation", valueId: keccak256(value(14)) }],
    expectedState: { step: "propose" },
  },
  {
    desc: "a vote for another height is ignored",
    state: prevoted,
    input: { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, 2n, 0, VID) },
    expectedEffects: [],
    expectedState: { step: "prevote" },
  },
];

describe("core step (Algorithm 1)", () => {
  for (const c of cases) {
    it(c.desc, () => {
      const { state, effects } = step(c.state, c.input);
      expect(effects).toMatchObject(c.expectedEffects);
      expect(state).toMatchObject(c.expectedState);
    });
  }

  it("after the commit and the commit timeout, the next height starts at round 0", () => {
    const decided = run(locked, votes(precommit, OTHERS, 0, VID));
    expect(decided.step).toBe("decided");
    const committed = step(decided, { type: "BlockCommitted", height: H, nextValidators: set.next() });
    expect(committed.state.height).toBe(H);
    const next = step(committed.state, {
      type: "TimeoutFired",
      timeout: { kind: "commit", height: H, round: 0 },
    });
    expect(next.state).toMatchObject({
      height: 2n,
      round: 0,
      step: "propose",
      lockedRound: -1,
      decision: null,
    });
  });

  it("is pure: stepping the same state twice gives equal results and leaves the input state alone", () => {
    const input: ConsensusInput = { type: "Vote", vote: prevote(OTHERS[0] as TestValidator, H, 0, VID) };
    const before = structuredClone(prevoted.votes);
    const a = step(prevoted, input);
    const b = step(prevoted, input);
    expect(a).toEqual(b);
    expect(prevoted.votes).toEqual(before);
  });

  it("resumeEffects re-issues an outstanding sign request and the current timeout", () => {
    const effects = resumeEffects(prevoted);
    expect(effects).toMatchObject([{ type: "SignVote", vote: { type: VoteType.Prevote, valueId: VID } }]);
    const fresh = resumeEffects(run(stateFor(SELF.address), [start]));
    expect(fresh).toMatchObject([{ type: "ScheduleTimeout", timeout: { kind: "propose", round: 0 } }]);
  });

  it("mutation ignoreLock prevotes a new value despite the lock (what the simulator must catch)", () => {
    const lockedMut = { ...locked, mutation: "ignoreLock" as const };
    const s = run(lockedMut, [
      { type: "TimeoutFired", timeout: { kind: "precommit", height: H, round: 0 } },
      { type: "Proposal", proposal: signedProposal(P1, H, 1, W) },
    ]);
    const { effects } = step(s, { type: "ProposalValidated", height: H, valueId: WID, valid: true });
    expect(effects).toMatchObject([{ type: "SignVote", vote: { round: 1, valueId: WID } }]);
  });
});
