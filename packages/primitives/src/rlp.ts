import { RLP } from "@ethereumjs/rlp";
import { DecodeError } from "./errors.ts";

export type RlpInput = Uint8Array | bigint | number | string | null | undefined | readonly RlpInput[];
export type RlpDecoded = Uint8Array | RlpDecoded[];

/** Largest RLP payload any Meridian decoder accepts (blocks are far below this). */
export const MAX_RLP_BYTES = 16 * 1024 * 1024;

export function rlpEncode(input: RlpInput): Uint8Array {
  return RLP.encode(input as Parameters<typeof RLP.encode>[0]);
}

/** Decodes one RLP item; rejects oversized input, trailing bytes and malformed lengths with DecodeError. */
export function rlpDecode(data: Uint8Array, maxBytes = MAX_RLP_BYTES): RlpDecoded {
  if (data.length > maxBytes)
    throw new DecodeError(`rlp input too large: ${data.length} > ${maxBytes} bytes`);
  // @ethereumjs/rlp decodes zero bytes as an empty string; an empty payload is never valid input here.
  if (data.length === 0) throw new DecodeError("empty rlp input");
  try {
    return RLP.decode(data) as RlpDecoded;
  } catch (cause) {
    throw new DecodeError("malformed rlp", { cause, details: (cause as Error).message });
  }
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
