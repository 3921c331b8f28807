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

/** How consensus messages leave the node. Inbound messages reach the driver via `receive`. */
export interface Transport {
  broadcast(message: Uint8Array): void;
  /** To one peer (catch-up answers), by the id `receive` was given. */
  send(peer: string, message: Uint8Array): void;
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
