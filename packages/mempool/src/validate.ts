import type { Common } from "@ethereumjs/common";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import {
  bytesToBigInt,
  bytesToHex,
  equalBytes,
  keccak256,
  MeridianError,
  type RlpDecoded,
  rlpDecode,
} from "@meridian/primitives";
import { invalidTransaction, TxErrors, TxRejectedError } from "./errors.ts";

/** EIP-3860 initcode limit (2 * 24576); ethereumjs only exposes it on the tx's own Common copy. */
const MAX_INITCODE_SIZE = 49_152;

/** Field positions inside the RLP list of each supported envelope. */
type Layout = {
  fields: number;
  chainId: number | undefined;
  nonce: number;
  tip: number;
  maxFee: number;
  gas: number;
  to: number;
  value: number;
  data: number;
  v: number;
  /** Fields that are lists (access list, authorization list); everything else must be a byte string. */
  lists: readonly number[];
};

/** go-ethereum's struct names, which its rlp errors name ("decoding into (types.DynamicFeeTx).Gas"). */
const GO_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "LegacyTx",
  1: "AccessListTx",
  2: "DynamicFeeTx",
  4: "SetCodeTx",
};

const MAX_UINT64 = 2n ** 64n - 1n;

const LAYOUTS: Readonly<Record<number, Layout>> = {
  0: {
    fields: 9,
    chainId: undefined,
    nonce: 0,
    tip: 1,
    maxFee: 1,
    gas: 2,
    to: 3,
    value: 4,
    data: 5,
    v: 6,
    lists: [],
  },
  1: {
    fields: 11,
    chainId: 0,
    nonce: 1,
    tip: 2,
    maxFee: 2,
    gas: 3,
    to: 4,
    value: 5,
    data: 6,
    v: 8,
    lists: [7],
  },
  2: {
    fields: 12,
    chainId: 0,
    nonce: 1,
    tip: 2,
    maxFee: 3,
    gas: 4,
    to: 5,
    value: 6,
    data: 7,
    v: 9,
    lists: [8],
  },
  4: {
    fields: 13,
    chainId: 0,
    nonce: 1,
    tip: 2,
    maxFee: 3,
    gas: 4,
    to: 5,
    value: 6,
    data: 7,
    v: 10,
    lists: [8, 9],
  },
};

/** What the pool keeps about an admitted-so-far transaction. */
export type PreparedTx = {
  tx: TypedTransaction;
  raw: Uint8Array;
  hash: Uint8Array;
  hashHex: string;
  sender: Uint8Array;
  senderHex: string;
  nonce: bigint;
  gasLimit: bigint;
  maxFee: bigint;
  tip: bigint;
  /** gas * maxFee + value: what the sender must be able to pay (geth tx.Cost()). */
  cost: bigint;
};

export type StatelessContext = {
  common: Common;
  maxTxBytes: number;
  priceLimit: bigint;
  blockGasLimit: bigint;
  isKnown(hashHex: string): boolean;
};

type Scalars = { type: number; fields: RlpDecoded[]; layout: Layout };

/** RLP shape check only (no signature work), so decode errors come first as in geth. */
function parseEnvelope(raw: Uint8Array): Scalars {
  if (raw.length === 0) throw invalidTransaction("typed transaction too short");
  const first = raw[0]!;
  const type = first > 0x7f ? 0 : first;
  if (type !== 0 && raw.length <= 1) throw invalidTransaction("typed transaction too short");
  const layout = LAYOUTS[type];
  // Blob txs (3) need sidecars and a blob pool; 0x00 and unknown prefixes are not EIP-2718 types we take.
  if (layout === undefined || (type === 0 && first <= 0x7f)) {
    throw new TxRejectedError(TxErrors.typeNotSupported, `received type ${first}`);
  }
  let decoded: RlpDecoded;
  try {
    decoded = rlpDecode(type === 0 ? raw : raw.subarray(1));
  } catch (cause) {
    const reason = cause instanceof MeridianError ? (cause.details ?? cause.shortMessage) : "malformed rlp";
    throw invalidTransaction(`rlp: ${reason}`, cause);
  }
  if (!Array.isArray(decoded)) throw invalidTransaction("rlp: expected input list");
  if (decoded.length !== layout.fields) {
    throw invalidTransaction(`rlp: expected ${layout.fields} fields for type ${type}, got ${decoded.length}`);
  }
  const goType = GO_TYPE_NAMES[type] ?? "Transaction";
  for (let i = 0; i < decoded.length; i++) {
    const item = decoded[i]!;
    const isList = layout.lists.includes(i);
    if (isList !== Array.isArray(item)) {
      throw invalidTransaction(`rlp: ${isList ? "expected list" : "expected string"} at field ${i}`);
    }
    if (isList || i === layout.to || i === layout.data) continue;
    const bytes = item as Uint8Array;
    if (bytes.length > 0 && bytes[0] === 0)
      throw invalidTransaction("rlp: non-canonical integer (leading zero bytes)");
    // Nonce and gas are uint64 in geth: a longer value fails its decoder, naming the field.
    if ((i === layout.nonce || i === layout.gas) && bytes.length > 8)
      throw invalidTransaction(
        `rlp: input string too long for uint64, decoding into (types.${goType}).${i === layout.nonce ? "Nonce" : "Gas"}`,
      );
    if (bytes.length > 32) throw invalidTransaction("rlp: integer too large");
  }
  const to = decoded[layout.to] as Uint8Array;
  if (to.length !== 0 && to.length !== 20) throw invalidTransaction("rlp: invalid recipient address length");
  // The access list's shape is checked here: ethereumjs throws raw TypeErrors on some malformed ones.
  if (layout.lists.length > 0) checkAccessList(decoded[layout.lists[0]!] as RlpDecoded[], goType);
  if (bytesToBigInt(decoded[layout.nonce] as Uint8Array) === MAX_UINT64)
    throw new TxRejectedError(TxErrors.nonceMax);
  return { type, fields: decoded, layout };
}

/** EIP-7825's per-transaction gas cap (geth params.MaxTxGas). */
export const MAX_TX_GAS_EIP7825 = 2n ** 24n;

/** geth's rlp messages for a malformed access list ([[address, [slot, ...]], ...]). */
function checkAccessList(list: RlpDecoded[], goType: string): void {
  const into = (path: string) => `decoding into (types.${goType}).AccessList${path}`;
  const fixed = (item: RlpDecoded | undefined, size: number, goName: string, path: string) => {
    if (item === undefined || Array.isArray(item))
      throw invalidTransaction(`rlp: expected input string or byte for ${goName}, ${into(path)}`);
    if (item.length < size)
      throw invalidTransaction(`rlp: input string too short for ${goName}, ${into(path)}`);
    if (item.length > size)
      throw invalidTransaction(`rlp: input string too long for ${goName}, ${into(path)}`);
  };
  for (let i = 0; i < list.length; i++) {
    const tuple = list[i]!;
    if (!Array.isArray(tuple))
      throw invalidTransaction(`rlp: expected input list for types.AccessTuple, ${into(`[${i}]`)}`);
    if (tuple.length < 2)
      throw invalidTransaction(`rlp: too few elements for types.AccessTuple, ${into(`[${i}]`)}`);
    if (tuple.length > 2)
      throw invalidTransaction(
        `rlp: input list has too many elements for types.AccessTuple, ${into(`[${i}]`)}`,
      );
    fixed(tuple[0], 20, "common.Address", `[${i}].Address`);
    const keys = tuple[1]!;
    if (!Array.isArray(keys))
      throw invalidTransaction(`rlp: expected input list for []common.Hash, ${into(`[${i}].StorageKeys`)}`);
    for (let j = 0; j < keys.length; j++) fixed(keys[j], 32, "common.Hash", `[${i}].StorageKeys[${j}]`);
  }
}

function scalar(s: Scalars, index: number | undefined): bigint {
  if (index === undefined) return 0n;
  return bytesToBigInt(s.fields[index] as Uint8Array);
}

/** Maps an ethereumjs constructor error onto the geth reason for the same defect. */
function mapDecodeError(cause: unknown): TxRejectedError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  if (/signature|s-value|y-?parity|not signed|v = 27|EIP155|invalid v/i.test(msg)) {
    return new TxRejectedError(TxErrors.invalidSender, msg, cause);
  }
  if (/chain id/i.test(msg)) return new TxRejectedError(TxErrors.invalidChainId, msg, cause);
  if (/initcode/i.test(msg)) return new TxRejectedError(TxErrors.maxInitCodeSizeExceeded, msg, cause);
  // gas * fee cap above 2^256-1: geth builds the transaction and then finds the cost unpayable.
  if (/cannot exceed MAX_INTEGER/.test(msg))
    return new TxRejectedError(TxErrors.insufficientFunds, "tx cost exceeds 2^256-1", cause);
  return invalidTransaction(msg, cause);
}

function sameRules(tx: TypedTransaction, common: Common): boolean {
  return tx.common.chainId() === common.chainId() && tx.common.hardfork() === common.hardfork();
}

/**
 * Every check that needs no state, in go-ethereum's order (TxPool.Add type filter, the
 * known-hash shortcut, then ValidateTransaction). `given` is reused when it was built for
 * our chain rules; `sender` skips ecrecover when the caller already recovered it.
 */
export function validateStateless(
  raw: Uint8Array,
  ctx: StatelessContext,
  given?: TypedTransaction,
  sender?: Uint8Array,
): PreparedTx {
  const env = parseEnvelope(raw);
  const hash = keccak256(raw);
  const hashHex = bytesToHex(hash);
  if (ctx.isKnown(hashHex)) throw new TxRejectedError(TxErrors.alreadyKnown);
  if (raw.length > ctx.maxTxBytes) {
    throw new TxRejectedError(
      TxErrors.oversizedData,
      `transaction size ${raw.length}, limit ${ctx.maxTxBytes}`,
    );
  }
  const { layout } = env;
  const to = env.fields[layout.to] as Uint8Array;
  const data = env.fields[layout.data] as Uint8Array;
  if (to.length === 0 && ctx.common.isActivatedEIP(3860) && data.length > MAX_INITCODE_SIZE) {
    throw new TxRejectedError(
      TxErrors.maxInitCodeSizeExceeded,
      `code size ${data.length}, limit ${MAX_INITCODE_SIZE}`,
    );
  }
  const chainId = ctx.common.chainId();
  if (env.type === 0) {
    // Unprotected (v = 27/28) legacy txs are accepted, as geth's pool does; the RPC layer may refuse them.
    const v = scalar(env, layout.v);
    if (v >= 35n && (v - 35n) / 2n !== chainId) {
      throw new TxRejectedError(TxErrors.invalidChainId, `have ${(v - 35n) / 2n} want ${chainId}`);
    }
  } else {
    const have = scalar(env, layout.chainId);
    if (have !== chainId) throw new TxRejectedError(TxErrors.invalidChainId, `have ${have} want ${chainId}`);
  }
  const gasLimit = scalar(env, layout.gas);
  if (gasLimit > ctx.blockGasLimit) {
    throw new TxRejectedError(TxErrors.gasLimit, `gas ${gasLimit}, block gas limit ${ctx.blockGasLimit}`);
  }
  // EIP-7825 (Osaka): a per-transaction gas cap of 2^24, checked where geth's ValidateTransaction does.
  if (ctx.common.isActivatedEIP(7825) && gasLimit > MAX_TX_GAS_EIP7825) {
    throw new TxRejectedError(`${TxErrors.gasLimitTooHigh} (cap: ${MAX_TX_GAS_EIP7825}, tx: ${gasLimit})`);
  }
  const maxFee = scalar(env, layout.maxFee);
  const tip = scalar(env, layout.tip);
  if (tip > maxFee) {
    throw new TxRejectedError(
      TxErrors.tipAboveFeeCap,
      `maxPriorityFeePerGas: ${tip}, maxFeePerGas: ${maxFee}`,
    );
  }

  let tx: TypedTransaction;
  if (given !== undefined && sameRules(given, ctx.common)) {
    tx = given;
  } else {
    try {
      tx = createTxFromRLP(raw, { common: ctx.common });
    } catch (cause) {
      throw mapDecodeError(cause);
    }
  }
  if (!tx.isSigned()) throw new TxRejectedError(TxErrors.invalidSender, "transaction is not signed");
  // A non-canonical encoding would make our hash differ from the one the chain computes.
  if (!equalBytes(tx.hash(), hash)) throw invalidTransaction("non-canonical encoding");
  let from: Uint8Array;
  if (sender !== undefined) {
    from = sender;
  } else {
    try {
      from = tx.getSenderAddress().bytes;
    } catch (cause) {
      throw new TxRejectedError(
        TxErrors.invalidSender,
        cause instanceof Error ? cause.message : undefined,
        cause,
      );
    }
  }
  const intrinsic = tx.getIntrinsicGas();
  if (gasLimit < intrinsic) {
    throw new TxRejectedError(TxErrors.intrinsicGas, `gas ${gasLimit}, minimum needed ${intrinsic}`);
  }
  // EIP-7623 (Prague) calldata floor; ethereumjs folds it into getMinimumGasLimit.
  const floor = tx.getMinimumGasLimit();
  if (gasLimit < floor) {
    throw new TxRejectedError(TxErrors.floorDataGas, `gas ${gasLimit}, minimum needed ${floor}`);
  }
  if (tip < ctx.priceLimit) {
    throw new TxRejectedError(TxErrors.underpriced, `gas tip cap ${tip}, minimum needed ${ctx.priceLimit}`);
  }
  return {
    tx,
    raw,
    hash,
    hashHex,
    sender: from,
    senderHex: bytesToHex(from),
    nonce: scalar(env, layout.nonce),
    gasLimit,
    maxFee,
    tip,
    cost: gasLimit * maxFee + scalar(env, layout.value),
  };
}

/** Fee caps of any tx type: legacy and 2930 pay gasPrice as both cap and tip. */
export function feeCaps(tx: TypedTransaction): { maxFee: bigint; tip: bigint } {
  if ("maxFeePerGas" in tx) return { maxFee: tx.maxFeePerGas, tip: tx.maxPriorityFeePerGas };
  return { maxFee: tx.gasPrice, tip: tx.gasPrice };
}
