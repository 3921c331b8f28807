import { bytesToHex } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import { type PooledTx, TxErrors } from "../src/index.ts";
import { addr, addrHex, drain, ETH, expectRejected, setup, tx1559, tx2930, txLegacy } from "./helpers.ts";

const label = (i: number, n: number) => `${addrHex(i)}:${n}`;

describe("nonce queues", () => {
  it("queues a nonce gap and promotes the run once the gap is filled", async () => {
    const { pool } = setup();
    const events: PooledTx[] = [];
    pool.on("pending", (p) => events.push(p));
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 2, maxFee: 10n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 3, maxFee: 10n, tip: 1n }).serialize());
    expect(pool.status()).toEqual({ pending: 1, queued: 2 });
    expect(await pool.pendingNonce(addr(0))).toBe(1n);
    expect([...pool.content().queued.get(addrHex(0))!.keys()]).toEqual(["2", "3"]);
    expect(events.map((e) => e.tx.nonce)).toEqual([0n]);

    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 10n, tip: 1n }).serialize());
    expect(pool.status()).toEqual({ pending: 4, queued: 0 });
    expect(events.map((e) => e.tx.nonce)).toEqual([0n, 1n, 2n, 3n]);
    expect(await pool.pendingNonce(addr(0))).toBe(4n);
    expect([...pool.content().pending.get(addrHex(0))!.keys()]).toEqual(["0", "1", "2", "3"]);
  });

  it("starts a sender's run at its state nonce", async () => {
    const { pool, state } = setup();
    state.set(addr(0), 7n, ETH);
    expect(await pool.pendingNonce(addr(0))).toBe(7n);
    await pool.addRaw(tx1559(0, { nonce: 8, maxFee: 10n, tip: 1n }).serialize());
    expect(pool.status()).toEqual({ pending: 0, queued: 1 });
    await pool.addRaw(tx1559(0, { nonce: 7, maxFee: 10n, tip: 1n }).serialize());
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
    expect(await pool.pendingNonce(addr(0))).toBe(9n);
  });

  it("off() stops events and a throwing listener does not break admission", async () => {
    const { pool } = setup();
    const seen: bigint[] = [];
    const listener = (p: PooledTx) => seen.push(p.tx.nonce);
    pool.on("pending", () => {
      throw new Error("boom");
    });
    pool.on("pending", listener);
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n }).serialize());
    pool.off("pending", listener);
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 10n, tip: 1n }).serialize());
    expect(seen).toEqual([0n]);
    expect(pool.status().pending).toBe(2);
  });

  it("clear() empties the pool", async () => {
    const { pool } = setup();
    const t = tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n });
    await pool.addRaw(t.serialize());
    pool.clear();
    expect(pool.status()).toEqual({ pending: 0, queued: 0 });
    expect(pool.has(t.hash())).toBe(false);
    await pool.addRaw(t.serialize());
  });
});

describe("replacement", () => {
  it("accepts exactly a 10% bump in both fee cap and tip, rejects anything less", async () => {
    const { pool } = setup();
    const events: PooledTx[] = [];
    pool.on("pending", (p) => events.push(p));
    const old = tx1559(0, { nonce: 0, maxFee: 100n, tip: 10n });
    await pool.addRaw(old.serialize());
    for (const [maxFee, tip] of [
      [109n, 11n],
      [110n, 10n],
      [1000n, 10n],
    ] as const) {
      const t = tx1559(0, { nonce: 0, maxFee, tip });
      await expectRejected(pool, () => pool.addRaw(t.serialize()), TxErrors.replaceUnderpriced);
    }
    const bumped = tx1559(0, { nonce: 0, maxFee: 110n, tip: 11n });
    await pool.addRaw(bumped.serialize());
    expect(pool.has(old.hash())).toBe(false);
    expect(pool.has(bumped.hash())).toBe(true);
    expect(pool.status()).toEqual({ pending: 1, queued: 0 });
    expect(events.map((e) => bytesToHex(e.hash))).toEqual([
      bytesToHex(old.hash()),
      bytesToHex(bumped.hash()),
    ]);
  });

  it("requires strictly higher caps even when the percentage rounds down", async () => {
    const { pool } = setup();
    await pool.addRaw(txLegacy(0, { nonce: 0, gasPrice: 5n }).serialize());
    // 5 * 110 / 100 = 5: geth still demands a strictly higher price.
    const same = txLegacy(0, { nonce: 0, gasPrice: 5n, value: 1n });
    await expectRejected(pool, () => pool.addRaw(same.serialize()), TxErrors.replaceUnderpriced);
    await pool.addRaw(txLegacy(0, { nonce: 0, gasPrice: 6n }).serialize());
  });

  it("replaces queued txs in place and honours a custom bump", async () => {
    const { pool } = setup({ priceBump: 50 });
    await pool.addRaw(tx2930(0, { nonce: 3, gasPrice: 100n }).serialize());
    const low = tx2930(0, { nonce: 3, gasPrice: 149n });
    await expectRejected(pool, () => pool.addRaw(low.serialize()), TxErrors.replaceUnderpriced);
    await pool.addRaw(tx2930(0, { nonce: 3, gasPrice: 150n }).serialize());
    expect(pool.status()).toEqual({ pending: 0, queued: 1 });
  });

  it("checks the bumped cost against the balance", async () => {
    const { pool, state } = setup();
    state.set(addr(0), 0n, 21_000n * 100n);
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 10n }).serialize());
    const t = tx1559(0, { nonce: 0, maxFee: 110n, tip: 11n });
    await expectRejected(pool, () => pool.addRaw(t.serialize()), TxErrors.insufficientFunds);
  });
});

describe("pending iterator", () => {
  it("orders by effective tip across senders and by nonce within a sender", async () => {
    const { pool } = setup();
    // Sender 0: a cheap head blocks its expensive second tx.
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 5n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 100n, tip: 50n }).serialize());
    await pool.addRaw(txLegacy(1, { nonce: 0, gasPrice: 20n }).serialize());
    await pool.addRaw(txLegacy(1, { nonce: 1, gasPrice: 20n }).serialize());
    await pool.addRaw(tx2930(2, { nonce: 0, gasPrice: 30n }).serialize());
    expect(drain(pool)).toEqual([label(2, 0), label(1, 0), label(1, 1), label(0, 0), label(0, 1)]);
  });

  it("uses the effective tip at the given base fee and skips txs that cannot pay it", async () => {
    const { pool } = setup();
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 30n }).serialize()); // eff 30 @ 10, 0 @ 100
    await pool.addRaw(txLegacy(1, { nonce: 0, gasPrice: 25n }).serialize()); // eff 15 @ 10
    await pool.addRaw(tx1559(2, { nonce: 0, maxFee: 1000n, tip: 20n }).serialize()); // eff 20
    await pool.addRaw(tx1559(3, { nonce: 0, maxFee: 5n, tip: 5n }).serialize()); // below base fee 10
    await pool.addRaw(tx1559(3, { nonce: 1, maxFee: 500n, tip: 500n }).serialize()); // blocked by nonce 0
    expect(drain(pool, 10n)).toEqual([label(0, 0), label(2, 0), label(1, 0)]);
    expect(drain(pool, 85n)).toEqual([label(2, 0), label(0, 0)]);
    // Equal effective tips (20 @ 80): arrival order decides.
    expect(drain(pool, 80n)).toEqual([label(0, 0), label(2, 0)]);
    expect(drain(pool, 0n)).toEqual([label(0, 0), label(1, 0), label(2, 0), label(3, 0), label(3, 1)]);
  });

  it("shift() advances within a sender; pop() drops the sender's remaining txs", async () => {
    const { pool } = setup();
    for (const n of [0, 1, 2]) await pool.addRaw(tx1559(0, { nonce: n, maxFee: 100n, tip: 50n }).serialize());
    for (const n of [0, 1]) await pool.addRaw(tx1559(1, { nonce: n, maxFee: 100n, tip: 10n }).serialize());
    const it = pool.pending(0n);
    const seen: string[] = [];
    const take = () => {
      const p = it.peek();
      if (p !== undefined) seen.push(`${bytesToHex(p.sender)}:${p.tx.nonce}`);
      return p;
    };
    take();
    it.shift(); // accept sender 0 nonce 0
    take();
    it.pop(); // sender 0 nonce 1 failed: nonce 2 must not follow
    take();
    it.shift();
    take();
    it.shift();
    expect(it.peek()).toBeUndefined();
    it.shift(); // no-ops when exhausted
    it.pop();
    expect(seen).toEqual([label(0, 0), label(0, 1), label(1, 0), label(1, 1)]);
    // Iteration does not consume the pool.
    expect(pool.status().pending).toBe(5);
  });

  it("breaks price ties by arrival order", async () => {
    const { pool } = setup();
    await pool.addRaw(tx1559(3, { nonce: 0, maxFee: 10n, tip: 2n }).serialize());
    await pool.addRaw(tx1559(1, { nonce: 0, maxFee: 10n, tip: 2n }).serialize());
    await pool.addRaw(tx1559(2, { nonce: 0, maxFee: 10n, tip: 2n }).serialize());
    expect(drain(pool)).toEqual([label(3, 0), label(1, 0), label(2, 0)]);
  });
});

describe("limits and eviction", () => {
  it("evicts the cheapest pending tx of another sender, from the tail of its run", async () => {
    const { pool } = setup({ globalSlots: 4 });
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 100n, tip: 2n }).serialize());
    await pool.addRaw(tx1559(1, { nonce: 0, maxFee: 100n, tip: 3n }).serialize());
    const mid = tx1559(2, { nonce: 0, maxFee: 100n, tip: 4n });
    await pool.addRaw(mid.serialize());
    // Full. Sender 0's tail (nonce 1, tip 2) is the cheapest evictable tail; its nonce 0 stays.
    await pool.addRaw(tx1559(3, { nonce: 0, maxFee: 100n, tip: 10n }).serialize());
    expect(pool.status()).toEqual({ pending: 4, queued: 0 });
    expect([...pool.content().pending.get(addrHex(0))!.keys()]).toEqual(["0"]);
    // Next eviction takes sender 0's last tx.
    await pool.addRaw(tx1559(4, { nonce: 0, maxFee: 100n, tip: 10n }).serialize());
    expect(pool.content().pending.has(addrHex(0))).toBe(false);
    // Not better than the cheapest remaining (tip 3): underpriced, nothing changes.
    const cheap = tx1559(5, { nonce: 0, maxFee: 100n, tip: 3n });
    await expectRejected(pool, () => pool.addRaw(cheap.serialize()), TxErrors.underpriced);
    expect(pool.has(mid.hash())).toBe(true);
  });

  it("a sender at its accountSlots share can only evict senders above theirs", async () => {
    const { pool } = setup({ globalSlots: 3, accountSlots: 1 });
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(1, { nonce: 0, maxFee: 100n, tip: 1n }).serialize());
    // Sender 1 (at quota) may evict sender 0's tail (sender 0 is above quota).
    await pool.addRaw(tx1559(1, { nonce: 1, maxFee: 100n, tip: 5n }).serialize());
    expect([...pool.content().pending.get(addrHex(0))!.keys()]).toEqual(["0"]);
    // Now every other sender is within quota: sender 1 cannot grow further.
    const t = tx1559(1, { nonce: 2, maxFee: 100n, tip: 50n });
    await expectRejected(pool, () => pool.addRaw(t.serialize()), TxErrors.txPoolOverflow);
    // A sender under its quota still can evict.
    await pool.addRaw(tx1559(2, { nonce: 0, maxFee: 100n, tip: 50n }).serialize());
    expect(pool.status()).toEqual({ pending: 3, queued: 0 });
  });

  it("evicts the cheapest queued tx when the global queue is full", async () => {
    const { pool } = setup({ globalQueue: 2 });
    await pool.addRaw(tx1559(0, { nonce: 5, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(1, { nonce: 5, maxFee: 100n, tip: 3n }).serialize());
    await pool.addRaw(tx1559(2, { nonce: 5, maxFee: 100n, tip: 2n }).serialize());
    expect(pool.status()).toEqual({ pending: 0, queued: 2 });
    expect([...pool.content().queued.keys()].sort()).toEqual([addrHex(1), addrHex(2)].sort());
    const cheap = tx1559(3, { nonce: 5, maxFee: 100n, tip: 2n });
    await expectRejected(pool, () => pool.addRaw(cheap.serialize()), TxErrors.underpriced);
  });

  it("promotion stops at globalSlots and the rest waits in the queue", async () => {
    const { pool, state } = setup({ globalSlots: 2 });
    await pool.addRaw(tx1559(0, { nonce: 1, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 2, maxFee: 100n, tip: 1n }).serialize());
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 1n }).serialize());
    expect(pool.status()).toEqual({ pending: 2, queued: 1 });
    // Nonce 0 gets mined: a slot frees and nonce 2 is promoted.
    state.set(addr(0), 1n, ETH);
    await pool.onBlockCommitted([]);
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
  });
});

describe("onBlockCommitted", () => {
  it("drops included and stale txs, unaffordable txs, over-limit txs, and promotes/demotes", async () => {
    const { pool, state, gasLimit } = setup();
    const a = [0, 1, 2].map((n) => tx1559(0, { nonce: n, maxFee: 100n, tip: 1n }));
    const a4 = tx1559(0, { nonce: 4, maxFee: 100n, tip: 1n });
    for (const t of [...a, a4]) await pool.addRaw(t.serialize());
    const b = [0, 1, 2].map((n) => tx1559(1, { nonce: n, maxFee: 10n, tip: 1n, value: n === 1 ? ETH : 0n }));
    for (const t of b) await pool.addRaw(t.serialize());
    const c = tx1559(2, { nonce: 0, maxFee: 10n, tip: 1n, gas: 50_000n });
    await pool.addRaw(c.serialize());
    expect(pool.status()).toEqual({ pending: 7, queued: 1 });

    const events: PooledTx[] = [];
    pool.on("pending", (p) => events.push(p));
    // Block: sender 0's nonces 0..3 (3 came from elsewhere); sender 1 now cannot afford nonce 1;
    // the gas limit drops below c's gas.
    state.set(addr(0), 4n, ETH);
    state.set(addr(1), 0n, ETH / 2n);
    gasLimit.value = 40_000n;
    await pool.onBlockCommitted([a[0]!.hash(), a[1]!.hash()]);

    for (const t of [...a, b[1]!, c]) expect(pool.has(t.hash())).toBe(false);
    const content = pool.content();
    expect([...content.pending.get(addrHex(0))!.keys()]).toEqual(["4"]);
    expect([...content.pending.get(addrHex(1))!.keys()]).toEqual(["0"]);
    expect([...content.queued.get(addrHex(1))!.keys()]).toEqual(["2"]); // demoted behind the gap
    expect(content.pending.has(addrHex(2))).toBe(false);
    expect(pool.status()).toEqual({ pending: 2, queued: 1 });
    expect(events.map((e) => bytesToHex(e.hash))).toEqual([bytesToHex(a4.hash())]);
    expect(await pool.pendingNonce(addr(0))).toBe(5n);
    expect(await pool.pendingNonce(addr(1))).toBe(1n);
  });

  it("re-admits the same nonce after a drop and keeps unrelated senders", async () => {
    const { pool, state } = setup();
    const t = tx1559(0, { nonce: 0, maxFee: 100n, tip: 1n });
    const other = tx1559(1, { nonce: 0, maxFee: 100n, tip: 1n });
    await pool.addRaw(t.serialize());
    await pool.addRaw(other.serialize());
    state.set(addr(0), 1n, ETH);
    await pool.onBlockCommitted([t.hash()]);
    expect(pool.has(other.hash())).toBe(true);
    expect(pool.status()).toEqual({ pending: 1, queued: 0 });
    await expectRejected(pool, () => pool.addRaw(t.serialize()), TxErrors.nonceTooLow);
  });

  it("trims queues that exceed their limits after demotion", async () => {
    const { pool, state } = setup({ accountQueue: 1 });
    const txs = [0, 1, 2].map((n) =>
      tx1559(0, { nonce: n, maxFee: 100n, tip: 1n, value: n === 0 ? ETH : 0n }),
    );
    for (const t of txs) await pool.addRaw(t.serialize());
    // Nonce 0 becomes unaffordable: 1 and 2 are demoted, then the queue is trimmed to one.
    state.set(addr(0), 0n, ETH / 2n);
    await pool.onBlockCommitted([]);
    expect(pool.status()).toEqual({ pending: 0, queued: 1 });
    expect(pool.has(txs[1]!.hash())).toBe(true);
    // Filling the gap promotes the survivor.
    await pool.addRaw(tx1559(0, { nonce: 0, maxFee: 100n, tip: 2n }).serialize());
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
  });
});
