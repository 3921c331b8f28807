/**
 * Fuzz inputs: valid encodings built once from fixed keys (the seed corpus), and mutations of
 * them (bit flips, overwritten bytes, truncation, insertions, deletions, length prefixes blown up
 * to claim gigabytes). Random bytes alone rarely get past the first RLP header; mutated valid
 * ones reach the field checks behind it.
 */
import { createBlock } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { createTx, type TypedTransaction } from "@ethereumjs/tx";
import type { AccountRead, AccountWrite, BlockAccessList } from "@meridian/executor";
import type { RlpInput } from "@meridian/primitives";
import fc from "fast-check";

type Mutation =
  | { kind: "flip"; pos: number; bit: number }
  | { kind: "set"; pos: number; byte: number }
  | { kind: "truncate"; len: number }
  | { kind: "insert"; pos: number; bytes: Uint8Array }
  | { kind: "delete"; pos: number; len: number }
  | { kind: "hugeLength"; pos: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), len: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    pos: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("hugeLength" as const), pos: fc.nat() }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : ("pos" in m ? m.pos : 0) % b.length;
    switch (m.kind) {
      case "flip":
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case "set":
        if (b.length > 0) b[at] = m.byte;
        break;
      case "truncate":
        b = b.subarray(0, b.length === 0 ? 0 : m.len % b.length);
        break;
      case "insert":
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      case "delete":
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.len)]);
        break;
      case "hugeLength":
        // A long-form string or list header claiming ~4 GiB of payload.
        b = Uint8Array.from([
          ...b.subarray(0, at),
          b[at]! >= 0xc0 ? 0xfb : 0xbb,
          0xff,
          0xff,
          0xff,
          0xf0,
          ...b.subarray(at + 1),
        ]);
        break;
    }
  }
  return b;
}

/** Either one of `seeds` mutated a few times, or random bytes. */
export function mutatedOrRandom(seeds: readonly Uint8Array[], maxRandom = 512): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...seeds), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
        .map(([s, ms]) => mutate(s, ms)),
    },
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }) },
  );
}

/** Nested RLP structures (the law: a decoded input re-encodes to itself). */
export const rlpValueArb: fc.Arbitrary<RlpInput> = fc.letrec<{ v: RlpInput }>((tie) => ({
  v: fc.oneof({ depthSize: "small" }, fc.uint8Array({ maxLength: 70 }), fc.array(tie("v"), { maxLength: 5 })),
})).v;

const key = (i: number): Uint8Array => {
  const k = new Uint8Array(32);
  k[31] = i + 1;
  k[0] = 0x42;
  return k;
};

/** Signed transactions of every supported type, deterministic. */
export function seedTransactions(common: Common): TypedTransaction[] {
  const to = `0x${"22".repeat(20)}` as const;
  const accessList = [{ address: to, storageKeys: [`0x${"00".repeat(31)}01` as const] }];
  const base = { nonce: 3n, gasLimit: 60_000n, to, value: 7n, data: Uint8Array.of(1, 2, 3, 4) };
  const txs = [
    createTx({ ...base, type: 0, gasPrice: 10n ** 9n }, { common }),
    createTx({ ...base, type: 1, gasPrice: 10n ** 9n, accessList, chainId: common.chainId() }, { common }),
    createTx(
      {
        ...base,
        type: 2,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 10n ** 9n,
        accessList,
        chainId: common.chainId(),
      },
      { common },
    ),
    createTx(
      { ...base, type: 0, to: undefined, gasPrice: 10n ** 9n, data: new Uint8Array(40).fill(0x60) },
      { common },
    ),
  ];
  return txs.map((t, i) => t.sign(key(i)));
}

/** Blocks holding the seed transactions (and one empty), serialised. */
export function seedBlocks(common: Common, txs: readonly TypedTransaction[]): Uint8Array[] {
  const header = { number: 1n, gasLimit: 30_000_000n, timestamp: 1_700_000_000n, baseFeePerGas: 7n };
  return [
    createBlock({ header, transactions: [...txs] }, { common }).serialize(),
    createBlock({ header, transactions: [] }, { common }).serialize(),
  ];
}

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function sortedBy<T>(items: T[], key: (t: T) => Uint8Array): T[] {
  return items.sort((a, b) => Buffer.compare(key(a), key(b)));
}

function minimalBytes(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array();
  const hex = n.toString(16);
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"));
}

const readArb: fc.Arbitrary<AccountRead> = fc.record({
  address: bytesN(20),
  account: fc.boolean(),
  slots: fc.uniqueArray(bytesN(32), { maxLength: 3, selector: hexOf }).map((s) => sortedBy(s, (x) => x)),
});

const writeArb: fc.Arbitrary<AccountWrite> = fc
  .record({
    address: bytesN(20),
    balance: fc.option(fc.bigInt({ min: 0n, max: 2n ** 128n }), { nil: undefined }),
    nonce: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }),
    storage: fc.uniqueArray(
      fc.record({ slot: bytesN(32), value: fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }) }),
      {
        maxLength: 3,
        selector: (w) => hexOf(w.slot),
      },
    ),
  })
  .map((w) => {
    const out: AccountWrite = {
      address: w.address,
      storage: sortedBy(
        w.storage.map((s) => ({ slot: s.slot, value: minimalBytes(s.value) })),
        (s) => s.slot,
      ),
    };
    if (w.balance !== undefined) out.balance = w.balance;
    if (w.nonce !== undefined) out.nonce = w.nonce;
    return out;
  });

/** Block access lists with sorted, distinct keys (canonical, as encodeAccessList expects). */
export const accessListArb: fc.Arbitrary<BlockAccessList> = fc
  .array(
    fc.record({
      reads: fc.uniqueArray(readArb, { maxLength: 3, selector: (r) => hexOf(r.address) }),
      writes: fc.uniqueArray(writeArb, { maxLength: 3, selector: (w) => hexOf(w.address) }),
    }),
    { maxLength: 4 },
  )
  .map((txs) => ({
    txs: txs.map((t) => ({
      reads: sortedBy(t.reads, (r) => r.address),
      writes: sortedBy(t.writes, (w) => w.address),
    })),
  }));
