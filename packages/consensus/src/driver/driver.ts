import { bytesToHex, equalBytes, hexKey, keccak256, type Logger, silentLogger } from "@meridian/primitives";
import type { ConsensusApplication } from "../application.ts";
import { recoverProposal, recoverVote } from "../codec/verify.ts";
import {
  DEFAULT_MAX_VALUE_BYTES,
  decodeMessage,
  encodeProposal,
  encodeVote,
  type WireMessage,
} from "../codec/wire.ts";
import type { ConsensusEffect } from "../core/effect.ts";
import type { ConsensusInput } from "../core/input.ts";
import { type ConsensusState, initialState, type Mutation } from "../core/state.ts";
import { resumeEffects, step } from "../core/step.ts";
import type { DuplicateVoteEvidence } from "../evidence/evidence.ts";
import type { EvidencePool } from "../evidence/pool.ts";
import type { Signer } from "../signer/signer.ts";
import {
  type Commit,
  type ConsensusParams,
  type SignedProposal,
  type SignedVote,
  VoteType,
} from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";
import type { ConsensusMetrics, DropReason, Scheduler, TimerHandle, Transport } from "./interfaces.ts";
import type { ValidatorSetSource } from "./validator-sets.ts";
import type { DecisionProof, LoggedInput, Wal } from "./wal.ts";

/** Bound on buffered messages of future heights. */
const MAX_FUTURE_MESSAGES = 4096;

export type SignedMessage =
  | { type: "proposal"; proposal: SignedProposal }
  | { type: "vote"; vote: SignedVote };

/** Recovers a decoded message's signer; the simulator shares a cache of results between its nodes. */
export type MessageRecoverer = (chainId: string, bytes: Uint8Array, message: WireMessage) => SignedMessage;

export const recoverMessage: MessageRecoverer = (chainId, _bytes, message) =>
  message.type === "proposal"
    ? { type: "proposal", proposal: recoverProposal(chainId, message.proposal) }
    : { type: "vote", vote: recoverVote(chainId, message.vote) };

/** Things the driver reports as they happen (metrics, the simulator's checks). */
export type DriverObserver = {
  /** The core decided `height` (before the application commits it). */
  decided?(height: bigint, round: number, proposal: SignedProposal, commit: Commit): void;
  /** The application committed `height`. */
  committed?(height: bigint): void;
  evidence?(evidence: DuplicateVoteEvidence): void;
  /** Every input, in the order the core takes it (after the WAL), replayed ones included. */
  input?(input: ConsensusInput, replayed: boolean): void;
};

export type DriverOptions = {
  chainId: string;
  params: ConsensusParams;
  /** Null for a node that follows consensus without voting. */
  signer: Signer | null;
  wal: Wal;
  app: ConsensusApplication;
  transport: Transport;
  scheduler: Scheduler;
  validatorSets: ValidatorSetSource;
  evidencePool: EvidencePool;
  logger?: Logger;
  /** Counters for dropped messages; none by default. */
  metrics?: ConsensusMetrics;
  observer?: DriverObserver;
  recover?: MessageRecoverer;
  maxValueBytes?: number;
  /** How often our own messages of the current height are sent again (gossip until heard). */
  gossipIntervalMs?: number;
  /** Decisions kept to answer peers that are behind. */
  catchUpHeights?: number;
  /** Simulator only: a deliberately broken rule. */
  mutation?: Mutation;
  /**
   * The commit timeout counts from the start of the height, not from the decision, so blocks
   * come every `params.commit.baseMs` (or as fast as they can be decided) instead of every
   * commit timeout plus the time it took to decide. The node's block time.
   */
  commitTimeoutFromHeightStart?: boolean;
};

type QueuedInput = { input: ConsensusInput; own: boolean };

/**
 * Runs the pure core: one serialised loop that appends each input to the WAL, steps the core,
 * then performs the effects (timers, network, application, signer). Own signed messages are
 * fsynced to the WAL before they are broadcast. After a crash `start` replays the WAL of the
 * current height and resumes where the core was.
 */
export class ConsensusDriver {
  private readonly opts: DriverOptions;
  private readonly logger: Logger;
  private readonly recover: MessageRecoverer;
  private state: ConsensusState;
  private readonly queue: QueuedInput[] = [];
  private pumping = false;
  private stopped = false;
  private readonly timers = new Set<TimerHandle>();
  private gossipTimer: TimerHandle | null = null;
  private readonly proofs = new Map<bigint, DecisionProof>();
  /** Last time a catch-up proof went to a peer, by `${peer}:${height}`. */
  private readonly catchUpSent = new Map<string, number>();
  /** Our own signed messages of the current height by round, to gossip again. */
  private ownMessages = new Map<number, Uint8Array[]>();
  private idle: Promise<void> = Promise.resolve();
  /** Messages for heights above ours, by height (see bufferFuture). */
  private readonly future = new Map<bigint, { bytes: Uint8Array; peer: string }[]>();
  private futureCount = 0;
  /** Application, signer and finalize calls under way. */
  private inFlight = 0;
  private commitSkipped = -1n;
  /** scheduler.now() when the current height started (or the driver, after a restart). */
  private heightStartedAt = 0;
  private resolveIdle: (() => void) | null = null;

  constructor(opts: DriverOptions) {
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger;
    this.recover = opts.recover ?? recoverMessage;
    this.state = initialState({
      chainId: opts.chainId,
      params: opts.params,
      self: opts.signer?.address ?? null,
      mutation: opts.mutation ?? null,
    });
  }

  get height(): bigint {
    return this.state.height;
  }
  get round(): number {
    return this.state.round;
  }
  get currentState(): ConsensusState {
    return this.state;
  }

  /** Starts at the height after the application's last block, replaying that height's WAL. */
  async start(): Promise<void> {
    const info = this.opts.app.info();
    const height = info.height + 1n;
    const validators = this.opts.validatorSets.at(height);
    const logged = await this.opts.wal.inputsFor(height);
    const marker = await this.opts.wal.lastEndHeight();
    if (marker?.proof) this.proofs.set(marker.height, marker.proof);
    this.applyStep({ type: "StartHeight", height, validators }, true);
    for (const input of logged) this.applyStep(input, true);
    if (logged.length > 0)
      this.logger.info("consensus WAL replayed", {
        height,
        inputs: logged.length,
        lastBlockHash: bytesToHex(info.blockHash),
        appHash: bytesToHex(info.appHash),
      });
    for (const effect of resumeEffects(this.state)) this.perform(effect);
    this.scheduleGossip();
  }

  /** Stops timers and stops taking inputs; pending application calls finish on their own. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.opts.scheduler.clearTimer(t);
    this.timers.clear();
    if (this.gossipTimer !== null) this.opts.scheduler.clearTimer(this.gossipTimer);
    await this.idle;
  }

  /**
   * A consensus message from `peer`. Malformed, oversized, badly signed messages, messages of
   * strangers and of heights beyond the catch-up window are dropped: counted, logged at debug,
   * and the peer penalised through the transport. Nothing a peer sends throws.
   */
  receive(bytes: Uint8Array, peer: string): void {
    if (this.stopped) return;
    let decoded: WireMessage;
    try {
      decoded = decodeMessage(bytes, this.opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES);
    } catch (err) {
      this.drop(peer, "malformed", err);
      return;
    }
    let message: SignedMessage;
    try {
      message = this.recover(this.opts.chainId, bytes, decoded);
    } catch (err) {
      this.drop(peer, "bad-signature", err);
      return;
    }
    const height = message.type === "proposal" ? message.proposal.height : message.vote.height;
    if (height < this.state.height) {
      this.answerLaggingPeer(peer, height);
      return;
    }
    const ahead = BigInt(this.opts.catchUpHeights ?? 16);
    if (height > this.state.height + ahead) {
      this.drop(peer, "future-height", `height ${height} at ${this.state.height}`);
      return;
    }
    const signer = message.type === "proposal" ? message.proposal.proposer : message.vote.validator;
    let validators: ValidatorSet | null;
    try {
      validators = height === this.state.height ? this.state.validators : this.opts.validatorSets.at(height);
    } catch {
      validators = null; // a set not known yet (validator updates): the core checks it on arrival
    }
    if (validators !== null && !validators.has(signer)) {
      this.drop(peer, "unknown-validator", bytesToHex(signer));
      return;
    }
    if (
      message.type === "proposal" &&
      !equalBytes(keccak256(message.proposal.value), message.proposal.valueId)
    ) {
      this.drop(peer, "bad-value", `height ${height}`);
      return;
    }
    if (height > this.state.height) {
      this.bufferFuture(height, bytes, peer);
      return;
    }
    if (message.type === "proposal") this.enqueue({ type: "Proposal", proposal: message.proposal }, false);
    else this.enqueue({ type: "Vote", vote: message.vote }, false);
  }

  private drop(peer: string, reason: DropReason, detail: unknown): void {
    this.opts.metrics?.messageDropped(reason);
    this.logger.debug("dropped consensus message", { peer, reason, detail: String(detail) });
    try {
      this.opts.transport.penalize?.(peer, reason);
    } catch (err) {
      this.logger.warn("transport penalize failed", { peer }, err);
    }
  }

  /**
   * Keeps a bounded number of messages of the next heights (a peer ahead sends the proofs of
   * several heights at once), and, once we are behind, stops waiting out the commit timeout.
   */
  private bufferFuture(height: bigint, bytes: Uint8Array, peer: string): void {
    if (this.futureCount >= MAX_FUTURE_MESSAGES) {
      this.drop(peer, "future-height", "future buffer full");
      return;
    }
    const list = this.future.get(height);
    if (list === undefined) this.future.set(height, [{ bytes, peer }]);
    else list.push({ bytes, peer });
    this.futureCount++;
    this.skipCommitTimeout();
  }

  /** The block time target is for nodes at the tip; a node behind moves on as soon as it commits. */
  private skipCommitTimeout(): void {
    const s = this.state;
    if (s.decision === null || s.commitTimeoutFired || this.commitSkipped === s.height) return;
    this.commitSkipped = s.height;
    this.enqueue(
      { type: "TimeoutFired", timeout: { kind: "commit", height: s.height, round: s.decision.round } },
      false,
    );
  }

  /** Messages buffered for the height we just reached go through `receive` now. */
  private drainFuture(): void {
    const height = this.state.height;
    for (const h of this.future.keys()) {
      if (h >= height) continue;
      this.futureCount -= this.future.get(h)?.length ?? 0;
      this.future.delete(h);
    }
    const ready = this.future.get(height);
    if (ready === undefined) return;
    this.future.delete(height);
    this.futureCount -= ready.length;
    for (const m of ready) this.receive(m.bytes, m.peer);
  }

  /**
   * True when nothing is queued, running or awaited (application, signer, WAL): what a test on a
   * virtual clock waits for before it lets time move, so real file I/O cannot race the timers.
   */
  get settled(): boolean {
    return !this.pumping && this.queue.length === 0 && this.inFlight === 0;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    return work.finally(() => {
      this.inFlight--;
    });
  }

  /** Resolves once every queued input has been processed. */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  private enqueue(input: ConsensusInput, own: boolean): void {
    if (this.stopped) return;
    this.queue.push({ input, own });
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    this.idle = new Promise((resolve) => {
      this.resolveIdle = resolve;
    });
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const { input, own } = this.queue.shift() as QueuedInput;
        if (input.type !== "StartHeight" && input.type !== "BlockCommitted") {
          // Write-ahead: the input is logged before the core sees it; our own signed messages
          // are durable before the effects below broadcast them.
          await this.opts.wal.append({ type: "input", input: input as LoggedInput }, own);
        }
        if (this.stopped) break;
        for (const effect of this.applyStep(input, false)) this.perform(effect);
      }
    } catch (err) {
      this.logger.error("consensus loop failed", {}, err);
      this.stopped = true;
    } finally {
      this.pumping = false;
      this.resolveIdle?.();
    }
  }

  private applyStep(input: ConsensusInput, replayed: boolean): ConsensusEffect[] {
    const before = this.state.height;
    const result = step(this.state, input);
    this.state = result.state;
    this.opts.observer?.input?.(input, replayed);
    if (this.state.height !== before) {
      this.heightStartedAt = this.opts.scheduler.now();
      this.ownMessages.clear();
      if (!replayed) queueMicrotask(() => this.drainFuture());
    }
    if (replayed) {
      // Replay rebuilds the state only; resumeEffects re-issues what is still outstanding. Our own
      // messages are remembered (not sent) so gossip sends them again.
      for (const effect of result.effects) {
        if (effect.type === "Evidence") this.perform(effect);
        else if (effect.type === "BroadcastProposal")
          this.keepOwn(effect.proposal.round, encodeProposal(effect.proposal));
        else if (effect.type === "BroadcastVote") this.keepOwn(effect.vote.round, encodeVote(effect.vote));
      }
      return [];
    }
    return result.effects;
  }

  private perform(effect: ConsensusEffect): void {
    if (this.stopped) return;
    const { app, chainId, signer, transport } = this.opts;
    switch (effect.type) {
      case "RequestValue": {
        const proposer = signer?.address ?? new Uint8Array(20);
        this.track(
          app.prepareProposal({
            height: effect.height,
            round: effect.round,
            proposer,
            timestampMs: this.opts.scheduler.now(),
            maxBytes: this.opts.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
            misbehavior: this.opts.evidencePool.pending(),
          }),
        ).then(
          (value) =>
            this.enqueue(
              {
                type: "ValueReady",
                height: effect.height,
                round: effect.round,
                valueId: keccak256(value),
                value,
              },
              false,
            ),
          (err) => this.logger.warn("prepareProposal failed", { height: effect.height }, err),
        );
        return;
      }
      case "RequestValidation": {
        const proposer = this.state.validators?.proposer(effect.round) ?? new Uint8Array(20);
        this.track(
          app.processProposal({ height: effect.height, round: effect.round, proposer, value: effect.value }),
        ).then(
          (verdict) => {
            if (!verdict.accept)
              this.logger.debug("proposal rejected by the application", {
                height: effect.height,
                round: effect.round,
                reason: verdict.reason,
              });
            this.enqueue(
              {
                type: "ProposalValidated",
                height: effect.height,
                valueId: effect.valueId,
                valid: verdict.accept,
              },
              false,
            );
          },
          (err) => {
            this.logger.warn("processProposal failed; treating the value as invalid", {}, err);
            this.enqueue(
              { type: "ProposalValidated", height: effect.height, valueId: effect.valueId, valid: false },
              false,
            );
          },
        );
        return;
      }
      case "SignProposal": {
        if (signer === null) return;
        const proposal = effect.proposal;
        this.track(signer.signProposal(chainId, proposal)).then(
          (signature) =>
            this.enqueue(
              { type: "Proposal", proposal: { ...proposal, proposer: signer.address, signature } },
              true,
            ),
          (err) =>
            this.logger.warn("proposal not signed", { height: proposal.height, round: proposal.round }, err),
        );
        return;
      }
      case "SignVote": {
        if (signer === null) return;
        const vote = effect.vote;
        this.track(signer.signVote(chainId, vote)).then(
          (signature) =>
            this.enqueue({ type: "Vote", vote: { ...vote, validator: signer.address, signature } }, true),
          (err) => this.logger.warn("vote not signed", { height: vote.height, round: vote.round }, err),
        );
        return;
      }
      case "BroadcastProposal": {
        const bytes = encodeProposal(effect.proposal);
        this.keepOwn(effect.proposal.round, bytes);
        transport.broadcast(bytes);
        return;
      }
      case "BroadcastVote": {
        const bytes = encodeVote(effect.vote);
        this.keepOwn(effect.vote.round, bytes);
        transport.broadcast(bytes);
        return;
      }
      case "ScheduleTimeout": {
        const timeout = effect.timeout;
        let delay = effect.durationMs;
        if (timeout.kind === "commit" && this.opts.commitTimeoutFromHeightStart)
          delay = Math.max(0, delay - (this.opts.scheduler.now() - this.heightStartedAt));
        const handle = this.opts.scheduler.setTimer(delay, () => {
          this.timers.delete(handle);
          this.enqueue({ type: "TimeoutFired", timeout }, false);
        });
        this.timers.add(handle);
        return;
      }
      case "Decide":
        this.keepProof(effect.height, effect.proposal, effect.commit);
        if (this.futureCount > 0) queueMicrotask(() => this.skipCommitTimeout());
        this.opts.observer?.decided?.(effect.height, effect.round, effect.proposal, effect.commit);
        void this.track(this.finalize(effect.height, effect.round, effect.proposal, effect.commit));
        return;
      case "Evidence": {
        const validators = this.state.validators as ValidatorSet;
        try {
          this.opts.evidencePool.add(effect.evidence, this.state.height, validators);
        } catch (err) {
          this.logger.warn("evidence rejected", {}, err);
          return;
        }
        this.opts.observer?.evidence?.(effect.evidence);
        return;
      }
    }
  }

  /** Finalizes and commits the decided value, closes the height in the WAL, then moves on. */
  private async finalize(
    height: bigint,
    round: number,
    proposal: SignedProposal,
    commit: Commit,
  ): Promise<void> {
    const { app, wal, evidencePool } = this.opts;
    const current = this.state.validators as ValidatorSet;
    try {
      let nextValidators: ValidatorSet;
      if (app.lastCommittedHeight() < height) {
        const misbehavior = evidencePool.pending();
        const result = await app.finalizeBlock({
          height,
          round,
          proposer: proposal.proposer,
          value: proposal.value,
          commit,
          misbehavior,
        });
        await app.commit(height);
        // Evidence a value carries is what the block recorded; else what we passed in.
        evidencePool.markCommitted((result.misbehavior ?? misbehavior) as readonly DuplicateVoteEvidence[]);
        nextValidators =
          result.validatorUpdates.length > 0 ? current.update(result.validatorUpdates) : current.next();
      } else {
        nextValidators = this.opts.validatorSets.at(height + 1n);
      }
      if (this.stopped) return;
      this.addLatePrecommits(height);
      await wal.append({ type: "endHeight", height, proof: this.proofs.get(height) ?? null }, true);
      evidencePool.prune(height + 1n);
      this.opts.observer?.committed?.(height);
      this.enqueue({ type: "BlockCommitted", height, nextValidators }, false);
    } catch (err) {
      this.logger.error("committing a decided block failed", { height }, err);
      this.stopped = true;
    }
  }

  private keepProof(height: bigint, proposal: SignedProposal, commit: Commit): void {
    const precommits = commit.signatures.map((s) =>
      encodeVote({
        type: VoteType.Precommit,
        height,
        round: commit.round,
        valueId: commit.valueId,
        signature: s.signature,
      }),
    );
    this.proofs.set(height, { proposal: encodeProposal(proposal), precommits });
    const keep = BigInt(this.opts.catchUpHeights ?? 16);
    for (const h of this.proofs.keys()) if (h + keep < height) this.proofs.delete(h);
  }

  /**
   * Adds the precommits for the decided value that arrived after the decision (our own among
   * them, usually) to the height's proof: a peer that missed some of the commit's signers may
   * hold conflicting votes of an equivocator instead.
   */
  private addLatePrecommits(height: bigint): void {
    const s = this.state;
    const proof = this.proofs.get(height);
    if (s.height !== height || s.decision === null || proof === undefined) return;
    const precommits: Uint8Array[] = [];
    for (const list of (s.votes.get(s.decision.round)?.precommits ?? new Map()).values()) {
      for (const vote of list as SignedVote[]) {
        if (vote.valueId !== null && equalBytes(vote.valueId, s.decision.commit.valueId))
          precommits.push(encodeVote(vote));
      }
    }
    this.proofs.set(height, { proposal: proof.proposal, precommits });
  }

  /** A peer spoke about a height we decided: send it the proposal and the commit's precommits. */
  private answerLaggingPeer(peer: string, height: bigint): void {
    const proof = this.proofs.get(height);
    if (proof === undefined) return;
    const key = `${peer}:${height}`;
    const now = this.opts.scheduler.now();
    const last = this.catchUpSent.get(key);
    if (last !== undefined && now - last < (this.opts.gossipIntervalMs ?? 1000)) return;
    this.catchUpSent.set(key, now);
    if (this.catchUpSent.size > 1024) this.catchUpSent.clear();
    // Every later height we can prove too: the peer buffers them and catches up in one go.
    for (let h = height; this.proofs.has(h); h++) {
      const p = this.proofs.get(h) as DecisionProof;
      this.opts.transport.send(peer, p.proposal);
      for (const vote of p.precommits) this.opts.transport.send(peer, vote);
    }
  }

  private keepOwn(round: number, bytes: Uint8Array): void {
    const list = this.ownMessages.get(round);
    if (list === undefined) this.ownMessages.set(round, [bytes]);
    else list.push(bytes);
  }

  /** Every gossip interval our own messages of this height go out again, until the height ends. */
  private scheduleGossip(): void {
    if (this.stopped) return;
    this.gossipTimer = this.opts.scheduler.setTimer(this.opts.gossipIntervalMs ?? 1000, () => {
      this.gossipTimer = null;
      if (this.stopped) return;
      const s = this.state;
      const proposal = s.proposals.get(s.round)?.[0];
      // The current and previous round, and the rounds a proof of lock may point at.
      const rounds = new Set([s.round, s.round - 1, s.validRound, s.lockedRound, proposal?.polRound ?? -1]);
      for (const round of rounds)
        for (const bytes of this.ownMessages.get(round) ?? []) this.opts.transport.broadcast(bytes);
      // Relay the round's proposal too: a peer that missed it cannot prevote it otherwise.
      if (
        proposal !== undefined &&
        !equalBytes(proposal.proposer, this.opts.signer?.address ?? new Uint8Array(0))
      )
        this.opts.transport.broadcast(encodeProposal(proposal));
      this.scheduleGossip();
    });
  }

  /** The address key of this node's validator, or "" for a follower. */
  get selfKey(): string {
    return this.opts.signer ? hexKey(this.opts.signer.address) : "";
  }
}
