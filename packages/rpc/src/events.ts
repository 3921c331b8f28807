/**
 * Fans backend events out to poll filters (eth_newFilter & co.) and WebSocket
 * subscriptions. Listens to the backend once; formats each event at most once,
 * and only when somebody is interested.
 */
import { randomBytes } from "node:crypto";
import type { Block } from "@ethereumjs/block";
import { bytesToHex } from "@meridian/primitives";
import type { BlockSelector, RpcBackend, RpcLog } from "./backend.ts";
import { formatHeader, formatLog, type Hex, type RpcLogJson } from "./format.ts";
import type { FilterCriteria } from "./params.ts";

/** Which cap refused something (a label of meridian_rpc_limit_rejections_total). */
export type RpcLimit =
  | "filters"
  | "filters_per_connection"
  | "subscriptions_per_connection"
  | "ws_queue"
  | "batch"
  | "proof_keys";

export const DEFAULT_MAX_FILTERS = 10_000;
export const DEFAULT_MAX_FILTERS_PER_CONNECTION = 1_000;
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 1_000;
export const DEFAULT_FILTER_MAX_ITEMS = 10_000;

/** Precomputed, hex-keyed form of a log filter for cheap matching. */
export type LogMatcher = {
  addresses: Set<string> | null;
  topics: (Set<string> | null)[];
  fromBlock: bigint | undefined;
  toBlock: bigint | undefined;
  blockHash: string | undefined;
};

function explicitNumber(sel: BlockSelector | undefined): bigint | undefined {
  return sel !== undefined && "number" in sel ? sel.number : undefined;
}

export function toMatcher(crit: FilterCriteria): LogMatcher {
  return {
    addresses: crit.addresses.length > 0 ? new Set(crit.addresses.map(bytesToHex)) : null,
    topics: crit.topics.map((alts) => (alts === null ? null : new Set(alts.map(bytesToHex)))),
    fromBlock: explicitNumber(crit.fromBlock),
    toBlock: explicitNumber(crit.toBlock),
    blockHash: crit.blockHash ? bytesToHex(crit.blockHash) : undefined,
  };
}

/** A log with its hex fields computed once for matching, and its JSON once for output. */
class LogEntry {
  readonly log: RpcLog;
  readonly address: string;
  readonly topics: string[];
  private json: RpcLogJson | undefined;
  private text: string | undefined;
  constructor(log: RpcLog) {
    this.log = log;
    this.address = bytesToHex(log.address);
    this.topics = log.topics.map(bytesToHex);
  }
  get formatted(): RpcLogJson {
    this.json ??= formatLog(this.log);
    return this.json;
  }
  get serialized(): string {
    this.text ??= JSON.stringify(this.formatted);
    return this.text;
  }
}

function matches(m: LogMatcher, e: LogEntry): boolean {
  if (m.addresses !== null && !m.addresses.has(e.address)) return false;
  const n = e.log.blockNumber;
  if (m.fromBlock !== undefined && n < m.fromBlock) return false;
  if (m.toBlock !== undefined && n > m.toBlock) return false;
  if (m.blockHash !== undefined && bytesToHex(e.log.blockHash) !== m.blockHash) return false;
  const t = m.topics;
  if (t.length > e.topics.length) return false;
  for (let i = 0; i < t.length; i++) {
    const alts = t[i];
    if (alts !== null && !alts.has(e.topics[i])) return false;
  }
  return true;
}

export function newId(): Hex {
  return `0x${randomBytes(16).toString("hex")}`;
}

/** `owner` is the connection (HTTP socket or WebSocket session) that created the filter, for its cap. */
type FilterBase = { lastPoll: number; owner?: object };
export type PollFilter =
  | (FilterBase & { kind: "block"; items: Hex[] })
  | (FilterBase & { kind: "pending"; items: Hex[] })
  | (FilterBase & { kind: "logs"; criteria: FilterCriteria; matcher: LogMatcher; items: RpcLogJson[] });

export type SubscriptionKind = "newHeads" | "logs" | "newPendingTransactions";

/** A WebSocket subscription. Notifications wait in `backlog` until the subscribe response is out. */
export class Subscription {
  backlog: string[] | null = [];
  readonly id: Hex;
  readonly kind: SubscriptionKind;
  readonly matcher: LogMatcher | undefined;
  readonly fullTx: boolean;
  private readonly send: (message: string) => void;

  constructor(
    id: Hex,
    kind: SubscriptionKind,
    send: (message: string) => void,
    matcher: LogMatcher | undefined,
    fullTx: boolean,
  ) {
    this.id = id;
    this.kind = kind;
    this.send = send;
    this.matcher = matcher;
    this.fullTx = fullTx;
  }

  notify(resultJson: string): void {
    const msg = `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"${this.id}","result":${resultJson}}}`;
    if (this.backlog !== null) this.backlog.push(msg);
    else this.send(msg);
  }

  /** Called once the client has the subscription id: releases anything queued meanwhile. */
  activate(): void {
    const queued = this.backlog;
    this.backlog = null;
    if (queued) for (const msg of queued) this.send(msg);
  }
}

/**
 * Resolves a pending-transaction hash to its full JSON for `newPendingTransactions`
 * subscriptions created with fullTx = true; undefined drops the notification.
 */
export type PendingTxResolver = (hash: Uint8Array) => Promise<string | undefined>;

export class EventFanout {
  readonly filters = new Map<string, PollFilter>();
  readonly subscriptions = new Map<string, Subscription>();
  private sweepTimer: NodeJS.Timeout;

  // Wrapped so a formatting bug can never throw into the backend's emitter.
  private readonly onHead = (block: Block): void => this.guard(() => this.handleHead(block));
  private readonly onLogs = (logs: RpcLog[]): void => this.guard(() => this.handleLogs(logs));
  private readonly onPending = (hash: Uint8Array): void => this.guard(() => this.handlePending(hash));

  private readonly backend: RpcBackend;
  private readonly filterTimeoutMs: number;
  private readonly resolvePendingTx: PendingTxResolver;
  private readonly onError: (err: unknown) => void;
  private readonly maxFilters: number;
  private readonly maxFiltersPerConnection: number;
  private readonly filterMaxItems: number;
  /** Live filters per creating connection; an entry goes when its count reaches zero. */
  private readonly filtersByOwner = new Map<object, number>();

  constructor(
    backend: RpcBackend,
    filterTimeoutMs: number,
    resolvePendingTx: PendingTxResolver,
    onError: (err: unknown) => void,
    caps: { maxFilters?: number; maxFiltersPerConnection?: number; filterMaxItems?: number } = {},
  ) {
    this.maxFilters = caps.maxFilters ?? DEFAULT_MAX_FILTERS;
    this.maxFiltersPerConnection = caps.maxFiltersPerConnection ?? DEFAULT_MAX_FILTERS_PER_CONNECTION;
    this.filterMaxItems = caps.filterMaxItems ?? DEFAULT_FILTER_MAX_ITEMS;
    this.backend = backend;
    this.filterTimeoutMs = filterTimeoutMs;
    this.resolvePendingTx = resolvePendingTx;
    this.onError = onError;
    backend.on("newHead", this.onHead);
    backend.on("logs", this.onLogs);
    backend.on("pendingTransaction", this.onPending);
    const every = Math.max(10, Math.min(filterTimeoutMs, 60_000) / 2);
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  close(): void {
    clearInterval(this.sweepTimer);
    this.backend.off("newHead", this.onHead);
    this.backend.off("logs", this.onLogs);
    this.backend.off("pendingTransaction", this.onPending);
    this.filters.clear();
    this.filtersByOwner.clear();
    this.subscriptions.clear();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }

  /**
   * Installs a filter, or returns which cap refuses it (global, or per creating connection):
   * expired filters are swept first so a refusal only ever counts live ones.
   */
  addFilter(filter: PollFilter): { id: Hex } | { refused: RpcLimit; limit: number } {
    if (this.filters.size >= this.maxFilters) this.sweep();
    if (this.filters.size >= this.maxFilters) return { refused: "filters", limit: this.maxFilters };
    const owner = filter.owner;
    if (owner !== undefined && (this.filtersByOwner.get(owner) ?? 0) >= this.maxFiltersPerConnection)
      return { refused: "filters_per_connection", limit: this.maxFiltersPerConnection };
    const id = newId();
    this.filters.set(id, filter);
    if (owner !== undefined) this.filtersByOwner.set(owner, (this.filtersByOwner.get(owner) ?? 0) + 1);
    return { id };
  }

  /** Removes a filter; false if there was none with this id. */
  removeFilter(id: string): boolean {
    const f = this.filters.get(id);
    if (f === undefined) return false;
    this.filters.delete(id);
    const owner = f.owner;
    if (owner !== undefined) {
      const n = (this.filtersByOwner.get(owner) ?? 1) - 1;
      if (n <= 0) this.filtersByOwner.delete(owner);
      else this.filtersByOwner.set(owner, n);
    }
    return true;
  }

  /** A live filter, or undefined if unknown or expired (expired ones are dropped here too). */
  getFilter(id: string, now: number): PollFilter | undefined {
    const f = this.filters.get(id);
    if (f === undefined) return undefined;
    if (now - f.lastPoll > this.filterTimeoutMs) {
      this.removeFilter(id);
      return undefined;
    }
    return f;
  }

  sweep(now = Date.now()): void {
    for (const [id, f] of this.filters) if (now - f.lastPoll > this.filterTimeoutMs) this.removeFilter(id);
  }

  /**
   * Adds a change to a filter that has not been polled yet, keeping only the newest
   * `filterMaxItems`: an abandoned filter costs a bounded amount until it expires. Trimmed in
   * halves so a full filter does not pay a copy per item.
   */
  private enqueue<T>(items: T[], item: T): void {
    items.push(item);
    if (items.length >= 2 * this.filterMaxItems) items.splice(0, items.length - this.filterMaxItems);
  }

  /** Items a poll returns: at most `filterMaxItems`, the newest. */
  takeItems<T>(items: T[]): T[] {
    return items.length > this.filterMaxItems ? items.slice(items.length - this.filterMaxItems) : items;
  }

  private handleHead(block: Block): void {
    if (this.filters.size === 0 && this.subscriptions.size === 0) return;
    let hash: Hex | undefined;
    let headerJson: string | undefined;
    for (const f of this.filters.values()) {
      if (f.kind !== "block") continue;
      hash ??= bytesToHex(block.hash());
      this.enqueue(f.items, hash);
    }
    for (const s of this.subscriptions.values()) {
      if (s.kind !== "newHeads") continue;
      headerJson ??= JSON.stringify(formatHeader(block.header));
      s.notify(headerJson);
    }
  }

  private handleLogs(logs: RpcLog[]): void {
    if (logs.length === 0 || (this.filters.size === 0 && this.subscriptions.size === 0)) return;
    let entries: LogEntry[] | undefined;
    for (const f of this.filters.values()) {
      if (f.kind !== "logs") continue;
      entries ??= logs.map((l) => new LogEntry(l));
      for (const e of entries) if (matches(f.matcher, e)) this.enqueue(f.items, e.formatted);
    }
    for (const s of this.subscriptions.values()) {
      if (s.kind !== "logs" || s.matcher === undefined) continue;
      entries ??= logs.map((l) => new LogEntry(l));
      for (const e of entries) if (matches(s.matcher, e)) s.notify(e.serialized);
    }
  }

  private handlePending(hash: Uint8Array): void {
    if (this.filters.size === 0 && this.subscriptions.size === 0) return;
    let hex: Hex | undefined;
    let full: Subscription[] | undefined;
    for (const f of this.filters.values()) {
      if (f.kind !== "pending") continue;
      hex ??= bytesToHex(hash);
      this.enqueue(f.items, hex);
    }
    for (const s of this.subscriptions.values()) {
      if (s.kind !== "newPendingTransactions") continue;
      if (s.fullTx) {
        full ??= [];
        full.push(s);
      } else {
        hex ??= bytesToHex(hash);
        s.notify(`"${hex}"`);
      }
    }
    if (full) {
      const targets = full;
      this.resolvePendingTx(hash).then((json) => {
        if (json === undefined) return;
        for (const s of targets) if (this.subscriptions.has(s.id)) s.notify(json);
      }, this.onError);
    }
  }
}
