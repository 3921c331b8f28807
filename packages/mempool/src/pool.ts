import type { TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex, type Logger, silentLogger } from "@meridian/primitives";
import { TxErrors, TxRejectedError } from "./errors.ts";
import { effectiveTip, type PendingIterator, PriceAndNonceIterator, type PricedTx } from "./iterator.ts";
import type {
  AddResult,
  PendingListener,
  PooledTx,
  PoolStateView,
  TxPoolContent,
  TxPoolOptions,
  TxPoolStatus,
} from "./types.ts";
import { MAX_TX_GAS_EIP7825, type PreparedTx, validateStateless } from "./validate.ts";

const DEFAULTS = {
  priceLimit: 1n,
  priceBump: 10,
  accountSlots: 16,
  globalSlots: 5120,
  accountQueue: 64,
  globalQueue: 1024,
  maxTxBytes: 128 * 1024,
} as const;

type Entry = PricedTx & {
  readonly hashHex: string;
  readonly nonce: bigint;
  readonly gasLimit: bigint;
  readonly cost: bigint;
  readonly account: Account;
  /** Executable now (part of the sender's contiguous run from its state nonce). */
  pending: boolean;
};

/** One sender's txs. Invariant: pending entries are exactly nonces [base, base + pendingCount). */
class Account {
  readonly txs = new Map<bigint, Entry>();
  pendingCount = 0;
  queuedCount = 0;

  readonly address: Uint8Array;
  readonly hex: string;
  base: bigint;

  constructor(address: Uint8Array, hex: string, base: bigint) {
    this.address = address;
    this.hex = hex;
    this.base = base;
  }

  get nextPending(): bigint {
    return this.base + BigInt(this.pendingCount);
  }

  pendingTail(): Entry | undefined {
    return this.pendingCount === 0 ? undefined : this.txs.get(this.nextPending - 1n);
  }

  queuedTail(): Entry | undefined {
    let tail: Entry | undefined;
    for (const e of this.txs.values())
      if (!e.pending && (tail === undefined || e.nonce > tail.nonce)) tail = e;
    return tail;
  }

  pendingList(): Entry[] {
    const out: Entry[] = [];
    for (let n = this.base; n < this.nextPending; n++) out.push(this.txs.get(n)!);
    return out;
  }

  /** Queued txs that would continue the pending run, in nonce order. */
  promotable(): Entry[] {
    const out: Entry[] = [];
    for (let n = this.nextPending; ; n++) {
      const e = this.txs.get(n);
      if (e === undefined) return out;
      out.push(e);
    }
  }

  sorted(): Entry[] {
    return [...this.txs.values()].sort((a, b) => (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0));
  }
}

/**
 * The transaction pool: geth-compatible admission, per-sender pending/queued nonce lists,
 * price-based eviction, and a price-and-nonce ordered view for block building.
 */
export class TxPool {
  private readonly opts: Required<Omit<TxPoolOptions, "logger">>;
  private readonly log: Logger;
  private readonly byHash = new Map<string, Entry>();
  private readonly accounts = new Map<string, Account>();
  private readonly listeners = new Set<PendingListener>();
  private pendingTotal = 0;
  private queuedTotal = 0;
  private seq = 0;
  /** Serialises state reads + mutation so concurrent adds cannot both pass the same checks. */
  private lock: Promise<unknown> = Promise.resolve();

  private readonly state: PoolStateView;
  /** Where admitted transactions are written before their admission resolves (the journal). */
  private journal: { append(raw: Uint8Array): void } | undefined;

  constructor(state: PoolStateView, opts: TxPoolOptions) {
    this.state = state;
    const { logger, ...rest } = opts;
    this.opts = {
      ...rest,
      priceLimit: rest.priceLimit ?? DEFAULTS.priceLimit,
      priceBump: rest.priceBump ?? DEFAULTS.priceBump,
      accountSlots: rest.accountSlots ?? DEFAULTS.accountSlots,
      globalSlots: rest.globalSlots ?? DEFAULTS.globalSlots,
      accountQueue: rest.accountQueue ?? DEFAULTS.accountQueue,
      globalQueue: rest.globalQueue ?? DEFAULTS.globalQueue,
      maxTxBytes: rest.maxTxBytes ?? DEFAULTS.maxTxBytes,
      nextBlockCommon: rest.nextBlockCommon ?? (() => rest.common),
    };
    this.log = (logger ?? silentLogger).child({ module: "mempool" });
  }

  /**
   * Decodes and admits a raw signed tx; returns its hash. Throws TxRejectedError (code
   * "TX_REJECTED", shortMessage = the geth string) and changes nothing on rejection.
   */
  addRaw(raw: Uint8Array): Promise<AddResult> {
    return this.admit(raw);
  }

  /** Admits a decoded tx; pass `sender` when it was already recovered to skip ecrecover. */
  add(tx: TypedTransaction, sender?: Uint8Array): Promise<AddResult> {
    let raw: Uint8Array;
    try {
      raw = tx.serialize();
    } catch (cause) {
      return Promise.reject(
        new TxRejectedError(TxErrors.invalidSender, "cannot serialize transaction", cause),
      );
    }
    return this.admit(raw, tx, sender);
  }

  /**
   * From now on, every admitted transaction is handed to `sink.append` (synchronously, before
   * `add`/`addRaw` resolve). Set after the journal's own transactions were re-admitted.
   */
  journalTo(sink: { append(raw: Uint8Array): void } | undefined): void {
    this.journal = sink;
  }

  /** Every pooled transaction's bytes, each sender's in nonce order (for the journal's rewrite). */
  rawTransactions(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const acct of this.accounts.values())
      for (const e of acct.sorted()) if (e.pooled.raw !== undefined) out.push(e.pooled.raw);
    return out;
  }

  get(hash: Uint8Array): PooledTx | undefined {
    return this.byHash.get(bytesToHex(hash))?.pooled;
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(bytesToHex(hash));
  }

  /** Next nonce counting pending txs (eth_getTransactionCount "pending"). */
  async pendingNonce(address: Uint8Array): Promise<bigint> {
    const { nonce } = await this.state.getAccount(address);
    const acct = this.accounts.get(bytesToHex(address));
    if (acct === undefined || acct.pendingCount === 0) return nonce;
    // The head may have moved past our view before onBlockCommitted ran.
    if (nonce > acct.nextPending) return nonce;
    return acct.nextPending;
  }

  status(): TxPoolStatus {
    return { pending: this.pendingTotal, queued: this.queuedTotal };
  }

  content(): TxPoolContent {
    const pending = new Map<string, Map<string, TypedTransaction>>();
    const queued = new Map<string, Map<string, TypedTransaction>>();
    for (const acct of this.accounts.values()) {
      for (const e of acct.sorted()) {
        const target = e.pending ? pending : queued;
        let byNonce = target.get(acct.hex);
        if (byNonce === undefined) {
          byNonce = new Map();
          target.set(acct.hex, byNonce);
        }
        byNonce.set(e.nonce.toString(10), e.pooled.tx);
      }
    }
    return { pending, queued };
  }

  /**
   * Ordered iterator for block building (geth TransactionsByPriceAndNonce): highest effective
   * tip first at `baseFee`, per-sender nonce order. A sender's run stops at its first tx whose
   * maxFee is below `baseFee`, since nothing after it can execute.
   */
  pending(baseFee: bigint): PendingIterator {
    const lists: Entry[][] = [];
    for (const acct of this.accounts.values()) {
      const list = acct.pendingList();
      const cut = list.findIndex((e) => e.maxFee < baseFee);
      lists.push(cut === -1 ? list : list.slice(0, cut));
    }
    return new PriceAndNonceIterator(lists, baseFee);
  }

  /**
   * After a block commits: drop included/stale (nonce too low), now-unaffordable and
   * over-gas-limit txs, demote what is no longer contiguous, promote queued txs that became
   * executable, then enforce the queue limits.
   */
  onBlockCommitted(includedHashes: Uint8Array[]): Promise<void> {
    return this.exclusive(async () => {
      for (const h of includedHashes) {
        const e = this.byHash.get(bytesToHex(h));
        if (e !== undefined) this.unlink(e);
      }
      const gasLimit = this.opts.blockGasLimit();
      // From the fork that brings EIP-7825 on, what was admitted above its cap can never go in.
      const txGasCap = this.opts.nextBlockCommon().isActivatedEIP(7825) ? MAX_TX_GAS_EIP7825 : undefined;
      const accounts = [...this.accounts.values()];
      const states = await Promise.all(accounts.map((a) => this.state.getAccount(a.address)));
      const wasPending = new Set<Entry>();
      for (let i = 0; i < accounts.length; i++) {
        const acct = accounts[i]!;
        const { nonce, balance } = states[i]!;
        for (const e of [...acct.txs.values()]) {
          if (e.pending) wasPending.add(e);
          const reason =
            e.nonce < nonce
              ? "nonce too low"
              : e.cost > balance
                ? "insufficient funds"
                : e.gasLimit > gasLimit
                  ? "exceeds block gas limit"
                  : txGasCap !== undefined && e.gasLimit > txGasCap
                    ? "transaction gas limit too high"
                    : undefined;
          if (reason !== undefined) {
            this.unlink(e);
            this.log.debug("dropped tx", { hash: e.hashHex, reason });
          }
        }
        acct.base = nonce;
        // Keep only the still-contiguous prefix of the old pending run; the rest is demoted.
        for (const e of acct.txs.values()) e.pending = false;
        for (let n = nonce; ; n++) {
          const e = acct.txs.get(n);
          if (e === undefined || !wasPending.has(e)) break;
          e.pending = true;
        }
      }
      this.recount();
      const promoted = this.promote([...this.accounts.values()]);
      for (const acct of this.accounts.values()) {
        while (acct.queuedCount > this.opts.accountQueue) this.drop(acct.queuedTail()!, "account queue full");
      }
      while (this.queuedTotal > this.opts.globalQueue) {
        const victim = this.cheapestTail(undefined, (a) => a.queuedTail());
        if (victim === undefined) break;
        this.drop(victim, "global queue full");
      }
      for (const e of promoted) if (this.byHash.get(e.hashHex) === e) this.emitPending(e.pooled);
    });
  }

  on(event: "pending", listener: PendingListener): void {
    if (event === "pending") this.listeners.add(listener);
  }

  off(event: "pending", listener: PendingListener): void {
    if (event === "pending") this.listeners.delete(listener);
  }

  clear(): void {
    this.byHash.clear();
    this.accounts.clear();
    this.pendingTotal = 0;
    this.queuedTotal = 0;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async admit(raw: Uint8Array, given?: TypedTransaction, sender?: Uint8Array): Promise<AddResult> {
    const p = validateStateless(
      raw,
      {
        common: this.opts.nextBlockCommon(),
        maxTxBytes: this.opts.maxTxBytes,
        priceLimit: this.opts.priceLimit,
        blockGasLimit: this.opts.blockGasLimit(),
        isKnown: (h) => this.byHash.has(h),
      },
      given,
      sender,
    );
    return this.exclusive(async () => {
      // Re-check: the same tx may have been admitted while we waited for the lock.
      if (this.byHash.has(p.hashHex)) throw new TxRejectedError(TxErrors.alreadyKnown);
      const state = await this.state.getAccount(p.sender);
      const newlyPending = this.insert(p, state);
      if (this.journal !== undefined) {
        try {
          this.journal.append(p.raw);
        } catch (err) {
          // The transaction is admitted either way; it only loses its crash protection.
          this.log.error("cannot journal transaction", { hash: p.hashHex }, err);
        }
      }
      this.log.debug("admitted tx", { hash: p.hashHex, sender: p.senderHex, nonce: p.nonce.toString() });
      for (const e of newlyPending) this.emitPending(e.pooled);
      return { hash: p.hash, sender: p.sender };
    });
  }

  /** Stateful checks (geth ValidateTransactionWithState + LegacyPool.add); mutates only once all pass. */
  private insert(p: PreparedTx, state: { nonce: bigint; balance: bigint }): Entry[] {
    const { nonce, balance } = state;
    if (p.nonce < nonce) {
      throw new TxRejectedError(TxErrors.nonceTooLow, `next nonce ${nonce}, tx nonce ${p.nonce}`);
    }
    if (balance < p.cost) {
      throw new TxRejectedError(
        TxErrors.insufficientFunds,
        `balance ${balance}, tx cost ${p.cost}, overshot ${p.cost - balance}`,
      );
    }
    let acct = this.accounts.get(p.senderHex);
    const existing = acct?.txs.get(p.nonce);
    // Like geth, pending txs already spend the balance; a replacement only adds its difference.
    let spent = 0n;
    if (acct !== undefined) for (const e of acct.pendingList()) spent += e.cost;
    const need = existing?.pending ? spent - existing.cost + p.cost : spent + p.cost;
    if (balance < need) {
      throw new TxRejectedError(
        TxErrors.insufficientFunds,
        `balance ${balance}, queued cost ${spent}, tx cost ${p.cost}, overshot ${need - balance}`,
      );
    }

    if (existing !== undefined) return this.replace(existing, p);

    // With nothing pending, the sender's run starts at the (possibly advanced) state nonce.
    const base = acct === undefined || acct.pendingCount === 0 ? nonce : acct.base;
    const executable = p.nonce === base + BigInt(acct?.pendingCount ?? 0);
    const senderPending = acct?.pendingCount ?? 0;
    let victim: Entry | undefined;
    let ownDrop: Entry | undefined;
    const probe = this.priced(p);
    if (executable) {
      if (this.pendingTotal >= this.opts.globalSlots) {
        // A sender at its guaranteed share may only take slots from senders above theirs.
        const overQuota = senderPending >= this.opts.accountSlots;
        victim = this.cheapestTail(p.senderHex, (a) =>
          !overQuota || a.pendingCount > this.opts.accountSlots ? a.pendingTail() : undefined,
        );
        this.checkVictim(probe, victim);
      }
    } else {
      if (acct !== undefined && acct.queuedCount >= this.opts.accountQueue) {
        const tail = acct.queuedTail();
        if (tail === undefined || tail.nonce < p.nonce) {
          throw new TxRejectedError(TxErrors.accountLimitExceeded, `queued ${acct.queuedCount} txs`);
        }
        ownDrop = tail;
      } else if (this.queuedTotal >= this.opts.globalQueue) {
        victim = this.cheapestTail(p.senderHex, (a) => a.queuedTail());
        this.checkVictim(probe, victim);
      }
    }

    // All checks passed: mutate.
    if (victim !== undefined) this.drop(victim, "evicted by better-priced tx");
    if (ownDrop !== undefined) this.drop(ownDrop, "account queue full");
    acct = this.accounts.get(p.senderHex);
    if (acct === undefined) {
      acct = new Account(p.sender, p.senderHex, base);
      this.accounts.set(p.senderHex, acct);
    } else if (acct.pendingCount === 0) {
      acct.base = base;
    }
    const entry = this.link(acct, p, executable);
    if (!executable) return [];
    return [entry, ...this.promote([acct])];
  }

  private replace(old: Entry, p: PreparedTx): Entry[] {
    // geth list.Add: strictly higher in both caps, and at least old * (100 + bump) / 100.
    const bump = BigInt(100 + this.opts.priceBump);
    const minFee = (old.maxFee * bump) / 100n;
    const minTip = (old.tip * bump) / 100n;
    if (p.maxFee <= old.maxFee || p.tip <= old.tip || p.maxFee < minFee || p.tip < minTip) {
      throw new TxRejectedError(
        TxErrors.replaceUnderpriced,
        `need maxFeePerGas >= ${minFee > old.maxFee ? minFee : old.maxFee + 1n} and maxPriorityFeePerGas >= ${minTip > old.tip ? minTip : old.tip + 1n}`,
      );
    }
    // Same sender and nonce: swap in place, counters are unchanged.
    const entry = this.newEntry(old.account, p, old.pending);
    this.byHash.delete(old.hashHex);
    this.byHash.set(p.hashHex, entry);
    old.account.txs.set(p.nonce, entry);
    this.log.debug("replaced tx", { old: old.hashHex, new: p.hashHex });
    return entry.pending ? [entry] : [];
  }

  private checkVictim(probe: PricedTx, victim: Entry | undefined): void {
    if (victim === undefined) throw new TxRejectedError(TxErrors.txPoolOverflow);
    // geth's priced list: a tx no better than the cheapest evictable one is "underpriced".
    if (this.priceCmp(probe, victim) <= 0) {
      throw new TxRejectedError(
        TxErrors.underpriced,
        `pool full, cheapest evictable tip ${effectiveTip(victim, this.opts.baseFee())}`,
      );
    }
  }

  /** Compares by effective tip at the next block's base fee, then fee cap, then tip cap. */
  private priceCmp(a: PricedTx, b: PricedTx): number {
    const baseFee = this.opts.baseFee();
    const ta = effectiveTip(a, baseFee);
    const tb = effectiveTip(b, baseFee);
    if (ta !== tb) return ta < tb ? -1 : 1;
    if (a.maxFee !== b.maxFee) return a.maxFee < b.maxFee ? -1 : 1;
    if (a.tip !== b.tip) return a.tip < b.tip ? -1 : 1;
    return 0;
  }

  /** Cheapest candidate tail over senders other than `exclude`; ties evict the newer tx. */
  private cheapestTail(
    exclude: string | undefined,
    pick: (a: Account) => Entry | undefined,
  ): Entry | undefined {
    let best: Entry | undefined;
    for (const acct of this.accounts.values()) {
      if (acct.hex === exclude) continue;
      const e = pick(acct);
      if (e === undefined) continue;
      if (best === undefined) {
        best = e;
        continue;
      }
      const c = this.priceCmp(e, best);
      if (c < 0 || (c === 0 && e.seq > best.seq)) best = e;
    }
    return best;
  }

  /** Moves queued txs that continue a pending run into pending, best-priced first, while slots last. */
  private promote(accounts: Account[]): Entry[] {
    const out: Entry[] = [];
    if (this.pendingTotal >= this.opts.globalSlots) return out;
    const it = new PriceAndNonceIterator(
      accounts.map((a) => a.promotable()),
      this.opts.baseFee(),
    );
    while (this.pendingTotal < this.opts.globalSlots) {
      const e = it.peekEntry();
      if (e === undefined) break;
      e.pending = true;
      e.account.pendingCount++;
      e.account.queuedCount--;
      this.pendingTotal++;
      this.queuedTotal--;
      out.push(e);
      it.shift();
    }
    return out;
  }

  private priced(p: PreparedTx): PricedTx {
    return { pooled: toPooled(p, 0), maxFee: p.maxFee, tip: p.tip, seq: this.seq + 1 };
  }

  private newEntry(acct: Account, p: PreparedTx, pending: boolean): Entry {
    return {
      pooled: toPooled(p, Date.now()),
      maxFee: p.maxFee,
      tip: p.tip,
      seq: ++this.seq,
      hashHex: p.hashHex,
      nonce: p.nonce,
      gasLimit: p.gasLimit,
      cost: p.cost,
      account: acct,
      pending,
    };
  }

  private link(acct: Account, p: PreparedTx, pending: boolean): Entry {
    const entry = this.newEntry(acct, p, pending);
    acct.txs.set(p.nonce, entry);
    this.byHash.set(p.hashHex, entry);
    if (pending) {
      acct.pendingCount++;
      this.pendingTotal++;
    } else {
      acct.queuedCount++;
      this.queuedTotal++;
    }
    return entry;
  }

  /** Removes a pending tail or any queued tx, keeping counters and the account map in step. */
  private drop(e: Entry, reason: string): void {
    this.unlink(e);
    if (e.pending) {
      e.account.pendingCount--;
      this.pendingTotal--;
    } else {
      e.account.queuedCount--;
      this.queuedTotal--;
    }
    this.log.debug("dropped tx", { hash: e.hashHex, reason });
  }

  /** Removes an entry from the indexes only; callers fix counters (or recount). */
  private unlink(e: Entry): void {
    this.byHash.delete(e.hashHex);
    e.account.txs.delete(e.nonce);
    if (e.account.txs.size === 0) this.accounts.delete(e.account.hex);
  }

  private recount(): void {
    this.pendingTotal = 0;
    this.queuedTotal = 0;
    for (const acct of this.accounts.values()) {
      acct.pendingCount = 0;
      acct.queuedCount = 0;
      for (const e of acct.txs.values()) {
        if (e.pending) acct.pendingCount++;
        else acct.queuedCount++;
      }
      this.pendingTotal += acct.pendingCount;
      this.queuedTotal += acct.queuedCount;
    }
  }

  private emitPending(tx: PooledTx): void {
    for (const listener of this.listeners) {
      try {
        listener(tx);
      } catch (err) {
        this.log.warn("pending listener failed", {}, err);
      }
    }
  }
}

function toPooled(p: PreparedTx, addedAt: number): PooledTx {
  return { tx: p.tx, sender: p.sender, hash: p.hash, raw: p.raw, addedAt };
}
