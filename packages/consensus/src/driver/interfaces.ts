/** An opaque timer handle from a Scheduler. */
export type TimerHandle = { readonly id: number };

/**
 * Time for the driver: the node passes the wall clock and setTimeout, the simulator a virtual
 * clock. The core never sees either; the driver turns ScheduleTimeout into `setTimer`.
 */
export interface Scheduler {
  /** Milliseconds since the epoch (or since the simulation began). */
  now(): number;
  setTimer(delayMs: number, fire: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Why the driver dropped an inbound message (the label of its metric). */
export type DropReason =
  /** Not a canonical message of the wire format, or over the size limit. */
  | "malformed"
  /** The signature does not recover (a vote signed for another chain id recovers to a stranger: unknown-validator). */
  | "bad-signature"
  /** Signed by a key outside the validator set of the message's height. */
  | "unknown-validator"
  /** For a height beyond the catch-up window (or the future buffer is full). */
  | "future-height"
  /** A proposal whose value bytes do not hash to its value id. */
  | "bad-value";

/** How consensus messages leave the node. Inbound messages reach the driver via `receive`. */
export interface Transport {
  broadcast(message: Uint8Array): void;
  /** To one peer (catch-up answers), by the id `receive` was given. */
  send(peer: string, message: Uint8Array): void;
  /** `peer` sent a message the driver dropped (p2p lowers its score or disconnects it). */
  penalize?(peer: string, reason: DropReason): void;
}

/** What the driver counts; the node implements it with prom-client, tests with a map. */
export interface ConsensusMetrics {
  messageDropped(reason: DropReason): void;
}

/** Wall-clock scheduler for a node. */
export class SystemScheduler implements Scheduler {
  private nextId = 1;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  now(): number {
    return Date.now();
  }
  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(
      id,
      setTimeout(() => {
        this.timers.delete(id);
        fire();
      }, delayMs),
    );
    return { id };
  }
  clearTimer(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(handle.id);
  }
}
