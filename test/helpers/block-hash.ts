import { type Hex, keccak256, toRlp } from "viem";

/** A block exactly as eth_getBlockByNumber returns it on the wire (hex strings). */
export type RawBlock = Record<string, unknown> & { hash: Hex; number: Hex; parentHash: Hex };

// RLP integers are minimal big-endian; zero is the empty string.
function rlpInt(v: unknown): Hex {
  const n = BigInt(v as string);
  if (n === 0n) return "0x";
  const h = n.toString(16);
  return `0x${h.length % 2 ? `0${h}` : h}`;
}

/**
 * keccak(RLP(header)) recomputed from the RPC fields, in the post-Prague field order.
 * Optional trailing fields are included only when the node reports them (forks add them in order).
 */
export function computeBlockHash(b: RawBlock): Hex {
  const fields: Hex[] = [
    b.parentHash,
    b.sha3Uncles as Hex,
    b.miner as Hex,
    b.stateRoot as Hex,
    b.transactionsRoot as Hex,
    b.receiptsRoot as Hex,
    b.logsBloom as Hex,
    rlpInt(b.difficulty),
    rlpInt(b.number),
    rlpInt(b.gasLimit),
    rlpInt(b.gasUsed),
    rlpInt(b.timestamp),
    b.extraData as Hex,
    b.mixHash as Hex,
    b.nonce as Hex,
  ];
  const optional: [string, boolean][] = [
    ["baseFeePerGas", true],
    ["withdrawalsRoot", false],
    ["blobGasUsed", true],
    ["excessBlobGas", true],
    ["parentBeaconBlockRoot", false],
    ["requestsHash", false],
  ];
  for (const [key, isInt] of optional) {
    const v = b[key];
    if (v === undefined || v === null) break;
    fields.push(isInt ? rlpInt(v) : (v as Hex));
  }
  return keccak256(toRlp(fields));
}
