/**
 * Receipts as Meridian stores them: the consensus receipt fields plus what
 * JSON-RPC needs without re-execution (gas used, sender, created contract,
 * effective gas price). RLP, one list per block.
 */
import {
  bigIntToBytes,
  bytesToBigInt,
  DecodeError,
  expectBytes,
  expectList,
  rlpDecode,
  rlpEncode,
  rlpEncodeInto,
} from "@meridian/primitives";

export type StoredLog = { address: Uint8Array; topics: Uint8Array[]; data: Uint8Array };

export type StoredReceipt = {
  type: number;
  status: 0 | 1;
  cumulativeGasUsed: bigint;
  gasUsed: bigint;
  logs: StoredLog[];
  contractAddress: Uint8Array | undefined;
  effectiveGasPrice: bigint;
  from: Uint8Array;
  logsBloom: Uint8Array;
};

/** A log as the consensus receipt holds it: [address, topics, data]. */
export type LogTuple = [Uint8Array, Uint8Array[], Uint8Array];

/**
 * The bloom of every receipt without logs (a worker sends none for them). Shared, so never
 * written to: the builder ORs blooms into its own, and receipts are stored and served as read.
 */
export const ZERO_BLOOM = new Uint8Array(256);

const STATUS = [new Uint8Array(0), new Uint8Array([1])] as const;
const ZERO_BYTE = new Uint8Array([0]);

/**
 * The consensus (EIP-2718) encoding of a post-Byzantium receipt, the receipts trie's value:
 * the same bytes as @ethereumjs/vm's encodeReceipt, from one pass of Meridian's RLP encoder.
 * Like it, a cumulative gas of 0 (no transaction has that) is written as the byte 0x00.
 * With `scratch`, the encoding is written there when it fits and a view of it is returned
 * (for a caller that hashes or copies it at once); otherwise it is a new array.
 */
export function encodeConsensusReceipt(
  type: number,
  status: 0 | 1,
  cumulativeGasUsed: bigint,
  bloom: Uint8Array,
  logs: readonly LogTuple[],
  scratch?: Uint8Array,
): Uint8Array {
  const gas = cumulativeGasUsed === 0n ? ZERO_BYTE : bigIntToBytes(cumulativeGasUsed);
  const fields = [STATUS[status], gas, bloom, logs as LogTuple[]];
  const at = type === 0 ? 0 : 1;
  if (scratch) {
    const end = rlpEncodeInto(fields, scratch, at);
    if (end >= 0) {
      if (at === 1) scratch[0] = type;
      return scratch.subarray(0, end);
    }
  }
  const body = rlpEncode(fields);
  if (type === 0) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

export function encodeReceipts(receipts: readonly StoredReceipt[]): Uint8Array {
  return rlpEncode(
    receipts.map((r) => [
      bigIntToBytes(BigInt(r.type)),
      bigIntToBytes(BigInt(r.status)),
      bigIntToBytes(r.cumulativeGasUsed),
      bigIntToBytes(r.gasUsed),
      r.logs.map((l) => [l.address, l.topics, l.data]),
      r.contractAddress ?? new Uint8Array(0),
      bigIntToBytes(r.effectiveGasPrice),
      r.from,
      r.logsBloom,
    ]),
  );
}

export function decodeReceipts(bytes: Uint8Array): StoredReceipt[] {
  const list = expectList(rlpDecode(bytes), "receipts");
  return list.map((item, i) => {
    const f = expectList(item, `receipt ${i}`);
    if (f.length !== 9) throw new DecodeError(`receipt ${i}: expected 9 fields, got ${f.length}`);
    const b = (j: number) => expectBytes(f[j], `receipt ${i} field ${j}`);
    const contract = b(5);
    const status = Number(bytesToBigInt(b(1)));
    return {
      type: Number(bytesToBigInt(b(0))),
      status: status === 1 ? 1 : 0,
      cumulativeGasUsed: bytesToBigInt(b(2)),
      gasUsed: bytesToBigInt(b(3)),
      logs: expectList(f[4], "logs").map((l) => {
        const [address, topics, data] = expectList(l, "log");
        return {
          address: expectBytes(address, "log address"),
          topics: expectList(topics, "log topics").map((t) => expectBytes(t, "topic")),
          data: expectBytes(data, "log data"),
        };
      }),
      contractAddress: contract.length === 0 ? undefined : contract,
      effectiveGasPrice: bytesToBigInt(b(6)),
      from: b(7),
      logsBloom: b(8),
    };
  });
}
