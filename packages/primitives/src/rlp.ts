import { DecodeError, MeridianError } from "./errors.ts";

export type RlpInput = Uint8Array | bigint | number | string | null | undefined | readonly RlpInput[];
export type RlpDecoded = Uint8Array | RlpDecoded[];

/** Largest RLP payload any Meridian decoder accepts (blocks are far below this). */
export const MAX_RLP_BYTES = 16 * 1024 * 1024;

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** A scalar as @ethereumjs/rlp converts it: 0x-hex or UTF-8 strings, minimal big-endian integers. */
function scalarBytes(v: Exclude<RlpInput, readonly RlpInput[]>): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v === null || v === undefined) return EMPTY;
  if (typeof v === "string") {
    if (v.length < 2 || v[0] !== "0" || v[1] !== "x") return utf8.encode(v);
    const hex = v.length % 2 === 0 ? v.slice(2) : `0${v.slice(2)}`;
    if (!/^[0-9a-fA-F]*$/.test(hex))
      throw new MeridianError(`rlp: invalid hex string ${v}`, { code: "INVALID_RLP_INPUT" });
    return Buffer.from(hex, "hex");
  }
  if (v < 0) throw new MeridianError("rlp: cannot encode a negative integer", { code: "INVALID_RLP_INPUT" });
  if (!v) return EMPTY;
  const hex = v.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
}

/** Bytes of the length prefix for a payload of `len` bytes (`len` < 56: none beyond the first byte). */
function lengthOfLength(len: number): number {
  if (len < 56) return 0;
  let n = 0;
  for (let l = len; l > 0; l = Math.floor(l / 256)) n++;
  return n;
}

/**
 * Sizes of every list in `input`, in depth-first order (what `writeItem` consumes), and the
 * encoded size of `input` itself. Scalars are converted once into `leaves`.
 */
function measure(input: RlpInput, lists: number[], leaves: Uint8Array[]): number {
  if (Array.isArray(input)) {
    const at = lists.length;
    lists.push(0);
    let payload = 0;
    for (const item of input as readonly RlpInput[]) payload += measure(item, lists, leaves);
    lists[at] = payload;
    return 1 + lengthOfLength(payload) + payload;
  }
  const b = scalarBytes(input as Exclude<RlpInput, readonly RlpInput[]>);
  leaves.push(b);
  if (b.length === 1 && (b[0] as number) < 0x80) return 1;
  return 1 + lengthOfLength(b.length) + b.length;
}

function writeHeader(out: Uint8Array, pos: number, len: number, offset: number): number {
  if (len < 56) {
    out[pos] = offset + len;
    return pos + 1;
  }
  const n = lengthOfLength(len);
  out[pos] = offset + 55 + n;
  for (let i = n, l = len; i > 0; i--, l = Math.floor(l / 256)) out[pos + i] = l & 0xff;
  return pos + 1 + n;
}

type Cursor = { list: number; leaf: number };

function writeItem(
  input: RlpInput,
  out: Uint8Array,
  pos: number,
  lists: number[],
  leaves: Uint8Array[],
  c: Cursor,
): number {
  if (Array.isArray(input)) {
    let p = writeHeader(out, pos, lists[c.list++] as number, 0xc0);
    for (const item of input as readonly RlpInput[]) p = writeItem(item, out, p, lists, leaves, c);
    return p;
  }
  const b = leaves[c.leaf++] as Uint8Array;
  if (b.length === 1 && (b[0] as number) < 0x80) {
    out[pos] = b[0] as number;
    return pos + 1;
  }
  const p = writeHeader(out, pos, b.length, 0x80);
  out.set(b, p);
  return p + b.length;
}

/**
 * RLP encoding, byte-for-byte what @ethereumjs/rlp produces, written into one
 * buffer sized up front (no intermediate arrays per list: block-sized lists
 * and trie nodes are encoded many times per block).
 */
export function rlpEncode(input: RlpInput): Uint8Array {
  if (input instanceof Uint8Array) {
    if (input.length === 1 && (input[0] as number) < 0x80) return Uint8Array.of(input[0] as number);
  }
  const lists: number[] = [];
  const leaves: Uint8Array[] = [];
  const size = measure(input, lists, leaves);
  const out = new Uint8Array(size);
  writeItem(input, out, 0, lists, leaves, { list: 0, leaf: 0 });
  return out;
}

/**
 * rlpEncode written into `out` from `offset`, for encodings that are hashed or copied at once:
 * a new array over 64 bytes costs more than encoding into it. Returns the end offset, or -1
 * (nothing written) when the encoding does not fit.
 */
export function rlpEncodeInto(input: RlpInput, out: Uint8Array, offset: number): number {
  const lists: number[] = [];
  const leaves: Uint8Array[] = [];
  const size = measure(input, lists, leaves);
  if (offset + size > out.length) return -1;
  return writeItem(input, out, offset, lists, leaves, { list: 0, leaf: 0 });
}

/**
 * Decodes one RLP item; rejects oversized input, trailing bytes and malformed lengths with
 * DecodeError. Accepts and rejects exactly what @ethereumjs/rlp does (property-tested), but
 * byte strings are views into `data`, not copies: a block or access list decodes without
 * copying every field (treat decoded bytes as read-only).
 */
export function rlpDecode(data: Uint8Array, maxBytes = MAX_RLP_BYTES): RlpDecoded {
  if (data.length > maxBytes)
    throw new DecodeError(`rlp input too large: ${data.length} > ${maxBytes} bytes`);
  // An empty payload is never valid input here (@ethereumjs/rlp would return an empty string).
  if (data.length === 0) throw new DecodeError("empty rlp input");
  const cursor = { at: 0 };
  const item = decodeItem(data, cursor, data.length);
  if (cursor.at !== data.length) malformed(`${data.length - cursor.at} bytes after the item`);
  return item;
}

/**
 * Where each item of the RLP list `data` sits, without decoding the items: for item i,
 * `[bounds[2i], bounds[2i+1])`. Lets a list's entries travel as byte ranges, and be decoded
 * one at a time (rlpDecode of each range then checks what this does not, see itemEnd).
 * The list's own header must be canonical.
 */
export function rlpListBounds(data: Uint8Array): Uint32Array {
  const first = data[0];
  if (first === undefined || first < 0xc0) malformed("expected a list");
  let at: number;
  if (first <= 0xf7) at = 1;
  else {
    at = 1 + (first - 0xf7);
    if (readLength(data, 1, first - 0xf7, data.length) < 56)
      malformed("long list form for 55 bytes or fewer");
  }
  const end = itemEnd(data, 0, data.length);
  if (end !== data.length) malformed(`${data.length - end} bytes after the item`);
  const bounds: number[] = [];
  while (at < end) {
    const stop = itemEnd(data, at, end);
    bounds.push(at, stop);
    at = stop;
  }
  return Uint32Array.from(bounds);
}

/**
 * End of the item at `at`, which must end by `end`. Only bounds and length prefixes are checked,
 * not the canonical-form rules decodeItem enforces: rlpListBounds serves lists that were
 * decoded or encoded here already.
 */
function itemEnd(data: Uint8Array, at: number, end: number): number {
  const first = data[at] as number;
  let stop: number;
  if (first < 0x80) stop = at + 1;
  else if (first <= 0xb7) stop = at + 1 + first - 0x80;
  else if (first <= 0xbf) stop = at + 1 + (first - 0xb7) + readLength(data, at + 1, first - 0xb7, end);
  else if (first <= 0xf7) stop = at + 1 + first - 0xc0;
  else stop = at + 1 + (first - 0xf7) + readLength(data, at + 1, first - 0xf7, end);
  if (stop > end) malformed("item out of bounds");
  return stop;
}

function malformed(details: string): never {
  throw new DecodeError("malformed rlp", { details });
}

/** Big-endian length of `n` bytes at `at`; no leading zero byte. */
function readLength(data: Uint8Array, at: number, n: number, end: number): number {
  if (at + n > end) malformed("length prefix out of bounds");
  if (data[at] === 0) malformed("length with leading zeros");
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (data[at + i] as number);
  return len;
}

/** Decodes the item at `cursor.at` that must end by `end`, and moves the cursor past it. */
function decodeItem(data: Uint8Array, cursor: { at: number }, end: number): RlpDecoded {
  const at = cursor.at;
  const first = data[at] as number;
  if (first < 0x80) {
    cursor.at = at + 1;
    return data.subarray(at, at + 1);
  }
  if (first <= 0xb7) {
    const len = first - 0x80;
    const stop = at + 1 + len;
    if (stop > end) malformed("string out of bounds");
    if (len === 1 && (data[at + 1] as number) < 0x80) malformed("single byte below 0x80 with a prefix");
    cursor.at = stop;
    return data.subarray(at + 1, stop);
  }
  if (first <= 0xbf) {
    const n = first - 0xb7;
    const len = readLength(data, at + 1, n, end);
    if (len <= 55) malformed("long string form for 55 bytes or fewer");
    const stop = at + 1 + n + len;
    if (stop > end) malformed("string out of bounds");
    cursor.at = stop;
    return data.subarray(at + 1 + n, stop);
  }
  let start: number;
  let stop: number;
  if (first <= 0xf7) {
    start = at + 1;
    stop = start + first - 0xc0;
  } else {
    const n = first - 0xf7;
    const len = readLength(data, at + 1, n, end);
    if (len < 56) malformed("long list form for 55 bytes or fewer");
    start = at + 1 + n;
    stop = start + len;
  }
  if (stop > end) malformed("list out of bounds");
  const items: RlpDecoded[] = [];
  cursor.at = start;
  while (cursor.at < stop) items.push(decodeItem(data, cursor, stop));
  return items;
}

/** Narrows a decoded item to a list of `length` (or at least `min`) entries, or throws DecodeError. */
export function expectList(item: RlpDecoded, what: string, length?: number): RlpDecoded[] {
  if (!Array.isArray(item)) throw new DecodeError(`${what}: expected rlp list`);
  if (length !== undefined && item.length !== length)
    throw new DecodeError(`${what}: expected ${length} fields, got ${item.length}`);
  return item;
}

export function expectBytes(item: RlpDecoded | undefined, what: string): Uint8Array {
  if (!(item instanceof Uint8Array)) throw new DecodeError(`${what}: expected rlp bytes`);
  return item;
}
