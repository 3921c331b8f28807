/**
 * Transport-free JSON-RPC 2.0 dispatch: parses a request body, validates every
 * parameter, calls the backend and serialises the reply once. HTTP and WebSocket
 * both go through here.
 */
import { performance } from "node:perf_hooks";
import type { Block } from "@ethereumjs/block";
import {
  bytesToHex,
  equalBytes,
  keccak256,
  type Logger,
  MeridianError,
  silentLogger,
  toQuantity,
} from "@meridian/primitives";
import type { BlockSelector, RpcBackend, TransactionWithLocation, TxPoolContent } from "./backend.ts";
import { invalidParams, ParamError, RpcError, RpcErrorCode, revertError, serverError } from "./errors.ts";
import {
  DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  EventFanout,
  newId,
  type PollFilter,
  type RpcLimit,
  Subscription,
  toMatcher,
} from "./events.ts";
import {
  formatBlock,
  formatFeeHistory,
  formatLog,
  formatProof,
  formatReceipt,
  formatSyncStatus,
  formatTransaction,
  type Hex,
  type RpcLogJson,
  type RpcTransactionJson,
} from "./format.ts";
import {
  type FilterCriteria,
  LATEST,
  parseAddress,
  parseBlockCount,
  parseBlockNumberOrHash,
  parseBlockNumberOrTag,
  parseBool,
  parseCallRequest,
  parseData,
  parseFilterCriteria,
  parseHash,
  parseId,
  parseIndex,
  parseRewardPercentiles,
  parseStateOverride,
  parseStorageKey,
  parseStorageKeys,
  parseTraceOptions,
} from "./params.ts";
import { RawJson } from "./raw-json.ts";

export type RpcHandlerOptions = {
  backend: RpcBackend;
  /** Most requests in one batch (default 1000). */
  batchLimit?: number;
  /** Poll filters not polled for this long are dropped (default 5 minutes). */
  filterTimeoutMs?: number;
  logger?: Logger;
  /** Metrics hook, called once per call of a known method. */
  onRequest?: (method: string, seconds: number, ok: boolean) => void;
  /** Live poll filters in all (default 10,000). */
  maxFilters?: number;
  /** Live poll filters created over one connection (default 1,000). */
  maxFiltersPerConnection?: number;
  /** Subscriptions of one WebSocket connection (default 1,000). */
  maxSubscriptionsPerConnection?: number;
  /** Unpolled changes one filter keeps, the newest (default 10,000). */
  filterMaxItems?: number;
  /** Storage keys of one eth_getProof (default 1,024, geth's limit). */
  maxProofKeys?: number;
  /** Metrics hook, called each time a cap refuses something. */
  onLimit?: (limit: RpcLimit) => void;
};

/** One WebSocket connection: owns its subscriptions and sends replies in order with notifications. */
export interface RpcSession {
  /** Handles one message and sends the reply (if any) through the session's `send`. */
  handle(body: string): Promise<void>;
  /** Drops every subscription of this session. */
  close(): void;
}

type SessionState = { send: (message: string) => void; subs: Set<string>; closed: boolean };

/** Per-call context; only WebSocket calls have one. */
type CallContext = { session: SessionState; created: Subscription[] | undefined };

type Params = readonly unknown[];
/** `owner`: the connection the call came on (for per-connection caps); undefined in-process. */
type Method = (params: Params, ctx: CallContext | undefined, owner: object | undefined) => unknown;

export const DEFAULT_BATCH_LIMIT = 1000;
export const DEFAULT_FILTER_TIMEOUT_MS = 5 * 60_000;
/** geth's maxGetProofKeys. */
export const DEFAULT_MAX_PROOF_KEYS = 1024;
const MAX_FEE_HISTORY_BLOCKS = 1024;
const EMPTY_PARAMS: Params = Object.freeze([]);

const PARSE_ERROR = errorResponse("null", RpcErrorCode.ParseError, "parse error");

function errorResponse(idJson: string, code: number, message: string, data?: string): string {
  const err = data === undefined ? { code, message } : { code, message, data };
  return `{"jsonrpc":"2.0","id":${idJson},"error":${JSON.stringify(err)}}`;
}

/** Builds the single error reply for a failure before dispatch (body too large, etc.). */
export function rpcErrorBody(code: RpcErrorCode, message: string): string {
  return errorResponse("null", code, message);
}

// ---- argument helpers: geth's messages, with the argument index ----

function arity(params: Params, max: number): void {
  if (params.length > max) throw invalidParams(`too many arguments, want at most ${max}`);
}

function parseArg<T>(i: number, v: unknown, parse: (v: unknown) => T): T {
  try {
    return parse(v);
  } catch (e) {
    if (e instanceof ParamError)
      throw invalidParams(e.bare ? e.shortMessage : `invalid argument ${i}: ${e.shortMessage}`);
    throw e;
  }
}

function req<T>(params: Params, i: number, parse: (v: unknown) => T): T {
  const v = params[i];
  if (v === undefined || v === null) throw invalidParams(`missing value for required argument ${i}`);
  return parseArg(i, v, parse);
}

function opt<T>(params: Params, i: number, parse: (v: unknown) => T): T | undefined {
  const v = params[i];
  return v === undefined || v === null ? undefined : parseArg(i, v, parse);
}

/** A method without parameters. */
function noArgs(fn: () => unknown): Method {
  return (p) => {
    arity(p, 0);
    return fn();
  };
}

function notificationsUnsupported(): RpcError {
  return new RpcError(RpcErrorCode.MethodNotFound, "notifications not supported");
}

const RPC_MODULES = Object.freeze({
  debug: "1.0",
  eth: "1.0",
  meridian: "1.0",
  net: "1.0",
  rpc: "1.0",
  txpool: "1.0",
  web3: "1.0",
});

export class RpcHandler {
  private readonly backend: RpcBackend;
  private readonly batchLimit: number;
  private readonly logger: Logger;
  private readonly onRequest: RpcHandlerOptions["onRequest"];
  private readonly methods = new Map<string, Method>();
  private readonly fanout: EventFanout;
  private readonly chainIdQuantity: Hex;
  private readonly netVersion: string;
  private readonly maxSubscriptionsPerConnection: number;
  private readonly maxProofKeys: number;
  private readonly onLimit: ((limit: RpcLimit) => void) | undefined;

  constructor(opts: RpcHandlerOptions) {
    this.maxSubscriptionsPerConnection =
      opts.maxSubscriptionsPerConnection ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION;
    this.maxProofKeys = opts.maxProofKeys ?? DEFAULT_MAX_PROOF_KEYS;
    this.onLimit = opts.onLimit;
    this.backend = opts.backend;
    this.batchLimit = opts.batchLimit ?? DEFAULT_BATCH_LIMIT;
    this.logger = (opts.logger ?? silentLogger).child({ module: "rpc" });
    this.onRequest = opts.onRequest;
    this.chainIdQuantity = toQuantity(this.backend.chainId);
    this.netVersion = this.backend.chainId.toString(10);
    this.fanout = new EventFanout(
      this.backend,
      opts.filterTimeoutMs ?? DEFAULT_FILTER_TIMEOUT_MS,
      (hash) => this.pendingTxJson(hash),
      (err) => this.logger.warn("event delivery failed", {}, err),
      {
        maxFilters: opts.maxFilters,
        maxFiltersPerConnection: opts.maxFiltersPerConnection,
        filterMaxItems: opts.filterMaxItems,
      },
    );
    this.registerMethods();
  }

  /** Names of every method served (for docs and tests). */
  get methodNames(): string[] {
    return [...this.methods.keys()];
  }

  /**
   * Handles one HTTP-style body: a request or a batch. Undefined when nothing is to be sent back.
   * `connection` (the HTTP socket) is what per-connection caps count against.
   */
  handle(body: string, connection?: object): Promise<string | undefined> {
    return this.process(body, undefined, connection);
  }

  /** Live filters and subscriptions, for metrics. */
  stats(): { filters: number; subscriptions: number } {
    return { filters: this.fanout.filters.size, subscriptions: this.fanout.subscriptions.size };
  }

  /** Opens a WebSocket-style session; `send` receives replies and subscription notifications. */
  openSession(send: (message: string) => void): RpcSession {
    const state: SessionState = { send, subs: new Set(), closed: false };
    return {
      handle: async (body) => {
        const ctx: CallContext = { session: state, created: undefined };
        const reply = await this.process(body, ctx, state);
        if (state.closed) return;
        if (reply !== undefined) send(reply);
        // The client now knows the new subscription ids: release their notifications.
        if (ctx.created) for (const s of ctx.created) s.activate();
      },
      close: () => {
        state.closed = true;
        for (const id of state.subs) this.fanout.subscriptions.delete(id);
        state.subs.clear();
      },
    };
  }

  /** Stops listening to the backend and drops all filters and subscriptions. */
  close(): void {
    this.fanout.close();
  }

  // ---- dispatch ----

  private async process(
    body: string,
    ctx: CallContext | undefined,
    owner: object | undefined,
  ): Promise<string | undefined> {
    let msg: unknown;
    try {
      msg = JSON.parse(body);
    } catch {
      return PARSE_ERROR;
    }
    let idSources: WeakMap<object, string> | undefined;
    if (needsIdSources(msg, body)) ({ msg, idSources } = parseKeepingIdSources(body));
    if (!Array.isArray(msg)) return this.processOne(msg, ctx, owner, idSources);
    if (msg.length === 0) return errorResponse("null", RpcErrorCode.InvalidRequest, "empty batch");
    if (msg.length > this.batchLimit) {
      this.onLimit?.("batch");
      // As geth: one error in an array, carrying the id of the batch's first call.
      const first = msg.find(
        (m): m is Record<string, unknown> =>
          m !== null &&
          typeof m === "object" &&
          typeof (m as Record<string, unknown>).method === "string" &&
          Object.hasOwn(m, "id"),
      );
      const id = first === undefined ? undefined : requestIdJson(first, idSources);
      return `[${errorResponse(id ?? "null", RpcErrorCode.InvalidRequest, "batch too large")}]`;
    }
    const out: string[] = [];
    // Sequential like geth: a batch of dependent sends (nonce n, n+1) keeps its order.
    for (const m of msg) {
      const r = await this.processOne(m, ctx, owner, idSources);
      if (r !== undefined) out.push(r);
    }
    return out.length === 0 ? undefined : `[${out.join(",")}]`;
  }

  private async processOne(
    msg: unknown,
    ctx: CallContext | undefined,
    owner: object | undefined,
    idSources: WeakMap<object, string> | undefined,
  ): Promise<string | undefined> {
    if (msg === null || typeof msg !== "object" || Array.isArray(msg))
      return errorResponse("null", RpcErrorCode.InvalidRequest, "invalid request");
    const r = msg as Record<string, unknown>;
    const isNotification = r.id === undefined && !Object.hasOwn(r, "id");
    const idJson = requestIdJson(r, idSources);
    if (idJson === undefined) return errorResponse("null", RpcErrorCode.InvalidRequest, "invalid request");
    const method = r.method;
    if (r.jsonrpc !== "2.0" || typeof method !== "string")
      return errorResponse(idJson, RpcErrorCode.InvalidRequest, "invalid request");

    const fn = this.methods.get(method);
    if (fn === undefined) {
      if (isNotification) return undefined;
      return errorResponse(
        idJson,
        RpcErrorCode.MethodNotFound,
        `the method ${method} does not exist/is not available`,
      );
    }
    const rawParams = r.params;
    let params: Params;
    if (rawParams === undefined || rawParams === null) params = EMPTY_PARAMS;
    else if (Array.isArray(rawParams)) params = rawParams;
    else {
      if (isNotification) return undefined;
      return errorResponse(idJson, RpcErrorCode.InvalidParams, "non-array args");
    }

    const start = this.onRequest ? performance.now() : 0;
    let reply: string | undefined;
    let ok = true;
    try {
      const result = await fn(params, ctx, owner);
      if (!isNotification)
        reply = `{"jsonrpc":"2.0","id":${idJson},"result":${result === undefined ? "null" : result instanceof RawJson ? result.text : JSON.stringify(result)}}`;
    } catch (e) {
      ok = false;
      const err = this.toRpcError(e, method);
      if (!isNotification) reply = errorResponse(idJson, err.rpcCode, err.shortMessage, err.data);
    }
    if (this.onRequest) this.onRequest(method, (performance.now() - start) / 1000, ok);
    return reply;
  }

  private toRpcError(e: unknown, method: string): RpcError {
    if (e instanceof RpcError) return e;
    if (e instanceof MeridianError) {
      switch (e.code) {
        case "EXECUTION_REVERTED": {
          const data =
            e.details !== undefined && /^0x(?:[0-9a-fA-F]{2})*$/.test(e.details) ? e.details : "0x";
          return revertError(Buffer.from(data.slice(2), "hex"));
        }
        case "LOGS_RANGE_TOO_LARGE":
        case "LOGS_TOO_MANY_RESULTS":
          return new RpcError(RpcErrorCode.LimitExceeded, e.shortMessage);
        case "NOT_FOUND":
        case "RESOURCE_NOT_FOUND":
          return new RpcError(RpcErrorCode.ResourceNotFound, e.shortMessage);
        default:
          this.logger.debug("call failed", { method, code: e.code, error: e.shortMessage });
          return serverError(e.shortMessage);
      }
    }
    // Unknown failures are bugs: log them, do not leak internals to the client.
    this.logger.error("internal error", { method }, e);
    return new RpcError(RpcErrorCode.Internal, "internal error");
  }

  // ---- shared helpers ----

  /**
   * The block parameter of a state method. geth answers "header not found" past the
   * head; that check is synchronous so the common tag/number path stays await-free.
   */
  private stateAt(params: Params, i: number): BlockSelector {
    const at = opt(params, i, parseBlockNumberOrHash) ?? LATEST;
    this.checkNumber(at);
    return at;
  }

  private checkNumber(at: BlockSelector): void {
    if ("number" in at && at.number > this.backend.headNumber()) throw serverError("header not found");
  }

  /** Unknown (or, with requireCanonical, non-canonical) hashes fail like geth. */
  private async checkHash(at: BlockSelector): Promise<void> {
    if ("hash" in at && (await this.backend.getBlock(at)) === undefined)
      throw serverError("header for hash not found");
  }

  /** Block lookup for read methods: past the head is simply "no block" (null), without asking the backend. */
  private async blockFor(sel: BlockSelector): Promise<Block | undefined> {
    if ("number" in sel && sel.number > this.backend.headNumber()) return undefined;
    return this.backend.getBlock(sel);
  }

  private txInBlock(block: Block, index: number): RpcTransactionJson | null {
    const tx = block.transactions[index];
    if (tx === undefined) return null;
    const h = block.header;
    return formatTransaction(tx, tx.getSenderAddress().bytes, {
      hash: h.hash(),
      number: h.number,
      index,
      baseFeePerGas: h.baseFeePerGas,
      timestamp: h.timestamp,
    });
  }

  private formatLocated(t: TransactionWithLocation): RpcTransactionJson {
    return formatTransaction(t.tx, t.sender, t.block);
  }

  private async pendingTxJson(hash: Uint8Array): Promise<string | undefined> {
    const t = await this.backend.getTransaction(hash);
    return t === undefined ? undefined : JSON.stringify(this.formatLocated(t));
  }

  private async resolveNumber(sel: BlockSelector, head: bigint): Promise<bigint> {
    if ("number" in sel) return sel.number;
    if ("tag" in sel) {
      switch (sel.tag) {
        case "latest":
        case "pending":
          return head;
        case "earliest":
          return 0n;
        default: {
          const block = await this.backend.getBlock(sel);
          if (block === undefined) throw serverError(`${sel.tag} block not found`);
          return block.header.number;
        }
      }
    }
    throw invalidParams("block hash not allowed here");
  }

  private async queryLogs(crit: FilterCriteria): Promise<RpcLogJson[]> {
    const { addresses, topics } = crit;
    if (crit.blockHash !== undefined) {
      const hash = crit.blockHash;
      const block = await this.backend.getBlock({ hash });
      if (block === undefined) throw serverError("unknown block");
      const n = block.header.number;
      const logs = await this.backend.getLogs({ fromBlock: n, toBlock: n, addresses, topics });
      return logs.filter((l) => equalBytes(l.blockHash, hash)).map(formatLog);
    }
    const head = this.backend.headNumber();
    const toSel = crit.toBlock ?? LATEST;
    if ("number" in toSel && toSel.number > head)
      throw invalidParams("block range extends beyond current head block");
    const fromBlock = await this.resolveNumber(crit.fromBlock ?? LATEST, head);
    const toBlock = await this.resolveNumber(toSel, head);
    if (fromBlock > toBlock) throw invalidParams("invalid block range params");
    const logs = await this.backend.getLogs({ fromBlock, toBlock, addresses, topics });
    return logs.map(formatLog);
  }

  private installFilter(filter: PollFilter): Hex {
    const res = this.fanout.addFilter(filter);
    if ("id" in res) return res.id;
    this.onLimit?.(res.refused);
    const scope = res.refused === "filters" ? "" : " on this connection";
    throw new RpcError(RpcErrorCode.LimitExceeded, `too many filters${scope} (limit ${res.limit})`);
  }

  private filterOrThrow(id: string): PollFilter {
    const f = this.fanout.getFilter(id, Date.now());
    if (f === undefined) throw serverError("filter not found");
    return f;
  }

  // ---- method table ----

  private registerMethods(): void {
    const b = this.backend;
    const m = this.methods;
    const q = toQuantity;
    const hex = bytesToHex;

    // web3 / net / rpc
    m.set(
      "web3_clientVersion",
      noArgs(() => b.clientVersion),
    );
    m.set("web3_sha3", (p) => {
      arity(p, 1);
      return hex(keccak256(req(p, 0, parseData)));
    });
    m.set(
      "net_version",
      noArgs(() => this.netVersion),
    );
    m.set(
      "net_listening",
      noArgs(() => true),
    );
    m.set(
      "net_peerCount",
      noArgs(() => q(b.peerCount())),
    );
    m.set(
      "rpc_modules",
      noArgs(() => RPC_MODULES),
    );

    // chain state
    m.set(
      "eth_chainId",
      noArgs(() => this.chainIdQuantity),
    );
    m.set(
      "eth_syncing",
      noArgs(() => formatSyncStatus(b.syncing())),
    );
    m.set(
      "eth_blockNumber",
      noArgs(() => q(b.headNumber())),
    );
    m.set(
      "eth_accounts",
      noArgs(() => b.accounts().map(hex)),
    );
    // (address, block) account reads share parsing and EIP-1898 hash checks.
    const accountRead =
      <T>(read: (address: Uint8Array, at: BlockSelector) => Promise<T>, format: (v: T) => unknown) =>
      async (p: Params) => {
        arity(p, 2);
        const address = req(p, 0, parseAddress);
        const at = this.stateAt(p, 1);
        if ("hash" in at) await this.checkHash(at);
        return format(await read(address, at));
      };
    m.set(
      "eth_getBalance",
      accountRead((a, at) => b.getBalance(a, at), q),
    );
    m.set(
      "eth_getTransactionCount",
      accountRead((a, at) => b.getTransactionCount(a, at), q),
    );
    m.set(
      "eth_getCode",
      accountRead((a, at) => b.getCode(a, at), hex),
    );
    m.set("eth_getStorageAt", async (p) => {
      arity(p, 3);
      const address = req(p, 0, parseAddress);
      const slot = req(p, 1, parseStorageKey);
      const at = this.stateAt(p, 2);
      if ("hash" in at) await this.checkHash(at);
      const value = await b.getStorageAt(address, slot, at);
      return hex(leftPad32(value));
    });
    m.set("eth_getProof", async (p) => {
      arity(p, 3);
      const address = req(p, 0, parseAddress);
      // Counted before any key is parsed: 100,000 keys used to take 26 s.
      const requested = Array.isArray(p[1]) ? p[1].length : 0;
      if (requested > this.maxProofKeys) {
        this.onLimit?.("proof_keys");
        throw invalidParams(`too many storage keys requested (max ${this.maxProofKeys}, got ${requested})`);
      }
      const slots = req(p, 1, parseStorageKeys);
      const at = this.stateAt(p, 2);
      if ("hash" in at) await this.checkHash(at);
      return formatProof(await b.getProof(address, slots, at));
    });

    // execution
    m.set("eth_call", async (p) => {
      arity(p, 3);
      const call = req(p, 0, (v) => parseCallRequest(v, b.chainId));
      const at = opt(p, 1, parseBlockNumberOrHash) ?? LATEST;
      const overrides = opt(p, 2, parseStateOverride);
      this.checkNumber(at);
      if ("hash" in at) await this.checkHash(at);
      const res = await b.call(call, at, overrides);
      if (res.error !== undefined) {
        if (res.error.kind === "revert") throw revertError(res.returnData);
        throw serverError(res.error.message);
      }
      return hex(res.returnData);
    });
    m.set("eth_estimateGas", async (p) => {
      arity(p, 3);
      const call = req(p, 0, (v) => parseCallRequest(v, b.chainId));
      const at = opt(p, 1, parseBlockNumberOrHash) ?? LATEST;
      const overrides = opt(p, 2, parseStateOverride);
      this.checkNumber(at);
      if ("hash" in at) await this.checkHash(at);
      return q(await b.estimateGas(call, at, overrides));
    });
    m.set("eth_createAccessList", async (p) => {
      arity(p, 2);
      const call = req(p, 0, (v) => parseCallRequest(v, b.chainId));
      const at = this.stateAt(p, 1);
      if ("hash" in at) await this.checkHash(at);
      const res = await b.createAccessList(call, at);
      const accessList = res.accessList.map((e) => ({
        address: hex(e.address),
        storageKeys: e.storageKeys.map(hex),
      }));
      return res.error === undefined
        ? { accessList, gasUsed: q(res.gasUsed) }
        : { accessList, error: res.error, gasUsed: q(res.gasUsed) };
    });

    // fees
    m.set(
      "eth_gasPrice",
      noArgs(async () => q(await b.gasPrice())),
    );
    m.set(
      "eth_maxPriorityFeePerGas",
      noArgs(async () => q(await b.maxPriorityFeePerGas())),
    );
    m.set(
      "eth_blobBaseFee",
      noArgs(async () => q(await b.blobBaseFee())),
    );
    m.set("eth_feeHistory", async (p) => {
      arity(p, 3);
      const count = req(p, 0, parseBlockCount);
      const newest = req(p, 1, parseBlockNumberOrTag);
      const percentiles = opt(p, 2, parseRewardPercentiles);
      if ("number" in newest) {
        const head = b.headNumber();
        if (newest.number > head)
          throw serverError(`request beyond head block: requested ${newest.number}, head ${head}`);
      }
      if (count === 0) {
        const empty = {
          oldestBlock: "0x0",
          baseFeePerGas: [],
          gasUsedRatio: [],
          baseFeePerBlobGas: [],
          blobGasUsedRatio: [],
        };
        return percentiles === undefined ? empty : { ...empty, reward: [] };
      }
      // geth caps silently rather than failing.
      const blocks = Math.min(count, MAX_FEE_HISTORY_BLOCKS);
      return formatFeeHistory(await b.feeHistory(blocks, newest, percentiles));
    });

    // transactions
    m.set("eth_sendRawTransaction", async (p) => {
      arity(p, 1);
      return hex(await b.sendRawTransaction(req(p, 0, parseData)));
    });
    m.set("eth_getTransactionByHash", async (p) => {
      arity(p, 1);
      const t = await b.getTransaction(req(p, 0, parseHash));
      return t === undefined ? null : this.formatLocated(t);
    });
    m.set("eth_getTransactionByBlockHashAndIndex", async (p) => {
      arity(p, 2);
      const hash = req(p, 0, parseHash);
      const index = req(p, 1, parseIndex);
      const block = await b.getBlock({ hash });
      return block === undefined ? null : this.txInBlock(block, index);
    });
    m.set("eth_getTransactionByBlockNumberAndIndex", async (p) => {
      arity(p, 2);
      const sel = req(p, 0, parseBlockNumberOrTag);
      const index = req(p, 1, parseIndex);
      const block = await this.blockFor(sel);
      return block === undefined ? null : this.txInBlock(block, index);
    });
    m.set("eth_getTransactionReceipt", async (p) => {
      arity(p, 1);
      const r = await b.getTransactionReceipt(req(p, 0, parseHash));
      return r === undefined ? null : formatReceipt(r);
    });

    // blocks
    m.set("eth_getBlockByNumber", async (p) => {
      arity(p, 2);
      const sel = req(p, 0, parseBlockNumberOrTag);
      const full = opt(p, 1, parseBool) ?? false;
      const block = await this.blockFor(sel);
      return block === undefined ? null : formatBlock(block, full);
    });
    m.set("eth_getBlockByHash", async (p) => {
      arity(p, 2);
      const hash = req(p, 0, parseHash);
      const full = opt(p, 1, parseBool) ?? false;
      const block = await b.getBlock({ hash });
      return block === undefined ? null : formatBlock(block, full);
    });
    m.set("eth_getBlockReceipts", async (p) => {
      arity(p, 1);
      const block = await this.blockFor(req(p, 0, parseBlockNumberOrHash));
      if (block === undefined) return null;
      const receipts = await b.getReceipts(block.hash());
      return receipts === undefined ? null : receipts.map(formatReceipt);
    });
    m.set("eth_getBlockTransactionCountByNumber", async (p) => {
      arity(p, 1);
      const block = await this.blockFor(req(p, 0, parseBlockNumberOrTag));
      return block === undefined ? null : q(block.transactions.length);
    });
    m.set("eth_getBlockTransactionCountByHash", async (p) => {
      arity(p, 1);
      const block = await b.getBlock({ hash: req(p, 0, parseHash) });
      return block === undefined ? null : q(block.transactions.length);
    });
    m.set("eth_getUncleCountByBlockNumber", async (p) => {
      arity(p, 1);
      const block = await this.blockFor(req(p, 0, parseBlockNumberOrTag));
      return block === undefined ? null : q(block.uncleHeaders.length);
    });
    m.set("eth_getUncleCountByBlockHash", async (p) => {
      arity(p, 1);
      const block = await b.getBlock({ hash: req(p, 0, parseHash) });
      return block === undefined ? null : q(block.uncleHeaders.length);
    });
    // No uncles under BFT: validate and answer null.
    m.set("eth_getUncleByBlockNumberAndIndex", (p) => {
      arity(p, 2);
      req(p, 0, parseBlockNumberOrTag);
      req(p, 1, parseIndex);
      return null;
    });
    m.set("eth_getUncleByBlockHashAndIndex", (p) => {
      arity(p, 2);
      req(p, 0, parseHash);
      req(p, 1, parseIndex);
      return null;
    });

    // logs and poll filters
    m.set("eth_getLogs", (p) => {
      arity(p, 1);
      return this.queryLogs(req(p, 0, parseFilterCriteria));
    });
    m.set("eth_newFilter", (p, _ctx, owner) => {
      arity(p, 1);
      const criteria = req(p, 0, parseFilterCriteria);
      return this.installFilter({
        kind: "logs",
        criteria,
        matcher: toMatcher(criteria),
        items: [],
        lastPoll: Date.now(),
        owner,
      });
    });
    m.set("eth_newBlockFilter", (p, _ctx, owner) => {
      arity(p, 0);
      return this.installFilter({ kind: "block", items: [], lastPoll: Date.now(), owner });
    });
    m.set("eth_newPendingTransactionFilter", (p, _ctx, owner) => {
      arity(p, 0);
      return this.installFilter({ kind: "pending", items: [], lastPoll: Date.now(), owner });
    });
    m.set("eth_getFilterChanges", (p) => {
      arity(p, 1);
      const f = this.filterOrThrow(req(p, 0, parseId));
      f.lastPoll = Date.now();
      const items = f.items;
      f.items = [];
      return this.fanout.takeItems<unknown>(items);
    });
    m.set("eth_getFilterLogs", (p) => {
      arity(p, 1);
      const f = this.filterOrThrow(req(p, 0, parseId));
      if (f.kind !== "logs") throw serverError("filter not found");
      f.lastPoll = Date.now();
      return this.queryLogs(f.criteria);
    });
    m.set("eth_uninstallFilter", (p) => {
      arity(p, 1);
      return this.fanout.removeFilter(req(p, 0, parseId));
    });

    // subscriptions (WebSocket only)
    m.set("eth_subscribe", (p, ctx) => {
      if (ctx === undefined) throw notificationsUnsupported();
      return this.subscribe(p, ctx);
    });
    m.set("eth_unsubscribe", (p, ctx) => {
      if (ctx === undefined) throw notificationsUnsupported();
      arity(p, 1);
      const id = req(p, 0, parseId);
      if (!ctx.session.subs.delete(id)) throw serverError("subscription not found");
      this.fanout.subscriptions.delete(id);
      return true;
    });

    // txpool
    m.set("txpool_status", (p) => {
      arity(p, 0);
      const s = b.txpoolStatus();
      return { pending: q(s.pending), queued: q(s.queued) };
    });
    m.set("txpool_content", (p) => {
      arity(p, 0);
      const c = b.txpoolContent();
      return { pending: this.formatPool(c.pending), queued: this.formatPool(c.queued) };
    });

    // debug / node
    m.set("debug_traceTransaction", async (p) => {
      arity(p, 2);
      const hash = req(p, 0, parseHash);
      const opts = opt(p, 1, parseTraceOptions) ?? {};
      if ((await b.getTransaction(hash)) === undefined) throw serverError("transaction not found");
      return b.traceTransaction(hash, opts);
    });
    const traceBlock = b.traceBlock?.bind(b);
    if (traceBlock) {
      m.set("debug_traceBlockByNumber", async (p) => {
        arity(p, 2);
        const at = req(p, 0, parseBlockNumberOrTag);
        const opts = opt(p, 1, parseTraceOptions) ?? {};
        this.checkNumber(at);
        return traceBlock(at, opts);
      });
      m.set("debug_traceBlockByHash", async (p) => {
        arity(p, 2);
        const at = { hash: req(p, 0, parseHash) };
        const opts = opt(p, 1, parseTraceOptions) ?? {};
        await this.checkHash(at);
        return traceBlock(at, opts);
      });
    }
    const traceCall = b.traceCall?.bind(b);
    if (traceCall) {
      m.set("debug_traceCall", async (p) => {
        arity(p, 3);
        const call = req(p, 0, (v) => parseCallRequest(v, b.chainId));
        const at = opt(p, 1, parseBlockNumberOrHash) ?? LATEST;
        const opts = opt(p, 2, parseTraceOptions) ?? {};
        this.checkNumber(at);
        if ("hash" in at) await this.checkHash(at);
        return traceCall(call, at, opts);
      });
    }
    m.set(
      "meridian_nodeInfo",
      noArgs(() => b.nodeStatus()),
    );
    m.set(
      "meridian_status",
      noArgs(() => b.nodeStatus()),
    );
    const chainConfig = b.chainConfig?.bind(b);
    if (chainConfig) m.set("eth_config", noArgs(chainConfig));
    // Consensus data by block (default latest); null for a block not (yet) committed.
    const validatorsOf = b.validatorsOf?.bind(b);
    if (validatorsOf)
      m.set("meridian_getValidators", async (p) => {
        arity(p, 1);
        const block = await this.blockFor(opt(p, 0, parseBlockNumberOrTag) ?? { tag: "latest" });
        return block === undefined ? null : validatorsOf(block);
      });
    const commitOf = b.commitOf?.bind(b);
    if (commitOf)
      m.set("meridian_getCommit", async (p) => {
        arity(p, 1);
        const block = await this.blockFor(opt(p, 0, parseBlockNumberOrTag) ?? { tag: "latest" });
        return block === undefined ? null : commitOf(block);
      });
  }

  private formatPool(pool: TxPoolContent["pending"]): Record<string, Record<string, RpcTransactionJson>> {
    const out: Record<string, Record<string, RpcTransactionJson>> = {};
    for (const [sender, byNonce] of pool) {
      const from = sender.toLowerCase();
      const senderBytes = Buffer.from(from.slice(2), "hex");
      const txs: Record<string, RpcTransactionJson> = {};
      for (const [nonce, tx] of byNonce) txs[nonce] = formatTransaction(tx, senderBytes, undefined);
      out[from] = txs;
    }
    return out;
  }

  private subscribe(p: Params, ctx: CallContext): Hex {
    const kind = req(p, 0, (v) => {
      if (typeof v !== "string") throw new ParamError("subscription name must be a string");
      return v;
    });
    const session = ctx.session;
    if (session.subs.size >= this.maxSubscriptionsPerConnection) {
      this.onLimit?.("subscriptions_per_connection");
      throw new RpcError(
        RpcErrorCode.LimitExceeded,
        `too many subscriptions on this connection (limit ${this.maxSubscriptionsPerConnection})`,
      );
    }
    let sub: Subscription;
    const id = newId();
    switch (kind) {
      case "newHeads":
        arity(p, 1);
        sub = new Subscription(id, kind, session.send, undefined, false);
        break;
      case "logs": {
        arity(p, 2);
        const criteria = opt(p, 1, parseFilterCriteria) ?? { addresses: [], topics: [] };
        sub = new Subscription(id, kind, session.send, toMatcher(criteria), false);
        break;
      }
      case "newPendingTransactions": {
        arity(p, 2);
        const full = opt(p, 1, parseBool) ?? false;
        sub = new Subscription(id, kind, session.send, undefined, full);
        break;
      }
      default:
        throw new RpcError(
          RpcErrorCode.MethodNotFound,
          `no ${JSON.stringify(kind)} subscription in eth namespace`,
        );
    }
    session.subs.add(id);
    this.fanout.subscriptions.set(id, sub);
    ctx.created ??= [];
    ctx.created.push(sub);
    return id;
  }
}

/** Whether an id's JSON text may differ from what JSON.stringify(JSON.parse(it)) gives back. */
function needsIdSources(msg: unknown, body: string): boolean {
  const reqs = Array.isArray(msg) ? msg : [msg];
  for (const m of reqs) {
    if (m === null || typeof m !== "object") continue;
    const id = (m as Record<string, unknown>).id;
    // Cheap common case: a small integer written plainly ("id":7). Anything else (2^53+1, 1e400,
    // 1.0, -0, spaces) is re-read with its source text.
    if (typeof id === "number" && !(Number.isSafeInteger(id) && !Object.is(id, -0) && plainIdIn(body, id)))
      return true;
  }
  return false;
}

/** Whether `body` holds `"id":<id>` written plainly, with no fraction or exponent after it. */
function plainIdIn(body: string, id: number): boolean {
  const needle = `"id":${id}`;
  for (let at = body.indexOf(needle); at !== -1; at = body.indexOf(needle, at + 1)) {
    const next = body.charCodeAt(at + needle.length);
    // Not a digit, ".", "e" or "E": the number ends here.
    if (!(next >= 48 && next <= 57) && next !== 46 && next !== 101 && next !== 69) return true;
  }
  return false;
}

/** `body` parsed again, with the exact source text of the numeric `id` of each object in it. */
function parseKeepingIdSources(body: string): { msg: unknown; idSources: WeakMap<object, string> } {
  const idSources = new WeakMap<object, string>();
  const msg: unknown = JSON.parse(
    body,
    function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
      if (
        key === "id" &&
        typeof value === "number" &&
        context?.source !== undefined &&
        typeof this === "object" &&
        this !== null
      )
        idSources.set(this, context.source);
      return value;
    },
  );
  return { msg, idSources };
}

/** The reply's id as JSON text (a number exactly as sent), or undefined when the id is not a valid one. */
function requestIdJson(
  r: Record<string, unknown>,
  idSources: WeakMap<object, string> | undefined,
): string | undefined {
  const id = r.id;
  if (typeof id === "number") return idSources?.get(r) ?? String(id);
  if (typeof id === "string") return JSON.stringify(id);
  if (id === null || id === undefined) return "null";
  return undefined;
}

function leftPad32(b: Uint8Array): Uint8Array {
  if (b.length >= 32) return b;
  const out = new Uint8Array(32);
  out.set(b, 32 - b.length);
  return out;
}
