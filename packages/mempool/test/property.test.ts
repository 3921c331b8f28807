import type { TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TxRejectedError } from "../src/index.ts";
import { addr, addrHex, ETH, setup, tx1559 } from "./helpers.ts";

const SENDERS = 4;
const NONCES = 8;

// Signing dominates the cost, so every candidate tx is signed once up front.
// Variant 1 is a valid >=10% replacement of variant 0; variant 2 has a low fee cap.
const signed: TypedTransaction[][][] = Array.from({ length: SENDERS }, (_, s) =>
  Array.from({ length: NONCES }, (_, n) => {
    const tip = BigInt(1 + ((s * 7 + n * 3) % 20));
    return [
      tx1559(s, { nonce: n, maxFee: 100n, tip }),
      tx1559(s, { nonce: n, maxFee: 200n, tip: tip * 2n }),
      tx1559(s, { nonce: n, maxFee: 30n + tip, tip }),
    ];
  }),
);

const arbOp = fc.record({
  sender: fc.integer({ min: 0, max: SENDERS - 1 }),
  nonce: fc.integer({ min: 0, max: NONCES - 1 }),
  variant: fc.integer({ min: 0, max: 2 }),
});

// Mostly contiguous runs per sender (so iteration has depth), plus random gaps and replacements,
// submitted in a random order.
const arbOps = fc
  .tuple(
    fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: NONCES }), {
      minLength: SENDERS,
      maxLength: SENDERS,
    }),
    fc.array(arbOp, { maxLength: 15 }),
  )
  .chain(([runs, extra]) => {
    const ops = runs.flatMap((variants, sender) =>
      variants.map((variant, nonce) => ({ sender, nonce, variant })),
    );
    const all = [...ops, ...extra];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
  });

const arbLimit = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(64));

describe("pending() property", () => {
  it("never yields a sender's nonce n+1 before n, nor a nonce gap", async () => {
    await fc.assert(
      fc.asyncProperty(
        arbOps,
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: SENDERS, maxLength: SENDERS }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: SENDERS, maxLength: SENDERS }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.integer({ min: 0, max: 150 }),
        fc.record({ globalSlots: arbLimit, globalQueue: arbLimit }),
        async (ops, startNonces, minedNonces, pops, baseFee, limits) => {
          const { pool, state } = setup({ ...limits, accountSlots: 4, accountQueue: 5 });
          for (const [s, n] of startNonces.entries()) state.set(addr(s), BigInt(n), ETH);
          for (const op of ops) {
            await pool.addRaw(signed[op.sender]![op.nonce]![op.variant]!.serialize()).catch((e: unknown) => {
              if (!(e instanceof TxRejectedError)) throw e;
            });
          }
          checkPool(pool, startNonces, limits);

          // A block advances some senders; the pool must rebuild consistent runs.
          const heads = startNonces.map((n, s) => Math.max(n, minedNonces[s]!));
          for (const [s, n] of heads.entries()) state.set(addr(s), BigInt(n), ETH);
          await pool.onBlockCommitted([]);
          checkPool(pool, heads, limits);

          const it = pool.pending(BigInt(baseFee));
          const next = new Map<string, bigint>(heads.map((n, s) => [addrHex(s), BigInt(n)]));
          const skipped = new Set<string>();
          let i = 0;
          for (let p = it.peek(); p !== undefined; p = it.peek()) {
            const who = bytesToHex(p.sender);
            expect(skipped.has(who)).toBe(false);
            expect(p.tx.nonce).toBe(next.get(who));
            expect(pool.has(p.hash)).toBe(true);
            if (pops[i++ % Math.max(pops.length, 1)] === true) {
              it.pop();
              skipped.add(who);
            } else {
              it.shift();
              next.set(who, p.tx.nonce + 1n);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** Pool invariants: counts match content, pending runs are contiguous from the state nonce, limits hold. */
function checkPool(
  pool: ReturnType<typeof setup>["pool"],
  stateNonces: number[],
  limits: { globalSlots: number; globalQueue: number },
): void {
  const { pending, queued } = pool.content();
  const count = (m: Map<string, Map<string, unknown>>) => [...m.values()].reduce((a, b) => a + b.size, 0);
  expect(pool.status()).toEqual({ pending: count(pending), queued: count(queued) });
  expect(pool.status().pending).toBeLessThanOrEqual(limits.globalSlots);
  expect(pool.status().queued).toBeLessThanOrEqual(limits.globalQueue);
  for (let s = 0; s < SENDERS; s++) {
    const run = [...(pending.get(addrHex(s))?.keys() ?? [])].map(BigInt);
    run.forEach((n, k) => {
      expect(n).toBe(BigInt(stateNonces[s]!) + BigInt(k));
    });
    const q = [...(queued.get(addrHex(s))?.keys() ?? [])].map(BigInt);
    expect(q.length).toBeLessThanOrEqual(5);
    for (const n of q) expect(n).toBeGreaterThanOrEqual(BigInt(stateNonces[s]!));
  }
}
