import { createBlock, createBlockFromRLP } from "@ethereumjs/block";
import { createTx, createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { encodeReceipt, type TxReceipt } from "@ethereumjs/vm";
import { bytesToHex } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  chainCommon,
  decodeReceipts,
  encodeConsensusReceipt,
  encodeReceipts,
  type LogTuple,
  type StoredReceipt,
} from "../src/index.ts";

const common = chainCommon({ chainId: 7331n, hardfork: "prague" });

// Valid secp256k1 private keys: 1..n-1; small range keeps the generator simple.
const keyArb = fc
  .bigInt({ min: 1n, max: 2n ** 200n })
  .map((k) => Uint8Array.from(Buffer.from(k.toString(16).padStart(64, "0"), "hex")));
const bytesArb = (max: number) => fc.uint8Array({ maxLength: max });
const addrArb = fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }), { nil: undefined });
const accessListArb = fc.array(
  fc.record({
    address: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b)),
    storageKeys: fc.array(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b)),
      { maxLength: 3 },
    ),
  }),
  { maxLength: 3 },
);

const txArb: fc.Arbitrary<TypedTransaction> = fc
  .record({
    type: fc.constantFrom(0, 1, 2),
    nonce: fc.bigInt({ min: 0n, max: 2n ** 64n - 2n }),
    gasLimit: fc.bigInt({ min: 21_000n, max: 30_000_000n }),
    fee: fc.bigInt({ min: 1n, max: 10n ** 12n }),
    tip: fc.bigInt({ min: 0n, max: 10n ** 9n }),
    value: fc.bigInt({ min: 0n, max: 2n ** 128n }),
    to: addrArb,
    data: bytesArb(64),
    accessList: accessListArb,
    key: keyArb,
  })
  .map((r) => {
    const base = { nonce: r.nonce, gasLimit: r.gasLimit, value: r.value, to: r.to, data: r.data };
    const data =
      r.type === 0
        ? { ...base, type: 0, gasPrice: r.fee }
        : r.type === 1
          ? { ...base, type: 1, gasPrice: r.fee, accessList: r.accessList, chainId: 7331n }
          : {
              ...base,
              type: 2,
              maxFeePerGas: r.fee + r.tip,
              maxPriorityFeePerGas: r.tip,
              accessList: r.accessList,
              chainId: 7331n,
            };
    return createTx(data, { common }).sign(r.key);
  });

describe("codecs", () => {
  it("signed transactions survive serialize → decode with the same hash and sender", () => {
    fc.assert(
      fc.property(txArb, (tx) => {
        const decoded = createTxFromRLP(tx.serialize(), { common });
        expect(bytesToHex(decoded.hash())).toBe(bytesToHex(tx.hash()));
        expect(decoded.getSenderAddress().toString()).toBe(tx.getSenderAddress().toString());
        expect(decoded.toJSON()).toEqual(tx.toJSON());
      }),
      { numRuns: 60 },
    );
  });

  it("blocks survive serialize → decode with the same hash", () => {
    fc.assert(
      fc.property(
        fc.array(txArb, { maxLength: 4 }),
        fc.bigInt({ min: 1n, max: 2n ** 40n }),
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        bytesArb(32),
        (txs, number, timestamp, extraData) => {
          const block = createBlock(
            {
              header: { number, timestamp, extraData, gasLimit: 30_000_000n, baseFeePerGas: 7n },
              transactions: txs,
              withdrawals: [],
            },
            { common },
          );
          const decoded = createBlockFromRLP(block.serialize(), { common });
          expect(bytesToHex(decoded.hash())).toBe(bytesToHex(block.hash()));
          expect(decoded.transactions.map((t) => bytesToHex(t.hash()))).toEqual(
            txs.map((t) => bytesToHex(t.hash())),
          );
        },
      ),
      { numRuns: 30 },
    );
  });

  it("stored receipts round-trip", () => {
    const logArb = fc.record({
      address: fc.uint8Array({ minLength: 20, maxLength: 20 }),
      topics: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 4 }),
      data: bytesArb(100),
    });
    const receiptArb: fc.Arbitrary<StoredReceipt> = fc.record({
      type: fc.constantFrom(0, 1, 2, 4),
      status: fc.constantFrom(0 as const, 1 as const),
      cumulativeGasUsed: fc.bigInt({ min: 0n, max: 2n ** 64n }),
      gasUsed: fc.bigInt({ min: 0n, max: 2n ** 64n }),
      logs: fc.array(logArb, { maxLength: 3 }),
      contractAddress: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }), { nil: undefined }),
      effectiveGasPrice: fc.bigInt({ min: 0n, max: 2n ** 64n }),
      from: fc.uint8Array({ minLength: 20, maxLength: 20 }),
      logsBloom: fc.uint8Array({ minLength: 256, maxLength: 256 }),
    });
    fc.assert(
      fc.property(fc.array(receiptArb, { maxLength: 5 }), (receipts) => {
        expect(decodeReceipts(encodeReceipts(receipts))).toEqual(receipts);
      }),
      { numRuns: 200 },
    );
    expect(() => decodeReceipts(Uint8Array.of(0xc1, 0xc0))).toThrow(/expected 9 fields/);
  });

  it("consensus receipts encode to @ethereumjs/vm's encodeReceipt bytes", () => {
    const logArb: fc.Arbitrary<LogTuple> = fc.tuple(
      fc.uint8Array({ minLength: 20, maxLength: 20 }),
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 4 }),
      bytesArb(100),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 2, 3, 4),
        fc.constantFrom(0 as const, 1 as const),
        fc.bigInt({ min: 0n, max: 2n ** 64n }),
        fc.uint8Array({ minLength: 256, maxLength: 256 }),
        fc.array(logArb, { maxLength: 3 }),
        (type, status, cumulative, bloom, logs) => {
          const receipt = { status, cumulativeBlockGasUsed: cumulative, bitvector: bloom, logs } as TxReceipt;
          const expected = encodeReceipt(receipt, type);
          expect(encodeConsensusReceipt(type, status, cumulative, bloom, logs)).toEqual(expected);
          // Written into scratch space when it fits, a new array when it does not.
          for (const scratch of [new Uint8Array(4096).fill(0xee), new Uint8Array(expected.length - 1)])
            expect(encodeConsensusReceipt(type, status, cumulative, bloom, logs, scratch)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
