/**
 * Key layout of the single LevelDB. One byte of prefix per store keeps every
 * store a contiguous key range, so ranges can be iterated and cleared.
 */
import { concatBytes, utf8ToBytes } from "@meridian/primitives";

export const Prefix = {
  meta: 0x6d, // m | name
  canonical: 0x68, // h | number(8) → block hash
  blockNumber: 0x6e, // n | hash → number(8)
  block: 0x62, // b | hash → block RLP
  receipts: 0x72, // r | hash → receipts RLP
  txLocation: 0x74, // t | tx hash → [number, index] RLP
  commit: 0x63, // c | number(8) → commit info RLP
  account: 0x61, // a | address(20) → account RLP [nonce, balance, storageRoot, codeHash]
  storage: 0x73, // s | address(20) | slot(32) → value (RLP of trimmed bytes)
  code: 0x6b, // k | code hash → code
  trieNode: 0x78, // x | node hash → node
  logIndex: 0x6c, // l | address(20) or topic(32) | number(8) → empty
  logBlocks: 0x67, // g | number(8) → empty: blocks that have any log
} as const;

export function numberKey(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}

export function readNumberKey(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getBigUint64(0);
}

export function key(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(prefix), ...parts);
}

export function metaKey(name: string): Uint8Array {
  return key(Prefix.meta, utf8ToBytes(name));
}

/** The smallest key greater than every key that starts with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff: there is no finite upper bound; callers never build such prefixes.
  throw new RangeError("prefix has no upper bound");
}
