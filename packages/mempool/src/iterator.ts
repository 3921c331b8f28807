import type { PooledTx } from "./types.ts";

/** Pool-internal view of a tx with what ordering needs. */
export type PricedTx = {
  readonly pooled: PooledTx;
  readonly maxFee: bigint;
  readonly tip: bigint;
  /** Arrival order; breaks price ties in favour of the earlier tx, as geth does by time. */
  readonly seq: number;
};

/** Miner tip per gas at `baseFee` (may be negative when maxFee < baseFee). */
export function effectiveTip(t: { maxFee: bigint; tip: bigint }, baseFee: bigint): bigint {
  const room = t.maxFee - baseFee;
  if (room < t.tip) return room;
  return t.tip;
}

/** Minimal binary heap; `before(a, b)` says a should come out first. */
export class Heap<T> {
  private readonly items: T[] = [];
  private readonly before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.before = before;
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  /** Removes the top item. */
  pop(): T | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last !== undefined) {
      this.items[0] = last;
      this.down(0);
    }
    return top;
  }

  /** Replaces the top item and restores order (cheaper than pop + push). */
  replaceTop(item: T): void {
    this.items[0] = item;
    this.down(0);
  }

  private up(i: number): void {
    const { items } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const { items } = this;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
      if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
      if (best === i) return;
      [items[i], items[best]] = [items[best]!, items[i]!];
      i = best;
    }
  }
}

/** Block-building cursor over pending txs (geth TransactionsByPriceAndNonce). */
export interface PendingIterator {
  /** Best tx to try next, or undefined when exhausted. */
  peek(): PooledTx | undefined;
  /** The peeked tx was included: move on to the next nonce of the same sender. */
  shift(): void;
  /** The peeked tx cannot be included: drop the sender's remaining txs, since later nonces depend on it. */
  pop(): void;
}

type Cursor<T extends PricedTx> = { list: readonly T[]; idx: number; price: bigint };

/**
 * Merges per-sender nonce-ordered lists into one stream: the head with the highest effective
 * tip at `baseFee` first, and within a sender strictly by list (nonce) order.
 */
export class PriceAndNonceIterator<T extends PricedTx = PricedTx> implements PendingIterator {
  private readonly heap: Heap<Cursor<T>>;
  private readonly baseFee: bigint;

  constructor(lists: Iterable<readonly T[]>, baseFee: bigint) {
    this.baseFee = baseFee;
    this.heap = new Heap<Cursor<T>>((a, b) =>
      a.price === b.price ? a.list[a.idx]!.seq < b.list[b.idx]!.seq : a.price > b.price,
    );
    for (const list of lists) {
      if (list.length > 0) this.heap.push({ list, idx: 0, price: effectiveTip(list[0]!, baseFee) });
    }
  }

  /** The internal entry behind `peek()`. */
  peekEntry(): T | undefined {
    const top = this.heap.peek();
    return top === undefined ? undefined : top.list[top.idx];
  }

  peek(): PooledTx | undefined {
    return this.peekEntry()?.pooled;
  }

  shift(): void {
    const top = this.heap.peek();
    if (top === undefined) return;
    const idx = top.idx + 1;
    if (idx >= top.list.length) {
      this.heap.pop();
      return;
    }
    this.heap.replaceTop({ list: top.list, idx, price: effectiveTip(top.list[idx]!, this.baseFee) });
  }

  pop(): void {
    this.heap.pop();
  }
}
