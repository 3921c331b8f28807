import { DecodeError } from "./errors.ts";

export type Hex = `0x${string}`;

const HEX_RE = /^0x[0-9a-fA-F]*$/;

export function isHex(value: unknown): value is Hex {
  return typeof value === "string" && HEX_RE.test(value);
}

export function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`;
}

/** Lower-case hex without 0x: the key form of in-memory maps (addresses, slots, hashes). */
export function hexKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Decodes even-length 0x-hex. Throws DecodeError on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (!isHex(hex) || hex.length % 2 !== 0) throw new DecodeError(`invalid hex data: ${truncate(hex)}`);
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

/** Ethereum QUANTITY encoding: no leading zeros, 0 is 0x0. */
export function toQuantity(value: bigint | number): Hex {
  return `0x${value.toString(16)}`;
}

export function fromQuantity(hex: string): bigint {
  if (!/^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(hex))
    throw new DecodeError(`invalid quantity: ${truncate(hex)}`);
  return BigInt(hex);
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  const n = bytes.length;
  if (n === 0) return 0n;
  // Nonces, flags and most balances fit in 6 or 12 bytes: integer arithmetic beats a hex
  // round trip there (decoding a block access list converts tens of thousands of them).
  if (n <= 6) return BigInt(uintOf(bytes, 0, n));
  if (n <= 12) return (BigInt(uintOf(bytes, 0, n - 6)) << 48n) | BigInt(uintOf(bytes, n - 6, n));
  return BigInt(bytesToHex(bytes));
}

/** bytes[from..to) as an unsigned big-endian integer (at most 6 bytes, exact as a number). */
function uintOf(bytes: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 256 + (bytes[i] as number);
  return v;
}

/** Minimal big-endian bytes (empty for 0), as RLP encodes integers. */
export function bigIntToBytes(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError("negative integer");
  if (value === 0n) return new Uint8Array(0);
  if (value <= 0xffff_ffff_ffffn) {
    // Gas, nonces and most balances: number arithmetic instead of a hex round trip.
    let v = Number(value);
    let length = 0;
    for (let t = v; t > 0; t = Math.floor(t / 256)) length++;
    const out = new Uint8Array(length);
    for (let i = length - 1; i >= 0; i--) {
      out[i] = v % 256;
      v = Math.floor(v / 256);
    }
    return out;
  }
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/**
 * Copies byte strings into a few shared chunks and hands back views of them. A message to a
 * worker thread copies the whole buffer behind every byte view it carries, and gives every
 * distinct buffer its own allocation on the other side: views into a proposal would carry all
 * of it, and thousands of small arrays cost thousands of allocations. One arena per message.
 */
export class ByteArena {
  private chunk = new Uint8Array(0);
  private at = 0;
  private readonly chunkSize: number;

  constructor(chunkSize = 16 * 1024) {
    this.chunkSize = chunkSize;
  }

  /** A copy of `bytes` in the arena (the shared empty array for an empty one). */
  copy(bytes: Uint8Array): Uint8Array {
    const n = bytes.length;
    if (n === 0) return EMPTY_BYTES;
    if (this.at + n > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(this.chunkSize, n));
      this.at = 0;
    }
    const out = this.chunk.subarray(this.at, this.at + n);
    out.set(bytes);
    this.at += n;
    return out;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** Left-pads to `length` bytes (for 32-byte words and 20-byte addresses). */
export function padBytes(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length >= length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // Hashes, addresses and slots: a plain loop beats creating two Buffer views.
  if (a.length <= 64) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

export function utf8ToBytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function truncate(s: string): string {
  return typeof s === "string" && s.length > 42 ? `${s.slice(0, 42)}…` : String(s);
}
