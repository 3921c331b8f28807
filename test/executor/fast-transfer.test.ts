/**
 * The transfer fast path (plain value transfers run without the EVM) must be
 * indistinguishable from running them on the EVM: same block, same access
 * list, same rejections with the same reasons, and sequential execution of
 * the block agrees.
 */
import {
  createAccessList2930Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
  type TypedTransaction,
} from "@ethereumjs/tx";
import { bytesToHex } from "@ethereumjs/util";
import { encodeAccessList, ParallelExecutor, SequentialExecutor } from "@meridian/executor";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOnGenesis, type Chain, makeChain } from "../helpers/executor-workloads.ts";

const N_KEYS = 4;

type Transfer = {
  from: number;
  /** 0..3 senders (0 is the fee recipient), 4 fresh, 5 precompile, 6 contract, 7 the sender itself. */
  to: number;
  type: 0 | 1 | 2;
  value: "zero" | "one" | "all";
  nonce: "next" | "gap";
  gas: "exact" | "short" | "more";
  fee: "below-base" | "at-base" | "normal";
  tip: "none" | "some" | "capped";
  accessList: boolean;
};

const transferArb: fc.Arbitrary<Transfer> = fc.record({
  from: fc.integer({ min: 0, max: N_KEYS - 1 }),
  to: fc.integer({ min: 0, max: 7 }),
  type: fc.constantFrom(0 as const, 1 as const, 2 as const),
  value: fc.constantFrom("zero" as const, "one" as const, "all" as const),
  nonce: fc.constantFrom("next" as const, "next" as const, "next" as const, "gap" as const),
  gas: fc.constantFrom("exact" as const, "exact" as const, "short" as const, "more" as const),
  fee: fc.constantFrom("normal" as const, "normal" as const, "at-base" as const, "below-base" as const),
  tip: fc.constantFrom("none" as const, "some" as const, "capped" as const),
  accessList: fc.boolean(),
});

describe("transfer fast path", () => {
  let chain: Chain;
  let fast: ParallelExecutor;
  let evm: ParallelExecutor;
  let validator: ParallelExecutor;
  let sequential: SequentialExecutor;

  beforeAll(async () => {
    chain = await makeChain(N_KEYS);
    fast = new ParallelExecutor(chain.common, { workers: 0 });
    evm = new ParallelExecutor(chain.common, { workers: 0, fastTransfers: false });
    validator = new ParallelExecutor(chain.common, { workers: 2 });
    sequential = new SequentialExecutor(chain.common);
    await validator.ready();
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), evm?.close(), validator?.close()]);
  });

  function recipient(from: number, to: number): Uint8Array {
    if (to < N_KEYS) return chain.senders[to] as Uint8Array;
    if (to === 7) return chain.senders[from] as Uint8Array;
    const a = new Uint8Array(20);
    if (to === 4) a.fill(0x5a);
    else if (to === 5)
      a[19] = 4; // identity precompile
    else return chain.contracts.Token.address;
    return a;
  }

  function toTxs(transfers: Transfer[]): TypedTransaction[] {
    const baseFee = chain.genesis.header.calcNextBaseFee();
    const nonces = new Array<bigint>(N_KEYS).fill(0n);
    return transfers.map((t) => {
      const nonce = (nonces[t.from] as bigint) + (t.nonce === "gap" ? 1n : 0n);
      if (t.nonce === "next") nonces[t.from] = nonce + 1n;
      const maxFee =
        t.fee === "below-base" ? baseFee - 1n : t.fee === "at-base" ? baseFee : 10n * baseFee + 7n;
      const tip = t.tip === "none" ? 0n : t.tip === "some" ? 3n : maxFee;
      const data = {
        nonce,
        to: recipient(t.from, t.to),
        // "all": the whole genesis balance, which leaves nothing for gas.
        value: t.value === "zero" ? 0n : t.value === "one" ? 1n : 0x21e19e0c9bab2400000n,
        gasLimit: t.gas === "exact" ? 21_000n : t.gas === "short" ? 20_999n : 50_000n,
        chainId: chain.common.chainId(),
        accessList: t.accessList ? [{ address: bytesToHex(recipient(t.from, 4)), storageKeys: [] }] : [],
      };
      const key = chain.keys[t.from] as Uint8Array;
      const opts = { common: chain.common };
      if (t.type === 0) return createLegacyTx({ ...data, gasPrice: maxFee }, opts).sign(key);
      if (t.type === 1) return createAccessList2930Tx({ ...data, gasPrice: maxFee }, opts).sign(key);
      return createFeeMarket1559Tx({ ...data, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip }, opts).sign(
        key,
      );
    });
  }

  const build = (executor: ParallelExecutor, txs: TypedTransaction[]) => buildOnGenesis(chain, executor, txs);

  it("builds the same block, access list and rejections as the EVM path", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(transferArb, { minLength: 1, maxLength: 24 }), async (transfers) => {
        const txs = toTxs(transfers);
        const a = await build(fast, txs);
        const b = await build(evm, txs);
        expect(bytesToHex(a.block.hash())).toBe(bytesToHex(b.block.hash()));
        expect(bytesToHex(encodeAccessList(a.accessList))).toBe(bytesToHex(encodeAccessList(b.accessList)));
        expect(a.receipts).toEqual(b.receipts);
        expect(a.rejected.map((r) => [bytesToHex(r.hash), r.reason])).toEqual(
          b.rejected.map((r) => [bytesToHex(r.hash), r.reason]),
        );
        // The EVM-built block validates on workers running the fast path, and sequentially.
        const v = await validator.validate(b.block, b.accessList, chain.genesis, chain.fresh());
        expect(v.receipts).toEqual(b.receipts);
        const s = await sequential.execute(b.block, chain.genesis, chain.fresh());
        expect(s.receipts).toEqual(b.receipts);
      }),
      { seed: 7331, numRuns: 60 },
    );
  });

  it("sends an Osaka transfer over EIP-7825's 2^24 gas cap to the EVM path, which refuses it", async () => {
    expect(chain.common.isActivatedEIP(7825)).toBe(true);
    // Built with Prague rules (a pool admits it before the fork), built into a block under Osaka.
    const prague = chain.common.copy();
    prague.setHardfork("prague");
    const over = createFeeMarket1559Tx(
      {
        nonce: 0n,
        to: recipient(0, 4),
        value: 1n,
        gasLimit: 2n ** 24n + 1n,
        maxFeePerGas: 10n * chain.genesis.header.calcNextBaseFee(),
        maxPriorityFeePerGas: 1n,
        chainId: chain.common.chainId(),
      },
      { common: prague },
    ).sign(chain.keys[0] as Uint8Array);
    const before = { ...fast.mainThreadRuns };
    const built = await build(fast, [over]);
    expect(built.block.transactions).toHaveLength(0);
    expect(built.rejected.map((r) => r.reason).join()).toMatch(/EIP-7825|gas limit/i);
    expect(fast.mainThreadRuns.fast - before.fast).toBe(0);
  });

  it("takes the fast path for plain transfers (a block of them needs no EVM call)", async () => {
    const txs = toTxs(
      [1, 2, 3].map((from) => ({
        from,
        to: 4,
        type: 2 as const,
        value: "one" as const,
        nonce: "next" as const,
        gas: "exact" as const,
        fee: "normal" as const,
        tip: "some" as const,
        accessList: false,
      })),
    );
    const before = { ...fast.mainThreadRuns };
    const built = await build(fast, txs);
    expect(built.block.transactions.length).toBe(3);
    expect(fast.mainThreadRuns.fast - before.fast).toBe(3);
    expect(fast.mainThreadRuns.evm - before.evm).toBe(0);
    const slowBefore = { ...evm.mainThreadRuns };
    const slow = await build(evm, txs);
    expect(evm.mainThreadRuns.evm - slowBefore.evm).toBe(3);
    expect(bytesToHex(built.block.hash())).toBe(bytesToHex(slow.block.hash()));
  });
});
