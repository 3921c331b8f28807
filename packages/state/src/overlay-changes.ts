/**
 * The changes an overlay state keeps on top of the state below it: accounts,
 * storage slots and cleared storages, keyed by unprefixed hex, with an undo log
 * for the EVM's checkpoints. FlatStateManager (a block's overlay) and the
 * parallel executor's TxStateManager (one transaction's) both keep theirs here.
 */

type Undo<A> =
  | { kind: "account"; addr: string; prev: A | undefined }
  | { kind: "slot"; addr: string; slot: string; prev: Uint8Array | undefined; created: boolean }
  | { kind: "wipe"; addr: string; wasWiped: boolean; prevSlots: Map<string, Uint8Array> | undefined }
  | { kind: "other"; undo: () => void };

/** `A`: the overlay's account value; null stands for a deleted account. */
export class OverlayChanges<A extends object | null> {
  readonly accounts = new Map<string, A>();
  /** Written slots by address; an empty value means zero. */
  readonly slots = new Map<string, Map<string, Uint8Array>>();
  /** Addresses whose storage was cleared (slots written since are in `slots`). */
  readonly wiped = new Set<string>();
  private readonly log: Undo<A>[] = [];
  /** Log length at each open checkpoint; with none open nothing can be reverted, so nothing is logged. */
  private readonly marks: number[] = [];

  setAccount(addr: string, value: A): void {
    if (this.marks.length > 0) this.log.push({ kind: "account", addr, prev: this.accounts.get(addr) });
    this.accounts.set(addr, value);
  }

  setSlot(addr: string, slot: string, value: Uint8Array): void {
    let m = this.slots.get(addr);
    const created = m === undefined;
    if (!m) {
      m = new Map();
      this.slots.set(addr, m);
    }
    if (this.marks.length > 0) this.log.push({ kind: "slot", addr, slot, prev: m.get(slot), created });
    m.set(slot, value);
  }

  /** Clears the account's storage: earlier slot writes are dropped, unwritten slots read as zero. */
  wipe(addr: string): void {
    if (this.marks.length > 0)
      this.log.push({ kind: "wipe", addr, wasWiped: this.wiped.has(addr), prevSlots: this.slots.get(addr) });
    this.wiped.add(addr);
    this.slots.delete(addr);
  }

  /** Records how to undo a change the owner keeps outside these maps, reverted in order with them. */
  onRevert(undo: () => void): void {
    if (this.marks.length > 0) this.log.push({ kind: "other", undo });
  }

  checkpoint(): void {
    this.marks.push(this.log.length);
  }

  commit(): void {
    this.marks.pop();
    if (this.marks.length === 0) this.log.length = 0;
  }

  revert(): void {
    const mark = this.marks.pop() ?? 0;
    for (let i = this.log.length - 1; i >= mark; i--) {
      const e = this.log[i] as Undo<A>;
      if (e.kind === "account") {
        if (e.prev === undefined) this.accounts.delete(e.addr);
        else this.accounts.set(e.addr, e.prev);
      } else if (e.kind === "slot") {
        const m = this.slots.get(e.addr);
        if (e.prev === undefined) m?.delete(e.slot);
        else if (m) m.set(e.slot, e.prev);
        else this.slots.set(e.addr, new Map([[e.slot, e.prev]]));
        // The write that made the address's slot map takes the map away again: an address with
        // an empty map would still count as touched (state-root shard tasks, writes).
        if (e.created) this.slots.delete(e.addr);
      } else if (e.kind === "wipe") {
        if (!e.wasWiped) this.wiped.delete(e.addr);
        if (e.prevSlots) this.slots.set(e.addr, e.prevSlots);
        else this.slots.delete(e.addr);
      } else {
        e.undo();
      }
    }
    this.log.length = mark;
  }
}
