import { equalBytes, hexKey } from "@meridian/primitives";
import { orderEvidence } from "../evidence/evidence.ts";
import { type Commit, type SignedProposal, type SignedVote, timeoutDurationMs, VoteType } from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";
import type { ConsensusEffect } from "./effect.ts";
import type { ConsensusInput } from "./input.ts";
import {
  type ConsensusState,
  heightStart,
  type PendingSign,
  type RoundVotes,
  type Validity,
  type ValueRecord,
} from "./state.ts";
import {
  EMPTY_ROUND_VOTES,
  isOneThird,
  isQuorum,
  MAX_VOTES_PER_VALIDATOR,
  roundParticipation,
  tally,
} from "./votes.ts";

/** Distinct proposals kept per round (an honest proposer sends one). */
export const MAX_PROPOSALS_PER_ROUND = 3;

/**
 * Messages for rounds further ahead than this are dropped: finding a round's proposer costs
 * O(round) and each round keeps its votes, so a far-future round is a cheap attack. Honest
 * rounds never run that far ahead of a live node (timeouts grow by 0.5 s per round).
 */
export const MAX_ROUNDS_AHEAD = 1000;

export type StepResult = { state: ConsensusState; effects: ConsensusEffect[] };

/**
 * The consensus state machine: Algorithm 1 of "The latest gossip on BFT consensus" (Buchman,
 * Kwon, Milosevic 2018). Pure: no I/O, clock or randomness; the same state and input always give
 * the same state and effects. Comments cite the paper's line numbers.
 */
export function step(state: ConsensusState, input: ConsensusInput): StepResult {
  const effects: ConsensusEffect[] = [];
  let s = state;
  switch (input.type) {
    case "StartHeight":
      s = startHeight(s, input.height, input.validators, effects);
      break;
    case "Proposal":
      s = onProposal(s, input.proposal, effects);
      break;
    case "Vote":
      s = onVote(s, input.vote, effects);
      break;
    case "TimeoutFired":
      s = onTimeout(s, input.timeout, effects);
      break;
    case "ValueReady":
      // Line 18-19: the value from getValue() is proposed with validRound -1.
      if (input.height === s.height && input.round === s.round && s.step === "propose" && s.awaitingValue) {
        s = { ...s, awaitingValue: false };
        s = requestSign(
          s,
          {
            type: "proposal",
            proposal: {
              height: s.height,
              round: s.round,
              valueId: input.valueId,
              polRound: -1,
              value: input.value,
            },
          },
          effects,
        );
      }
      break;
    case "ProposalValidated":
      if (input.height === s.height) s = setValidity(s, input.valueId, input.valid ? "valid" : "invalid");
      break;
    case "BlockCommitted":
      if (input.height === s.height && s.decision !== null)
        s = { ...s, nextValidators: input.nextValidators };
      break;
  }
  s = applyRules(s, effects);
  s = maybeNextHeight(s, effects);
  return { state: s, effects };
}

/**
 * The effects that resume a state recovered from the WAL: outstanding sign, value and validation
 * requests, the timeout of the current step, and an uncommitted decision.
 */
export function resumeEffects(s: ConsensusState): ConsensusEffect[] {
  const effects: ConsensusEffect[] = [];
  if (s.validators === null) return effects;
  for (const pending of s.pendingSigns) {
    effects.push(
      pending.type === "vote"
        ? { type: "SignVote", vote: pending.vote }
        : { type: "SignProposal", proposal: pending.proposal },
    );
  }
  if (s.awaitingValue) effects.push({ type: "RequestValue", height: s.height, round: s.round });
  for (const [round, proposal] of allProposals(s)) {
    if (s.validity.get(hexKey(proposal.valueId)) === "pending")
      effects.push({
        type: "RequestValidation",
        height: s.height,
        round,
        valueId: proposal.valueId,
        value: proposal.value,
      });
  }
  if (s.decision !== null) {
    effects.push({
      type: "Decide",
      height: s.height,
      round: s.decision.round,
      proposal: s.decision.proposal,
      commit: s.decision.commit,
    });
    if (!s.commitTimeoutFired) schedule(s, "commit", s.decision.round, effects);
    return effects;
  }
  if (s.step === "propose") schedule(s, "propose", s.round, effects);
  if (s.fired.has(`34:${s.round}`)) schedule(s, "prevote", s.round, effects);
  if (s.fired.has(`47:${s.round}`)) schedule(s, "precommit", s.round, effects);
  return effects;
}

function tooFarAhead(s: ConsensusState, round: number): boolean {
  return round > Math.max(s.round, 0) + MAX_ROUNDS_AHEAD;
}

function hasVotesFor(s: ConsensusState, round: number, valueId: Uint8Array): boolean {
  const roundVotes = s.votes.get(round);
  if (roundVotes === undefined) return false;
  for (const map of [roundVotes.prevotes, roundVotes.precommits])
    for (const list of map.values())
      for (const v of list) if (v.valueId !== null && equalBytes(v.valueId, valueId)) return true;
  return false;
}

function isProposedValue(s: ConsensusState, valueId: Uint8Array): boolean {
  for (const [, p] of allProposals(s)) if (equalBytes(p.valueId, valueId)) return true;
  return false;
}

function* allProposals(s: ConsensusState): Generator<[number, SignedProposal]> {
  for (const [round, list] of s.proposals) for (const p of list) yield [round, p];
}

function startHeight(
  s: ConsensusState,
  height: bigint,
  validators: ValidatorSet,
  effects: ConsensusEffect[],
): ConsensusState {
  const fresh: ConsensusState = {
    ...s,
    height,
    validators,
    ...heightStart(),
  };
  // Line 10: StartRound(0).
  return startRound(fresh, 0, effects);
}

/** Lines 11-21: StartRound(round). */
function startRound(s: ConsensusState, round: number, effects: ConsensusEffect[]): ConsensusState {
  const validators = s.validators as ValidatorSet;
  // Line 12-13: round_p ← round, step_p ← propose.
  let next: ConsensusState = { ...s, round, step: "propose", awaitingValue: false };
  if (s.self !== null && equalBytes(validators.proposer(round), s.self)) {
    if (next.validValue !== null) {
      // Line 15-16: re-propose the valid value with its round as the proof of lock.
      const { valueId, value } = next.validValue;
      next = requestSign(
        next,
        {
          type: "proposal",
          proposal: { height: s.height, round, valueId, polRound: next.validRound, value },
        },
        effects,
      );
    } else {
      // Line 18: proposal ← getValue(); answered by ValueReady.
      next = { ...next, awaitingValue: true };
      effects.push({ type: "RequestValue", height: s.height, round });
    }
  } else {
    // Line 21: schedule OnTimeoutPropose(h_p, round_p).
    schedule(next, "propose", round, effects);
  }
  return next;
}

function onProposal(s: ConsensusState, proposal: SignedProposal, effects: ConsensusEffect[]): ConsensusState {
  const validators = s.validators;
  if (validators === null || proposal.height !== s.height || tooFarAhead(s, proposal.round)) return s;
  // Lines 22, 28, 36, 49 accept a proposal only "from proposer(h_p, r)".
  if (!equalBytes(validators.proposer(proposal.round), proposal.proposer)) return s;
  // A proposer that equivocates may reach us with several values; keep a few so the one the
  // others decide can still be recognised (line 49), but not an unbounded number.
  const existing = s.proposals.get(proposal.round) ?? [];
  if (existing.some((p) => equalBytes(p.valueId, proposal.valueId))) return s;
  // Past the bound, only a value that validators voted for in that round can still matter.
  if (existing.length >= MAX_PROPOSALS_PER_ROUND && !hasVotesFor(s, proposal.round, proposal.valueId))
    return s;
  const proposals = new Map(s.proposals);
  proposals.set(proposal.round, [...existing, proposal]);
  let next: ConsensusState = { ...s, proposals };
  if (s.self !== null && equalBytes(proposal.proposer, s.self)) {
    // Our own proposal came back signed and is in the WAL: gossip it (line 19).
    next = {
      ...next,
      pendingSigns: next.pendingSigns.filter(
        (p) => !(p.type === "proposal" && p.proposal.round === proposal.round),
      ),
    };
    effects.push({ type: "BroadcastProposal", proposal });
  }
  const key = hexKey(proposal.valueId);
  if (!next.validity.has(key)) {
    next = setValidity(next, proposal.valueId, "pending");
    effects.push({
      type: "RequestValidation",
      height: s.height,
      round: proposal.round,
      valueId: proposal.valueId,
      value: proposal.value,
    });
  }
  return next;
}

function onVote(s: ConsensusState, vote: SignedVote, effects: ConsensusEffect[]): ConsensusState {
  const validators = s.validators;
  if (validators === null || vote.height !== s.height || vote.round < 0 || tooFarAhead(s, vote.round))
    return s;
  if (!validators.has(vote.validator)) return s;
  const roundVotes = s.votes.get(vote.round) ?? EMPTY_ROUND_VOTES;
  const isPrevote = vote.type === VoteType.Prevote;
  const set = isPrevote ? roundVotes.prevotes : roundVotes.precommits;
  const key = hexKey(vote.validator);
  const existing = set.get(key) ?? [];
  if (existing.some((v) => sameValue(v.valueId, vote.valueId))) return s;
  if (existing.length > 0) {
    // Two signed votes of one validator for one height, round and type: equivocation.
    effects.push({ type: "Evidence", evidence: orderEvidence(existing[0] as SignedVote, vote) });
    // Past the bound, keep only votes that can matter: nil or a value someone proposed.
    if (
      existing.length >= MAX_VOTES_PER_VALIDATOR &&
      vote.valueId !== null &&
      !isProposedValue(s, vote.valueId)
    )
      return s;
  }
  const updatedSet = new Map(set);
  updatedSet.set(key, [...existing, vote]);
  const updatedRound: RoundVotes = isPrevote
    ? { prevotes: updatedSet, precommits: roundVotes.precommits }
    : { prevotes: roundVotes.prevotes, precommits: updatedSet };
  const votes = new Map(s.votes);
  votes.set(vote.round, updatedRound);
  let next: ConsensusState = { ...s, votes };
  if (s.self !== null && equalBytes(vote.validator, s.self)) {
    // Our own vote came back signed and is in the WAL: gossip it.
    next = {
      ...next,
      pendingSigns: next.pendingSigns.filter(
        (p) => !(p.type === "vote" && p.vote.type === vote.type && p.vote.round === vote.round),
      ),
    };
    effects.push({ type: "BroadcastVote", vote });
  }
  return next;
}

function onTimeout(
  s: ConsensusState,
  timeout: { kind: string; height: bigint; round: number },
  effects: ConsensusEffect[],
): ConsensusState {
  if (timeout.height !== s.height || s.validators === null) return s;
  switch (timeout.kind) {
    case "propose":
      // Lines 57-60: OnTimeoutPropose: prevote nil.
      if (timeout.round === s.round && s.step === "propose")
        return castVote(s, VoteType.Prevote, null, effects);
      return s;
    case "prevote":
      // Lines 61-64: OnTimeoutPrevote: precommit nil.
      if (timeout.round === s.round && s.step === "prevote")
        return castVote(s, VoteType.Precommit, null, effects);
      return s;
    case "precommit":
      // Lines 65-67: OnTimeoutPrecommit: StartRound(round_p + 1).
      if (timeout.round === s.round && s.step !== "decided") return startRound(s, s.round + 1, effects);
      return s;
    case "commit":
      // The block time target has passed since the decision (CometBFT's timeout_commit).
      if (s.step === "decided") return { ...s, commitTimeoutFired: true };
      return s;
    default:
      return s;
  }
}

/**
 * Re-evaluates the "upon" rules until none applies. Each rule changes the step or marks itself
 * fired for the round, so the loop ends.
 */
function applyRules(state: ConsensusState, effects: ConsensusEffect[]): ConsensusState {
  let s = state;
  const validators = s.validators;
  if (validators === null || s.round < 0) return s;
  const total = validators.totalPower;
  for (;;) {
    if (s.step === "decided") return s;

    // Lines 49-54: a proposal of any round with 2f+1 precommits for it decides, if valid.
    const decided = findDecision(s, validators);
    if (decided !== null) {
      s = decide(s, decided.round, decided.proposal, decided.precommits, effects);
      return s;
    }

    // Lines 55-56: f+1 messages of a higher round: skip to it.
    let skipTo = -1;
    for (const [round, roundVotes] of s.votes) {
      if (round > s.round && round > skipTo && isOneThird(roundParticipation(roundVotes, validators), total))
        skipTo = round;
    }
    if (skipTo > s.round) {
      s = startRound(s, skipTo, effects);
      continue;
    }

    const round = s.round;
    const roundProposals = s.proposals.get(round) ?? [];
    const roundVotes = s.votes.get(round) ?? EMPTY_ROUND_VOTES;
    const prevotes = tally(roundVotes.prevotes, validators);

    if (s.step === "propose") {
      const vote = proposeStepVote(s, roundProposals, validators);
      if (vote !== undefined) {
        s = castVote(s, VoteType.Prevote, vote, effects);
        continue;
      }
    }

    // Lines 34-35: 2f+1 prevotes of any kind: schedule OnTimeoutPrevote, once per round.
    if (s.step === "prevote" && !s.fired.has(`34:${round}`) && isQuorum(prevotes.total, total, s.mutation)) {
      s = markFired(s, `34:${round}`);
      schedule(s, "prevote", round, effects);
      continue;
    }

    // Lines 36-43: a valid proposal with 2f+1 prevotes: lock (if still prevoting) and set validValue.
    const polka =
      (s.step === "prevote" || s.step === "precommit") && !s.fired.has(`36:${round}`)
        ? roundProposals.find(
            (p) =>
              s.validity.get(hexKey(p.valueId)) === "valid" &&
              isQuorum(prevotes.byValue.get(hexKey(p.valueId)) ?? 0, total, s.mutation),
          )
        : undefined;
    if (polka !== undefined) {
      s = markFired(s, `36:${round}`);
      const value: ValueRecord = { valueId: polka.valueId, value: polka.value };
      if (s.step === "prevote") {
        // Lines 37-40: lockedValue ← v, lockedRound ← round_p, precommit id(v).
        s = { ...s, lockedValue: value, lockedRound: round };
        s = castVote(s, VoteType.Precommit, polka.valueId, effects);
      }
      // Lines 41-42: validValue ← v, validRound ← round_p.
      s = { ...s, validValue: value, validRound: round };
      continue;
    }

    // Lines 44-46: 2f+1 prevotes for nil: precommit nil.
    if (s.step === "prevote" && isQuorum(prevotes.nil, total, s.mutation)) {
      s = castVote(s, VoteType.Precommit, null, effects);
      continue;
    }

    // Lines 47-48: 2f+1 precommits of any kind: schedule OnTimeoutPrecommit, once per round.
    if (!s.fired.has(`47:${round}`)) {
      const precommits = tally(roundVotes.precommits, validators);
      if (isQuorum(precommits.total, total, s.mutation)) {
        s = markFired(s, `47:${round}`);
        schedule(s, "precommit", round, effects);
        continue;
      }
    }
    return s;
  }
}

/**
 * Lines 22-33 while step = propose: the prevote for the round's proposal (a value id or null for
 * nil), or undefined while no proposal can be judged yet (validity pending, proof of lock missing).
 */
function proposeStepVote(
  s: ConsensusState,
  proposals: readonly SignedProposal[],
  validators: ValidatorSet,
): Uint8Array | null | undefined {
  const ignoreLock = s.mutation === "ignoreLock";
  const lockedOn = (valueId: Uint8Array): boolean => sameValue(s.lockedValue?.valueId ?? null, valueId);
  for (const proposal of proposals) {
    const validity = s.validity.get(hexKey(proposal.valueId));
    if (validity === undefined || validity === "pending") continue;
    if (proposal.polRound === -1) {
      // Lines 22-27: a fresh proposal: prevote it if valid and we are not locked on another value.
      const accept =
        validity === "valid" && (ignoreLock || s.lockedRound === -1 || lockedOn(proposal.valueId));
      return accept ? proposal.valueId : null;
    }
    if (proposal.polRound >= 0 && proposal.polRound < s.round) {
      // Lines 28-33: a re-proposal with a proof of lock: 2f+1 prevotes for it at validRound.
      const pol = tally((s.votes.get(proposal.polRound) ?? EMPTY_ROUND_VOTES).prevotes, validators);
      if (!isQuorum(pol.byValue.get(hexKey(proposal.valueId)) ?? 0, validators.totalPower, s.mutation))
        continue;
      const accept =
        validity === "valid" &&
        (ignoreLock || s.lockedRound <= proposal.polRound || lockedOn(proposal.valueId));
      return accept ? proposal.valueId : null;
    }
  }
  return undefined;
}

type FoundDecision = { round: number; proposal: SignedProposal; precommits: SignedVote[] };

function findDecision(s: ConsensusState, validators: ValidatorSet): FoundDecision | null {
  for (const [round, proposal] of allProposals(s)) {
    if (s.validity.get(hexKey(proposal.valueId)) !== "valid") continue;
    const roundVotes = s.votes.get(round);
    if (roundVotes === undefined) continue;
    const precommits: SignedVote[] = [];
    let power = 0;
    for (const list of roundVotes.precommits.values()) {
      const vote = list.find((v) => v.valueId !== null && equalBytes(v.valueId, proposal.valueId));
      if (vote !== undefined) {
        precommits.push(vote);
        power += validators.powerOf(vote.validator);
      }
    }
    if (isQuorum(power, validators.totalPower, s.mutation)) return { round, proposal, precommits };
  }
  return null;
}

/** Lines 49-54: decision_p[h_p] = v. The next height starts after the commit and the commit timeout. */
function decide(
  s: ConsensusState,
  round: number,
  proposal: SignedProposal,
  precommits: SignedVote[],
  effects: ConsensusEffect[],
): ConsensusState {
  const commit: Commit = {
    height: s.height,
    round,
    valueId: proposal.valueId,
    signatures: precommits.map((v) => ({ validator: v.validator, signature: v.signature })),
  };
  const next: ConsensusState = {
    ...s,
    step: "decided",
    decision: { round, proposal, commit },
    awaitingValue: false,
  };
  effects.push({ type: "Decide", height: s.height, round, proposal, commit });
  schedule(next, "commit", round, effects);
  return next;
}

/** Line 54's "h_p ← h_p + 1; reset; StartRound(0)", once the block is committed and the commit timeout fired. */
function maybeNextHeight(s: ConsensusState, effects: ConsensusEffect[]): ConsensusState {
  if (s.step !== "decided" || s.nextValidators === null || !s.commitTimeoutFired) return s;
  return startHeight(s, s.height + 1n, s.nextValidators, effects);
}

/** Sets step (prevote after a prevote, precommit after a precommit) and asks for the signature. */
function castVote(
  s: ConsensusState,
  type: VoteType,
  valueId: Uint8Array | null,
  effects: ConsensusEffect[],
): ConsensusState {
  const nextStep = type === VoteType.Prevote ? "prevote" : "precommit";
  const next: ConsensusState = { ...s, step: nextStep };
  // A node that is not a validator follows the steps but signs nothing.
  if (s.self === null || !(s.validators as ValidatorSet).has(s.self)) return next;
  return requestSign(
    next,
    { type: "vote", vote: { type, height: s.height, round: s.round, valueId } },
    effects,
  );
}

function requestSign(s: ConsensusState, pending: PendingSign, effects: ConsensusEffect[]): ConsensusState {
  effects.push(
    pending.type === "vote"
      ? { type: "SignVote", vote: pending.vote }
      : { type: "SignProposal", proposal: pending.proposal },
  );
  return { ...s, pendingSigns: [...s.pendingSigns, pending] };
}

function schedule(
  s: ConsensusState,
  kind: "propose" | "prevote" | "precommit" | "commit",
  round: number,
  effects: ConsensusEffect[],
): void {
  effects.push({
    type: "ScheduleTimeout",
    timeout: { kind, height: s.height, round },
    durationMs: timeoutDurationMs(s.params, kind, round),
  });
}

function markFired(s: ConsensusState, rule: string): ConsensusState {
  const fired = new Set(s.fired);
  fired.add(rule);
  return { ...s, fired };
}

function setValidity(s: ConsensusState, valueId: Uint8Array, validity: Validity): ConsensusState {
  const map = new Map(s.validity);
  map.set(hexKey(valueId), validity);
  return { ...s, validity: map };
}

function sameValue(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return equalBytes(a, b);
}
