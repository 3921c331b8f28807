import type { Scheduler, TimerHandle } from "../driver/interfaces.ts";

type Event = { at: number; seq: number; id: number; fire: () => void };

/**
 * Simulated time: events run in (time, insertion) order and time jumps from one to the next.
 * Nothing here reads the wall clock, so a seed replays exactly.
 */
export class VirtualClock implements Scheduler {
  private heap: Event[] = [];
  private seq = 0;
  private nowMs = 0;
  private readonly cancelled = new Set<number>();

  now(): number {
    return this.nowMs;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const id = ++this.seq;
    this.push({ at: this.nowMs + Math.max(0, delayMs), seq: id, id, fire });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.cancelled.add(handle.id);
  }

  /** Runs the next event (after `yieldBetween` lets promise continuations settle); false when none is due by `until`. */
  runNext(until: number): boolean {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > until) return false;
      this.pop();
      if (this.cancelled.delete(top.id)) continue;
      this.nowMs = top.at;
      top.fire();
      return true;
    }
  }

  get pending(): number {
    return this.heap.length;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as Event, h[parent] as Event)) break;
      [h[i], h[parent]] = [h[parent] as Event, h[i] as Event];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Event;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l] as Event, h[m] as Event)) m = l;
      if (r < h.length && before(h[r] as Event, h[m] as Event)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Event, h[i] as Event];
      i = m;
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
