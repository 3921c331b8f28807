/**
 * Parameter parsers. Each takes one JSON value and returns the backend's raw type or
 * throws ParamError with geth's wording; the dispatcher adds "invalid argument N: ".
 */

import type { CallAuthorization } from "@meridian/primitives";
import {
  type BlockOverrides,
  type BlockSelector,
  type BlockTag,
  type CallRequest,
  type StateOverride,
  TRACER_NAMES,
  type TraceOptions,
} from "./backend.ts";
import { ParamError, serverError } from "./errors.ts";

const MAX_UINT64 = (1n << 64n) - 1n;
const MAX_INT64 = (1n << 63n) - 1n;

const HEX_BODY_RE = /^[0-9a-fA-F]*$/;
const QUANTITY_RE = /^0[xX](?:0|[1-9a-fA-F][0-9a-fA-F]*)$/;

/** Frozen tag selectors: the hot path reuses these instead of allocating. */
export const TAG_SELECTORS: Readonly<Record<BlockTag, BlockSelector>> = Object.freeze({
  latest: Object.freeze({ tag: "latest" }),
  pending: Object.freeze({ tag: "pending" }),
  safe: Object.freeze({ tag: "safe" }),
  finalized: Object.freeze({ tag: "finalized" }),
  earliest: Object.freeze({ tag: "earliest" }),
});
export const LATEST: BlockSelector = TAG_SELECTORS.latest;

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "object" ? "object" : typeof v;
}

function expectString(v: unknown, what: string): string {
  if (typeof v !== "string") throw new ParamError(`cannot unmarshal ${jsonType(v)} into ${what}`);
  return v;
}

function checkHexPrefix(s: string): void {
  if (s.length === 0) throw new ParamError("empty hex string");
  if (s.length < 2 || s[0] !== "0" || (s[1] !== "x" && s[1] !== "X"))
    throw new ParamError("hex string without 0x prefix");
}

/** Decodes validated hex digits (no prefix) straight into a fresh, unpooled Uint8Array. */
function decodeHexBody(body: string): Uint8Array {
  const out = new Uint8Array(body.length >> 1);
  if (out.length > 0) Buffer.from(out.buffer, 0, out.length).write(body, "hex");
  return out;
}

/** DATA: 0x-prefixed, even length, any size. */
export function parseData(v: unknown): Uint8Array {
  const s = expectString(v, "hex data");
  checkHexPrefix(s);
  const body = s.slice(2);
  if (body.length % 2 !== 0) throw new ParamError("hex string of odd length");
  if (!HEX_BODY_RE.test(body)) throw new ParamError("invalid hex string");
  return decodeHexBody(body);
}

function parseFixed(v: unknown, bytes: number, what: string): Uint8Array {
  const s = expectString(v, what);
  checkHexPrefix(s);
  const body = s.slice(2);
  if (!HEX_BODY_RE.test(body)) throw new ParamError("invalid hex string");
  if (body.length !== bytes * 2)
    throw new ParamError(`hex string has length ${body.length}, want ${bytes * 2} for ${what}`);
  return decodeHexBody(body);
}

export function parseAddress(v: unknown): Uint8Array {
  return parseFixed(v, 20, "address");
}

export function parseHash(v: unknown): Uint8Array {
  return parseFixed(v, 32, "hash");
}

/** QUANTITY: 0x-prefixed, no leading zeros, at most `bits` bits. */
export function parseQuantity(v: unknown, bits: 64 | 256 = 256): bigint {
  const s = expectString(v, "quantity");
  checkHexPrefix(s);
  if (s.length === 2) throw new ParamError('hex string "0x"');
  if (!QUANTITY_RE.test(s)) {
    if (!HEX_BODY_RE.test(s.slice(2))) throw new ParamError("invalid hex string");
    throw new ParamError("hex number with leading zero digits");
  }
  if (s.length - 2 > bits / 4) throw new ParamError(`hex number > ${bits} bits`);
  return BigInt(s);
}

export function parseUint64(v: unknown): bigint {
  return parseQuantity(v, 64);
}

/** A uint64 quantity that must also fit a JS number (indexes, counts). */
export function parseIndex(v: unknown): number {
  const n = parseQuantity(v, 64);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParamError("index out of range");
  return Number(n);
}

export function parseBool(v: unknown): boolean {
  if (typeof v !== "boolean") throw new ParamError(`cannot unmarshal ${jsonType(v)} into bool`);
  return v;
}

/**
 * Storage slot as geth decodes it: lenient (odd length and short keys allowed,
 * left-padded to 32 bytes) and with geth's own, unprefixed messages.
 */
export function parseStorageKey(v: unknown): Uint8Array {
  const s = expectString(v, "storage key");
  let body = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (body.length > 64)
    throw new ParamError(`storage key too long (want at most 32 bytes): ${JSON.stringify(s)}`, true);
  if (!HEX_BODY_RE.test(body)) throw new ParamError(`invalid hex in storage key: ${JSON.stringify(s)}`, true);
  if (body.length % 2 === 1) body = `0${body}`;
  const out = new Uint8Array(32);
  if (body.length > 0) Buffer.from(out.buffer, 32 - body.length / 2, body.length / 2).write(body, "hex");
  return out;
}

function isTag(s: string): s is BlockTag {
  return s === "latest" || s === "pending" || s === "safe" || s === "finalized" || s === "earliest";
}

function parseBlockNumberValue(s: string): bigint {
  const n = parseQuantity(s, 64);
  if (n > MAX_INT64) throw new ParamError("block number larger than int64");
  return n;
}

/** BlockNumberOrTag: a tag or a hex number. */
export function parseBlockNumberOrTag(v: unknown): BlockSelector {
  const s = expectString(v, "block number");
  if (isTag(s)) return TAG_SELECTORS[s];
  return { number: parseBlockNumberValue(s) };
}

/** BlockNumberOrTagOrHash, including EIP-1898 objects and a bare 32-byte hash. */
export function parseBlockNumberOrHash(v: unknown): BlockSelector {
  if (typeof v === "string") {
    if (isTag(v)) return TAG_SELECTORS[v];
    if (v.length === 66) return { hash: parseHash(v) };
    return { number: parseBlockNumberValue(v) };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ParamError(`cannot unmarshal ${jsonType(v)} into block number or hash`);
  const o = v as Record<string, unknown>;
  const hasHash = o.blockHash !== undefined && o.blockHash !== null;
  const hasNumber = o.blockNumber !== undefined && o.blockNumber !== null;
  if (hasHash && hasNumber)
    throw new ParamError("cannot specify both BlockHash and BlockNumber, choose one or the other");
  if (hasHash) {
    const hash = parseHash(o.blockHash);
    if (o.requireCanonical === undefined || o.requireCanonical === null) return { hash };
    if (typeof o.requireCanonical !== "boolean") throw new ParamError("requireCanonical must be a boolean");
    return { hash, requireCanonical: o.requireCanonical };
  }
  if (hasNumber) {
    if (o.requireCanonical !== undefined)
      throw new ParamError("requireCanonical is only allowed together with blockHash");
    return parseBlockNumberOrTag(o.blockNumber);
  }
  throw new ParamError("either blockHash or blockNumber must be specified");
}

function expectObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ParamError(`cannot unmarshal ${jsonType(v)} into ${what}`);
  return v as Record<string, unknown>;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** Runs `parse` and prefixes failures with the field name. */
function named<T>(name: string, v: unknown, parse: (v: unknown) => T): T {
  try {
    return parse(v);
  } catch (e) {
    if (e instanceof ParamError && !e.bare) throw new ParamError(`${name}: ${e.shortMessage}`);
    throw e;
  }
}

/** An optional object member: absent and null both mean "not given". */
function field<T>(o: Record<string, unknown>, name: string, parse: (v: unknown) => T): T | undefined {
  const v = o[name];
  return present(v) ? named(name, v, parse) : undefined;
}

export function parseAccessList(v: unknown): { address: Uint8Array; storageKeys: Uint8Array[] }[] {
  if (!Array.isArray(v)) throw new ParamError(`cannot unmarshal ${jsonType(v)} into access list`);
  return v.map((item) => {
    const o = expectObject(item, "access list entry");
    const address = parseAddress(o.address);
    const keys = o.storageKeys;
    if (keys === undefined || keys === null) return { address, storageKeys: [] };
    if (!Array.isArray(keys)) throw new ParamError(`cannot unmarshal ${jsonType(keys)} into storage keys`);
    return { address, storageKeys: keys.map(parseHash) };
  });
}

/** Blob sidecars: a call needs only the versioned hashes, as geth's TransactionArgs. */
const UNSUPPORTED_CALL_FIELDS = ["blobs"];

/** EIP-7702 authorization list of TransactionArgs: signed tuples (yParity, or v as some clients send). */
function parseAuthorizationList(v: unknown): CallAuthorization[] {
  if (!Array.isArray(v)) throw new ParamError(`cannot unmarshal ${jsonType(v)} into authorization list`);
  return v.map((item) => {
    const o = expectObject(item, "authorization");
    const need = <T>(name: string, parse: (x: unknown) => T): T => {
      const value = field(o, name, parse);
      if (value === undefined) throw new ParamError(`authorization: missing required field '${name}'`);
      return value;
    };
    const yParity = field(o, "yParity", parseQuantity) ?? field(o, "v", parseQuantity);
    if (yParity === undefined) throw new ParamError("authorization: missing required field 'yParity'");
    return {
      chainId: need("chainId", parseQuantity),
      address: need("address", parseAddress),
      nonce: need("nonce", parseUint64),
      yParity,
      r: need("r", parseQuantity),
      s: need("s", parseQuantity),
    };
  });
}

function parseHashList(v: unknown): Uint8Array[] {
  if (!Array.isArray(v)) throw new ParamError(`cannot unmarshal ${jsonType(v)} into blob hashes`);
  return v.map(parseHash);
}

/** TransactionArgs for eth_call / eth_estimateGas / eth_createAccessList. */
export function parseCallRequest(v: unknown, chainId: bigint): CallRequest {
  const o = expectObject(v, "transaction arguments");
  const req: CallRequest = {};
  const from = field(o, "from", parseAddress);
  if (from) req.from = from;
  if (o.to === null) req.to = null;
  else {
    const to = field(o, "to", parseAddress);
    if (to) req.to = to;
  }
  const gas = field(o, "gas", parseUint64);
  if (gas !== undefined) req.gas = gas;
  const gasPrice = field(o, "gasPrice", parseQuantity);
  if (gasPrice !== undefined) req.gasPrice = gasPrice;
  const maxFee = field(o, "maxFeePerGas", parseQuantity);
  if (maxFee !== undefined) req.maxFeePerGas = maxFee;
  const maxTip = field(o, "maxPriorityFeePerGas", parseQuantity);
  if (maxTip !== undefined) req.maxPriorityFeePerGas = maxTip;
  const value = field(o, "value", parseQuantity);
  if (value !== undefined) req.value = value;
  const nonce = field(o, "nonce", parseUint64);
  if (nonce !== undefined) req.nonce = nonce;
  const input = field(o, "input", parseData);
  const data = field(o, "data", parseData);
  if (input && data && !Buffer.from(input).equals(Buffer.from(data)))
    throw new ParamError(
      'both "data" and "input" are set and not equal. Please use "input" to pass transaction call data',
    );
  const payload = input ?? data;
  if (payload) req.data = payload;
  const accessList = field(o, "accessList", parseAccessList);
  if (accessList) req.accessList = accessList;
  const authorizationList = field(o, "authorizationList", parseAuthorizationList);
  if (authorizationList) req.authorizationList = authorizationList;
  const blobHashes = field(o, "blobVersionedHashes", parseHashList);
  if (blobHashes) req.blobVersionedHashes = blobHashes;
  const maxFeePerBlobGas = field(o, "maxFeePerBlobGas", parseQuantity);
  if (maxFeePerBlobGas !== undefined) req.maxFeePerBlobGas = maxFeePerBlobGas;
  if (authorizationList && blobHashes)
    throw new ParamError("both authorizationList and blobVersionedHashes specified");
  if (authorizationList && o.to === null)
    throw new ParamError("tx with authorizationList must not be a create");
  const type = field(o, "type", parseUint64);
  if (type !== undefined) {
    if (type > 0x7fn) throw new ParamError("type: transaction type not supported");
    req.type = Number(type);
  }
  const txChainId = field(o, "chainId", parseQuantity);
  if (txChainId !== undefined && txChainId !== chainId)
    throw new ParamError(`chainId does not match node's (have=${txChainId}, want=${chainId})`);
  if (gasPrice !== undefined && (maxFee !== undefined || maxTip !== undefined))
    throw new ParamError("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
  if (maxFee !== undefined && maxTip !== undefined && maxTip > maxFee)
    throw new ParamError(`maxFeePerGas (${maxFee}) < maxPriorityFeePerGas (${maxTip})`);
  for (const name of UNSUPPORTED_CALL_FIELDS)
    if (present(o[name])) throw new ParamError(`${name} is not supported`);
  return req;
}

function parseSlotMap(v: unknown, what: string): Map<string, Uint8Array> {
  const o = expectObject(v, what);
  const out = new Map<string, Uint8Array>();
  for (const [k, val] of Object.entries(o)) {
    const key = parseHash(k);
    out.set(`0x${Buffer.from(key).toString("hex")}`, parseHash(val));
  }
  return out;
}

type AccountOverride = StateOverride extends Map<string, infer E> ? E : never;

/** eth_call / eth_estimateGas state overrides. */
export function parseStateOverride(v: unknown): StateOverride {
  const o = expectObject(v, "state override");
  const out: StateOverride = new Map();
  for (const [addr, raw] of Object.entries(o)) {
    const address = parseAddress(addr);
    const key = `0x${Buffer.from(address).toString("hex")}`;
    const acc = expectObject(raw, "account override");
    if (present(acc.state) && present(acc.stateDiff))
      throw new ParamError(`account ${key} has both 'state' and 'stateDiff'`);
    if (present(acc.movePrecompileToAddress))
      throw new ParamError("movePrecompileToAddress is not supported");
    const entry: AccountOverride = {};
    const balance = field(acc, "balance", parseQuantity);
    if (balance !== undefined) entry.balance = balance;
    const nonce = field(acc, "nonce", parseUint64);
    if (nonce !== undefined) entry.nonce = nonce;
    const code = field(acc, "code", parseData);
    if (code) entry.code = code;
    const state = field(acc, "state", (s) => parseSlotMap(s, "state"));
    if (state) entry.state = state;
    const stateDiff = field(acc, "stateDiff", (s) => parseSlotMap(s, "stateDiff"));
    if (stateDiff) entry.stateDiff = stateDiff;
    out.set(key, entry);
  }
  return out;
}

/** A parsed eth_getLogs / eth_newFilter criteria, before block tags are resolved. */
export type FilterCriteria = {
  blockHash?: Uint8Array;
  fromBlock?: BlockSelector;
  toBlock?: BlockSelector;
  addresses: Uint8Array[];
  topics: (Uint8Array[] | null)[];
};

const MAX_TOPICS = 4;
const MAX_ADDRESSES = 1000;
const MAX_TOPIC_ALTERNATIVES = 1000;

export function parseFilterCriteria(v: unknown): FilterCriteria {
  const o = expectObject(v, "filter criteria");
  const crit: FilterCriteria = { addresses: [], topics: [] };
  if (present(o.blockHash)) {
    if (present(o.fromBlock) || present(o.toBlock))
      throw new ParamError("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other");
    crit.blockHash = field(o, "blockHash", parseHash);
  } else {
    crit.fromBlock = field(o, "fromBlock", parseBlockNumberOrTag);
    crit.toBlock = field(o, "toBlock", parseBlockNumberOrTag);
  }
  const addr = o.address;
  if (Array.isArray(addr)) {
    if (addr.length > MAX_ADDRESSES) throw new ParamError("exceed max addresses");
    crit.addresses = addr.map((a) => named("address", a, parseAddress));
  } else if (present(addr)) {
    crit.addresses = [field(o, "address", parseAddress)!];
  }
  const topics = o.topics;
  if (present(topics)) {
    if (!Array.isArray(topics)) throw new ParamError(`topics: cannot unmarshal ${jsonType(topics)}`);
    if (topics.length > MAX_TOPICS) throw new ParamError("exceed max topics");
    crit.topics = topics.map(parseTopicPosition);
    // Trailing wildcards match everything: drop them so matching loops less.
    while (crit.topics.length > 0 && crit.topics[crit.topics.length - 1] === null) crit.topics.pop();
  }
  return crit;
}

function parseTopicPosition(t: unknown): Uint8Array[] | null {
  if (t === null || t === undefined) return null;
  if (typeof t === "string") return [named("topics", t, parseHash)];
  if (!Array.isArray(t)) throw new ParamError(`topics: cannot unmarshal ${jsonType(t)}`);
  if (t.length > MAX_TOPIC_ALTERNATIVES) throw new ParamError("exceed max topics per position");
  const out: Uint8Array[] = [];
  for (const alt of t) {
    // geth: a null inside an OR list makes the whole position a wildcard.
    if (alt === null) return null;
    out.push(named("topics", alt, parseHash));
  }
  return out.length === 0 ? null : out;
}

/** eth_feeHistory blockCount: hex quantity, decimal string or JSON number (geth's HexOrDecimal64). */
export function parseBlockCount(v: unknown): number {
  let n: bigint;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new ParamError("invalid block count");
    n = BigInt(v);
  } else if (typeof v === "string") {
    if (v.startsWith("0x") || v.startsWith("0X")) n = parseQuantity(v, 64);
    else if (/^[0-9]+$/.test(v)) n = BigInt(v);
    else throw new ParamError(`invalid block count ${JSON.stringify(v)}`);
  } else throw new ParamError(`cannot unmarshal ${jsonType(v)} into block count`);
  if (n > MAX_UINT64) throw new ParamError("block count > 64 bits");
  return n > 1_000_000n ? 1_000_000 : Number(n);
}

export function parseRewardPercentiles(v: unknown): number[] {
  if (!Array.isArray(v)) throw new ParamError(`cannot unmarshal ${jsonType(v)} into reward percentiles`);
  if (v.length > 100) throw new ParamError("too many reward percentiles (max 100)");
  let prev = -1;
  return v.map((p, i) => {
    if (typeof p !== "number" || !Number.isFinite(p)) throw new ParamError(`invalid reward percentile #${i}`);
    if (p < 0 || p > 100) throw new ParamError(`invalid reward percentile: ${p}`);
    if (p < prev) throw new ParamError(`invalid reward percentiles: #${i - 1}:${prev} > #${i}:${p}`);
    prev = p;
    return p;
  });
}

function optBool(o: Record<string, unknown>, name: string): boolean | undefined {
  return field(o, name, parseBool);
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION_PART_RE = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;

/** A Go duration string as geth's TraceConfig.Timeout takes it ("5s", "1m30s", "500ms"), in ms. */
export function parseDuration(text: string): number {
  const fail = (): never => {
    throw new ParamError(`time: invalid duration ${JSON.stringify(text)}`);
  };
  if (text === "0") return 0;
  if (text.length === 0 || text.startsWith("-")) fail();
  const body = text.startsWith("+") ? text.slice(1) : text;
  let total = 0;
  DURATION_PART_RE.lastIndex = 0;
  let end = 0;
  for (let m = DURATION_PART_RE.exec(body); m; m = DURATION_PART_RE.exec(body)) {
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    end = DURATION_PART_RE.lastIndex;
  }
  if (end === 0 || end !== body.length) fail();
  return total;
}

/** debug_traceTransaction options (geth's TraceConfig subset). */
export function parseTraceOptions(v: unknown): TraceOptions {
  const o = expectObject(v, "trace config");
  const opts: TraceOptions = {};
  const tracer = field(o, "tracer", (t) => expectString(t, "tracer"));
  if (tracer !== undefined) {
    const known = TRACER_NAMES.find((n) => n === tracer);
    // geth's answer for a name that is neither a native tracer nor a JS one.
    if (!known) throw serverError("tracer not found");
    opts.tracer = known;
  }
  for (const name of ["disableStorage", "disableStack", "enableMemory", "enableReturnData"] as const) {
    const b = optBool(o, name);
    if (b !== undefined) opts[name] = b;
  }
  const timeout = field(o, "timeout", (t) => parseDuration(expectString(t, "timeout")));
  if (timeout !== undefined) opts.timeoutMs = timeout;
  const cfg = field(o, "tracerConfig", (c) => expectObject(c, "tracer config"));
  if (cfg) {
    const onlyTopCall = named("tracerConfig", cfg, (c) =>
      optBool(c as Record<string, unknown>, "onlyTopCall"),
    );
    if (onlyTopCall !== undefined) opts.onlyTopCall = onlyTopCall;
    const withLog = named("tracerConfig", cfg, (c) => optBool(c as Record<string, unknown>, "withLog"));
    if (withLog !== undefined) opts.withLog = withLog;
    const diffMode = named("tracerConfig", cfg, (c) => optBool(c as Record<string, unknown>, "diffMode"));
    if (diffMode !== undefined) opts.diffMode = diffMode;
  }
  const overrides = field(o, "stateOverrides", parseStateOverride);
  if (overrides) opts.stateOverrides = overrides;
  const blockOverrides = field(o, "blockOverrides", parseBlockOverrides);
  if (blockOverrides) opts.blockOverrides = blockOverrides;
  return opts;
}

/** geth's BlockOverrides (debug_traceCall, eth_simulateV1 style field names). */
export function parseBlockOverrides(v: unknown): BlockOverrides {
  const o = expectObject(v, "block overrides");
  const out: BlockOverrides = {};
  for (const name of Object.keys(o)) {
    if (!["number", "time", "gasLimit", "feeRecipient", "prevRandao", "baseFeePerGas"].includes(name))
      throw new ParamError(`${name}: not supported in block overrides`);
  }
  const number = field(o, "number", (x) => parseQuantity(x, 64));
  if (number !== undefined) out.number = number;
  const time = field(o, "time", (x) => parseQuantity(x, 64));
  if (time !== undefined) out.time = time;
  const gasLimit = field(o, "gasLimit", (x) => parseQuantity(x, 64));
  if (gasLimit !== undefined) out.gasLimit = gasLimit;
  const feeRecipient = field(o, "feeRecipient", parseAddress);
  if (feeRecipient) out.feeRecipient = feeRecipient;
  const prevRandao = field(o, "prevRandao", parseHash);
  if (prevRandao) out.prevRandao = prevRandao;
  const baseFee = field(o, "baseFeePerGas", (x) => parseQuantity(x));
  if (baseFee !== undefined) out.baseFeePerGas = baseFee;
  return out;
}

export function parseStorageKeys(v: unknown): Uint8Array[] {
  if (!Array.isArray(v)) throw new ParamError(`cannot unmarshal ${jsonType(v)} into storage keys`);
  return v.map(parseStorageKey);
}

/** Filter and subscription ids are opaque strings. */
export function parseId(v: unknown): string {
  return expectString(v, "id");
}
