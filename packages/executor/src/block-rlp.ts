/**
 * Block decoding that keeps each transaction's bytes as received. Validation
 * hashes the transactions root from them and ships them to the workers;
 * without them it would re-encode every transaction of the block.
 */
import { type Block, type BlockBytes, createBlockFromBytesArray } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { DecodeError, rlpDecode, rlpEncode } from "@meridian/primitives";

const received = new WeakMap<Block, Uint8Array[]>();

/** Decodes block RLP (same rules as @ethereumjs createBlockFromRLP); malformed input is a DecodeError. */
export function decodeBlock(bytes: Uint8Array, common: Common): Block {
  if (common.isActivatedEIP(7934) && bytes.length > common.param("maxRlpBlockSize"))
    throw new DecodeError(`block of ${bytes.length} bytes exceeds the EIP-7934 limit`);
  const values = rlpDecode(bytes, bytes.length);
  if (!Array.isArray(values) || !Array.isArray(values[1]))
    throw new DecodeError("block: expected an rlp list with a transaction list");
  let block: Block;
  try {
    block = createBlockFromBytesArray(values as BlockBytes, { common, setHardfork: false });
  } catch (cause) {
    throw new DecodeError("block: malformed", { cause, details: (cause as Error).message });
  }
  // A typed transaction is a byte string in the body; a legacy one is a list (encoded again).
  received.set(
    block,
    values[1].map((t) => (t instanceof Uint8Array ? t : rlpEncode(t))),
  );
  return block;
}

/** The block's transactions as bytes: as received when decodeBlock made the block, else encoded. */
export function transactionBytes(block: Block): Uint8Array[] {
  return received.get(block) ?? block.transactions.map((tx) => tx.serialize());
}
