/**
 * Block decoding that keeps each transaction's bytes as received. Validation
 * hashes the transactions root from them and ships them to the workers;
 * without them it would re-encode every transaction of the block.
 */
import { Block, type BlockBytes, type BlockOptions, createBlockFromBytesArray } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import {
  create1559FeeMarketTxFromBytesArray,
  createAccessList2930TxFromBytesArray,
  createBlob4844TxFromBytesArray,
  createEOACode7702TxFromBytesArray,
  createLegacyTxFromBytesArray,
  type TxOptions,
  type TypedTransaction,
} from "@ethereumjs/tx";
import { DecodeError, keccak256, type RlpDecoded, rlpDecode, rlpEncode } from "@meridian/primitives";

/** What decodeBlock received for a block: its bytes, and each transaction's. */
const received = new WeakMap<Block, { block: Uint8Array; txs: Uint8Array[] }>();

type Envelope = { type: number; fields: Uint8Array[] };

/**
 * A transaction of a block body (a typed one is a byte string, a legacy one a list) split into
 * its type and field values; anything but an RLP list of a known type is a DecodeError. The
 * fields themselves are checked when the transaction is built (txFromEnvelope).
 */
function txEnvelope(item: RlpDecoded, opts: TxOptions): Envelope {
  if (Array.isArray(item)) return { type: 0, fields: item as Uint8Array[] };
  // A byte string that does not start with a type byte is a legacy transaction's RLP.
  const first = item[0];
  const typed = first !== undefined && first <= 0x7f;
  const values = rlpDecode(typed ? item.subarray(1) : item, item.length);
  if (!Array.isArray(values)) throw new DecodeError("transaction: expected an rlp list");
  const type = typed ? (first as number) : 0;
  if (typed && (type === 0 || type > 4)) throw new DecodeError(`transaction: type ${type} unknown`);
  if (type === 3 && opts.common?.customCrypto.kzg === undefined)
    throw new DecodeError("transaction: a blob transaction needs a Common with KZG");
  return { type, fields: values as Uint8Array[] };
}

/**
 * The transaction as createTxFromBlockBodyData builds it, from values Meridian's decoder
 * already split: the typed payload is decoded once, not again inside @ethereumjs (which
 * copies every field).
 */
function txFromEnvelope({ type, fields }: Envelope, opts: TxOptions): TypedTransaction {
  switch (type) {
    case 0:
      return createLegacyTxFromBytesArray(fields, opts);
    case 1:
      return createAccessList2930TxFromBytesArray(fields as never, opts);
    case 2:
      return create1559FeeMarketTxFromBytesArray(fields as never, opts);
    case 3:
      return createBlob4844TxFromBytesArray(fields as never, opts);
    default:
      return createEOACode7702TxFromBytesArray(fields as never, opts);
  }
}

export type DecodeBlockOptions = {
  /**
   * Build the @ethereumjs transaction objects on first use of `block.transactions` instead of
   * here. Each transaction's envelope is still checked now (an RLP list of a known type); its
   * fields are checked when it is built, and by whoever executes it. Parallel validation
   * never uses the objects (its workers decode the bytes), so a validator builds them only
   * if something asks for them later (JSON-RPC). Default false.
   */
  lazyTransactions?: boolean;
};

/** The Common of the fork a block with this timestamp runs (a chain with a fork schedule). */
export type CommonAt = (timestamp: bigint) => Common;

/** Header field 11: the block's timestamp, read before the header is built so the fork is known. */
function headerTimestamp(header: RlpDecoded | undefined): bigint {
  const time = Array.isArray(header) ? header[11] : undefined;
  if (!(time instanceof Uint8Array)) throw new DecodeError("block: header has no timestamp");
  let n = 0n;
  for (const b of time) n = (n << 8n) | BigInt(b);
  return n;
}

/**
 * Decodes block RLP (same rules as @ethereumjs createBlockFromRLP); malformed input is a DecodeError.
 * `common` is one fork's Common, or a schedule giving the Common for the block's timestamp.
 */
export function decodeBlock(
  bytes: Uint8Array,
  commonOrSchedule: Common | CommonAt,
  options: DecodeBlockOptions = {},
): Block {
  const values = rlpDecode(bytes, bytes.length);
  if (!Array.isArray(values) || !Array.isArray(values[1]))
    throw new DecodeError("block: expected an rlp list with a transaction list");
  const common =
    typeof commonOrSchedule === "function" ? commonOrSchedule(headerTimestamp(values[0])) : commonOrSchedule;
  if (common.isActivatedEIP(7934) && bytes.length > common.param("maxRlpBlockSize"))
    throw new DecodeError(`block of ${bytes.length} bytes exceeds the EIP-7934 limit`);
  const body = values[1];
  let block: Block;
  try {
    const opts: BlockOptions = { common, setHardfork: false };
    // Header, uncles and withdrawals checked as createBlockFromBytesArray checks them; the
    // transactions are built here from the values already decoded.
    const shell = createBlockFromBytesArray(
      [values[0], [], ...values.slice(2)] as unknown as BlockBytes,
      opts,
    );
    const txOpts = { ...opts, common: shell.header.common };
    if (options.lazyTransactions) {
      for (const t of body) txEnvelope(t, txOpts);
      block = new Block(shell.header, [], shell.uncleHeaders, shell.withdrawals, { ...opts, freeze: false });
      let txs: TypedTransaction[] | undefined;
      Object.defineProperty(block, "transactions", {
        enumerable: true,
        get: () => {
          if (!txs) {
            try {
              txs = body.map((t) => txFromEnvelope(txEnvelope(t, txOpts), txOpts));
            } catch (cause) {
              throw new DecodeError("block: malformed transaction", {
                cause,
                details: (cause as Error).message,
              });
            }
          }
          return txs;
        },
      });
      Object.freeze(block);
    } else {
      const txs = body.map((t) => txFromEnvelope(txEnvelope(t, txOpts), txOpts));
      block = new Block(shell.header, txs, shell.uncleHeaders, shell.withdrawals, opts);
    }
  } catch (cause) {
    throw new DecodeError("block: malformed", { cause, details: (cause as Error).message });
  }
  // A typed transaction is a byte string in the body; a legacy one is a list (encoded again).
  received.set(block, {
    block: bytes,
    txs: body.map((t) => (t instanceof Uint8Array ? t : rlpEncode(t))),
  });
  return block;
}

/** The block's bytes: as received when decodeBlock made the block, else encoded. */
export function blockBytes(block: Block): Uint8Array {
  return received.get(block)?.block ?? block.serialize();
}

const hashes = new WeakMap<Block, Uint8Array[]>();

/**
 * The block's transaction hashes: of the bytes as received when decodeBlock made the block
 * (no objects built), else the objects' own (cached) hashes. Kept per block.
 */
export function transactionHashes(block: Block): Uint8Array[] {
  let out = hashes.get(block);
  if (!out) {
    const bytes = received.get(block)?.txs;
    out = bytes ? bytes.map((tx) => keccak256(tx)) : block.transactions.map((tx) => tx.hash());
    hashes.set(block, out);
  }
  return out;
}

/** How many transactions the block has, without building their objects (see DecodeBlockOptions). */
export function transactionCount(block: Block): number {
  return received.get(block)?.txs.length ?? block.transactions.length;
}

/** The block's transactions as bytes: as received when decodeBlock made the block, else encoded. */
export function transactionBytes(block: Block): Uint8Array[] {
  return received.get(block)?.txs ?? block.transactions.map((tx) => tx.serialize());
}
