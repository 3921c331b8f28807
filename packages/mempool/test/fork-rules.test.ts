import { createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import { describe, expect, it } from "vitest";
import { addrHex, CHAIN_ID, common, drain, expectRejected, setup, tx1559 } from "./helpers.ts";

const osaka = createCustomCommon({ chainId: CHAIN_ID }, Mainnet, { hardfork: Hardfork.Osaka });
const CAP = 2n ** 24n;

describe("per-fork admission rules", () => {
  it("admits a transaction over 2^24 gas under Prague and refuses it once the next block is Osaka", async () => {
    let next = common;
    const env = setup({ nextBlockCommon: () => next });
    const over = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: CAP + 1n });
    await env.pool.addRaw(over.serialize());
    expect(env.pool.status().pending).toBe(1);

    next = osaka;
    const later = tx1559(1, { nonce: 0, maxFee: 10n, tip: 1n, gas: CAP + 1n });
    await expectRejected(
      env.pool,
      () => env.pool.addRaw(later.serialize()),
      `transaction gas limit too high (cap: 16777216, tx: ${CAP + 1n})`,
    );
    // At the cap is fine.
    const atCap = tx1559(1, { nonce: 0, maxFee: 10n, tip: 1n, gas: CAP });
    await env.pool.addRaw(atCap.serialize());
    expect(env.pool.status().pending).toBe(2);
  });

  it("drops what it admitted over the cap once a committed block makes the next one Osaka", async () => {
    let next = common;
    const env = setup({ nextBlockCommon: () => next });
    await env.pool.addRaw(tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: CAP + 1n }).serialize());
    await env.pool.addRaw(tx1559(1, { nonce: 0, maxFee: 10n, tip: 1n, gas: CAP }).serialize());
    await env.pool.onBlockCommitted([]);
    expect(env.pool.status().pending).toBe(2);
    next = osaka;
    await env.pool.onBlockCommitted([]);
    expect(env.pool.status().pending).toBe(1);
    expect(drain(env.pool).map((label) => label.split(":")[0])).toEqual([addrHex(1)]);
  });

  it("checks the block gas limit before the EIP-7825 cap, as geth does", async () => {
    const env = setup({ nextBlockCommon: () => osaka });
    env.gasLimit.value = 20_000_000n;
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n, gas: 20_000_001n });
    await expectRejected(env.pool, () => env.pool.addRaw(t.serialize()), "exceeds block gas limit");
  });
});
