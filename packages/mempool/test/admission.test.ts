import { RLP } from "@ethereumjs/rlp";
import { bigIntToBytes, bytesToHex, concatBytes, equalBytes, rlpEncode } from "@meridian/primitives";
import { beforeEach, describe, expect, it } from "vitest";
import { TxErrors, TxRejectedError } from "../src/index.ts";
import {
  addr,
  addrHex,
  type Env,
  ETH,
  expectRejected,
  otherChain,
  preEip155,
  setup,
  tx1559,
  tx2930,
  txLegacy,
} from "./helpers.ts";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Re-encodes a signed 1559 tx with some RLP fields overwritten (signature is not redone). */
function tamper1559(raw: Uint8Array, patch: Record<number, Uint8Array>): Uint8Array {
  const fields = RLP.decode(raw.subarray(1)) as Uint8Array[];
  for (const [i, v] of Object.entries(patch)) fields[Number(i)] = v;
  return concatBytes(new Uint8Array([2]), RLP.encode(fields));
}

describe("admission", () => {
  let env: Env;
  beforeEach(() => {
    env = setup();
  });

  it("admits legacy (EIP-155), 2930 and 1559 txs and recovers the sender once", async () => {
    const { pool } = env;
    const a = txLegacy(0, { nonce: 0, gasPrice: 10n });
    const b = tx2930(1, { nonce: 0, gasPrice: 10n });
    const c = tx1559(2, { nonce: 0, maxFee: 10n, tip: 2n });
    for (const [i, t] of [a, b, c].entries()) {
      const res = await pool.addRaw(t.serialize());
      expect(equalBytes(res.hash, t.hash())).toBe(true);
      expect(equalBytes(res.sender, addr(i))).toBe(true);
      const pooled = pool.get(t.hash());
      expect(pooled?.tx.nonce).toBe(0n);
      expect(equalBytes(pooled!.sender, addr(i))).toBe(true);
      expect(equalBytes(pooled!.raw!, t.serialize())).toBe(true);
      expect(pooled!.addedAt).toBeGreaterThan(0);
    }
    expect(pool.status()).toEqual({ pending: 3, queued: 0 });
  });

  it("accepts unprotected (pre-EIP-155) legacy txs, as geth's pool does", async () => {
    const t = txLegacy(0, { nonce: 0, gasPrice: 10n }, preEip155);
    expect(t.v === 27n || t.v === 28n).toBe(true);
    const res = await env.pool.addRaw(t.serialize());
    expect(bytesToHex(res.sender)).toBe(addrHex(0));
  });

  it("add() takes a decoded tx and a pre-recovered sender", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n });
    const res = await env.pool.add(t, addr(0));
    expect(env.pool.has(res.hash)).toBe(true);
    expect(env.pool.get(res.hash)?.tx).toBe(t);
  });

  it("rejects malformed RLP with geth's bare decoder message (no prefix)", async () => {
    const { pool } = env;
    for (const raw of [
      new Uint8Array(),
      new Uint8Array([0xf8, 0x01]),
      new Uint8Array([0x02, 0xc0]),
      rlpEncode([1n, 2n]),
    ]) {
      const err = await pool.addRaw(raw).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TxRejectedError);
      expect((err as TxRejectedError).code).toBe("TX_REJECTED");
      expect((err as TxRejectedError).shortMessage).toMatch(/^(rlp: |typed transaction too short$)/);
    }
    expect(pool.status()).toEqual({ pending: 0, queued: 0 });
  });

  it("uses geth's messages for uint64 overflows, the max nonce and malformed access lists", async () => {
    // Checked on the envelope, before the signature: r = s = 1 is enough.
    const raw = (f: { nonce?: bigint; gas?: bigint; al?: unknown[] }) =>
      concatBytes(
        new Uint8Array([2]),
        rlpEncode([
          7331n,
          f.nonce ?? 0n,
          1n,
          10n,
          f.gas ?? 21000n,
          addr(1),
          0n,
          new Uint8Array(),
          (f.al ?? []) as never,
          0n,
          1n,
          1n,
        ]),
      );
    const cases: [Uint8Array, string][] = [
      [raw({ nonce: 2n ** 64n - 1n }), "nonce has max value"],
      [
        raw({ nonce: 2n ** 64n }),
        "rlp: input string too long for uint64, decoding into (types.DynamicFeeTx).Nonce",
      ],
      [
        raw({ gas: 2n ** 64n }),
        "rlp: input string too long for uint64, decoding into (types.DynamicFeeTx).Gas",
      ],
      [
        raw({ al: [addr(1)] }),
        "rlp: expected input list for types.AccessTuple, decoding into (types.DynamicFeeTx).AccessList[0]",
      ],
      [
        raw({ al: [[addr(1)]] }),
        "rlp: too few elements for types.AccessTuple, decoding into (types.DynamicFeeTx).AccessList[0]",
      ],
      [
        raw({ al: [[new Uint8Array(19), []]] }),
        "rlp: input string too short for common.Address, decoding into (types.DynamicFeeTx).AccessList[0].Address",
      ],
      [
        raw({ al: [[addr(1), [new Uint8Array(33)]]] }),
        "rlp: input string too long for common.Hash, decoding into (types.DynamicFeeTx).AccessList[0].StorageKeys[0]",
      ],
      [
        raw({ al: [[addr(1), addr(2)]] }),
        "rlp: expected input list for []common.Hash, decoding into (types.DynamicFeeTx).AccessList[0].StorageKeys",
      ],
    ];
    for (const [bytes, message] of cases)
      await expectRejected(env.pool, () => env.pool.addRaw(bytes), message);
  });

  it("rejects blob and unknown tx types: transaction type not supported", async () => {
    const blobish = concatBytes(new Uint8Array([3]), rlpEncode([7331n, 0n]));
    await expectRejected(env.pool, () => env.pool.addRaw(blobish), TxErrors.typeNotSupported);
    const unknown = concatBytes(new Uint8Array([0x05]), rlpEncode([]));
    await expectRejected(env.pool, () => env.pool.addRaw(unknown), TxErrors.typeNotSupported);
  });

  it("rejects oversized data", async () => {
    const small = setup({ maxTxBytes: 200 });
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 100_000n, data: new Uint8Array(300) });
    await expectRejected(small.pool, () => small.pool.addRaw(t.serialize()), TxErrors.oversizedData);
    // The default limit is 128 KiB.
    const big = tx1559(0, {
      nonce: 0,
      maxFee: 10n,
      tip: 1n,
      gas: 29_000_000n,
      data: new Uint8Array(131_073),
    });
    await expectRejected(env.pool, () => env.pool.addRaw(big.serialize()), TxErrors.oversizedData);
  });

  it("rejects initcode above the EIP-3860 limit", async () => {
    const t = tx1559(
      0,
      { nonce: 0, maxFee: 10n, tip: 1n, gas: 29_000_000n, to: null, data: new Uint8Array(49_153).fill(1) },
      undefined,
      { allowUnlimitedInitCodeSize: true },
    );
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.maxInitCodeSizeExceeded);
  });

  it("rejects a foreign chain id (typed and EIP-155 legacy)", async () => {
    const typed = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n }, otherChain);
    await expectRejected(env.pool, () => env.pool.addRaw(typed.serialize()), TxErrors.invalidChainId);
    await expectRejected(env.pool, () => env.pool.add(typed), TxErrors.invalidChainId);
    const legacy = txLegacy(0, { nonce: 0, gasPrice: 10n }, otherChain);
    await expectRejected(env.pool, () => env.pool.addRaw(legacy.serialize()), TxErrors.invalidChainId);
  });

  it("rejects bad signatures: invalid sender", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n });
    const highS = tamper1559(t.serialize(), {
      9: bigIntToBytes(t.v! ^ 1n),
      11: bigIntToBytes(SECP256K1_N - t.s!),
    });
    await expectRejected(env.pool, () => env.pool.addRaw(highS), TxErrors.invalidSender);
    const badParity = tamper1559(t.serialize(), { 9: bigIntToBytes(2n) });
    await expectRejected(env.pool, () => env.pool.addRaw(badParity), TxErrors.invalidSender);
    const zeroR = tamper1559(t.serialize(), { 10: new Uint8Array() });
    await expectRejected(env.pool, () => env.pool.addRaw(zeroR), TxErrors.invalidSender);
  });

  it("rejects gas above the block gas limit", async () => {
    env.gasLimit.value = 100_000n;
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 100_001n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.gasLimit);
  });

  it("rejects a tip above the fee cap", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n });
    // ethereumjs refuses to build such a tx, so swap the fee fields in the encoding.
    const raw = tamper1559(t.serialize(), { 2: bigIntToBytes(11n) });
    await expectRejected(env.pool, () => env.pool.addRaw(raw), TxErrors.tipAboveFeeCap);
  });

  it("rejects too little intrinsic gas, including the initcode word cost", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 20_999n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.intrinsicGas);
    // Create: 21000 + 32000 + 64 * 16 calldata + 2 * 2 initcode words = 54028.
    const create = tx1559(0, {
      nonce: 0,
      maxFee: 10n,
      tip: 1n,
      gas: 54_027n,
      to: null,
      data: new Uint8Array(64).fill(1),
    });
    expect(create.getIntrinsicGas()).toBe(54_028n);
    await expectRejected(env.pool, () => env.pool.addRaw(create.serialize()), TxErrors.intrinsicGas);
  });

  it("rejects gas below the EIP-7623 calldata floor (Prague)", async () => {
    // 1000 non-zero bytes: intrinsic 37000, floor 21000 + 40 * 1000 = 61000.
    const data = new Uint8Array(1000).fill(1);
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 50_000n, data });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.floorDataGas);
    const ok = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 61_000n, data });
    await env.pool.addRaw(ok.serialize());
  });

  it("rejects a tip below the price limit: transaction underpriced", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 0n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.underpriced);
    const strict = setup({ priceLimit: 5n });
    const legacy = txLegacy(0, { nonce: 0, gasPrice: 4n });
    await expectRejected(strict.pool, () => strict.pool.addRaw(legacy.serialize()), TxErrors.underpriced);
    await strict.pool.addRaw(txLegacy(0, { nonce: 0, gasPrice: 5n }).serialize());
  });

  it("rejects a tx already in the pool, also when submitted concurrently", async () => {
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n });
    const results = await Promise.allSettled([
      env.pool.addRaw(t.serialize()),
      env.pool.addRaw(t.serialize()),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((rejected.reason as TxRejectedError).shortMessage).toBe(TxErrors.alreadyKnown);
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.alreadyKnown);
  });

  it("rejects a nonce below the state nonce", async () => {
    env.state.set(addr(0), 5n, ETH);
    const t = tx1559(0, { nonce: 4, maxFee: 10n, tip: 1n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.nonceTooLow);
  });

  it("rejects insufficient funds, counting the sender's pending spend", async () => {
    // cost = gas * maxFee + value = 21000 * 10 + 1000 = 211000
    env.state.set(addr(0), 0n, 211_000n * 2n - 1n);
    const t0 = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, value: 1000n });
    await env.pool.addRaw(t0.serialize());
    const t1 = tx1559(0, { nonce: 1, maxFee: 10n, tip: 1n, value: 1000n });
    await expectRejected(env.pool, () => env.pool.addRaw(t1.serialize()), TxErrors.insufficientFunds);
    env.state.set(addr(1), 0n, 209_999n);
    const t = tx1559(1, { nonce: 0, maxFee: 10n, tip: 1n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), TxErrors.insufficientFunds);
  });

  it("rejects a same-nonce replacement without the price bump", async () => {
    await env.pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 10n }).serialize());
    const low = tx1559(0, { nonce: 0, maxFee: 109n, tip: 11n });
    await expectRejected(env.pool, () => env.pool.addRaw(low.serialize()), TxErrors.replaceUnderpriced);
  });

  it("rejects when the pool is full and nothing cheaper can be evicted", async () => {
    const { pool } = setup({ globalSlots: 2 });
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 10n, tip: 5n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 10n, tip: 5n }).serialize());
    // Only the sender's own txs are there: geth's ErrTxPoolOverflow.
    const own = tx1559(0, { nonce: 2, maxFee: 10n, tip: 9n });
    await expectRejected(pool, () => pool.addRaw(own.serialize()), TxErrors.txPoolOverflow);
    // Another sender no better than the cheapest: geth's priced-list ErrUnderpriced.
    const cheap = tx1559(1, { nonce: 0, maxFee: 10n, tip: 5n });
    await expectRejected(pool, () => pool.addRaw(cheap.serialize()), TxErrors.underpriced);
  });

  it("rejects a future tx past the per-account queue limit", async () => {
    const { pool } = setup({ accountQueue: 2 });
    await pool.addRaw(tx1559(0, { nonce: 5, maxFee: 10n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 6, maxFee: 10n, tip: 1n }).serialize());
    const t = tx1559(0, { nonce: 7, maxFee: 10n, tip: 1n });
    await expectRejected(pool, () => pool.addRaw(t.serialize()), TxErrors.accountLimitExceeded);
    // A lower nonce is more useful: it displaces the sender's highest queued nonce instead.
    await pool.addRaw(tx1559(0, { nonce: 4, maxFee: 10n, tip: 1n }).serialize());
    expect([...pool.content().queued.get(addrHex(0))!.keys()]).toEqual(["4", "5"]);
  });
});
