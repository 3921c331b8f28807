import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex } from "@ethereumjs/util";
import {
  type BlockAccessList,
  decodeAccessList,
  decodeProposal,
  encodeAccessList,
  encodeProposal,
  ParallelExecutor,
  ReceivedAccessList,
  SequentialExecutor,
  sameReads,
  sameWrites,
} from "@meridian/executor";
import { DecodeError, rlpEncode } from "@meridian/primitives";
import * as fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOnGenesis, type Chain, call, makeChain, signTx, word } from "../helpers/executor-workloads.ts";

const bytesArb = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const valueArb = fc
  .bigInt({ min: 1n, max: (1n << 256n) - 1n })
  .map((v) =>
    Buffer.from(v.toString(16).padStart(v.toString(16).length + (v.toString(16).length % 2), "0"), "hex"),
  );
const listArb: fc.Arbitrary<BlockAccessList> = fc
  .array(
    fc.record({
      reads: fc.uniqueArray(
        fc.record({
          address: bytesArb(20),
          account: fc.boolean(),
          slots: fc.uniqueArray(bytesArb(32), { maxLength: 3, selector: (s) => bytesToHex(s) }),
        }),
        { maxLength: 4, selector: (r) => bytesToHex(r.address) },
      ),
      writes: fc.uniqueArray(
        fc.oneof(
          fc.record({
            address: bytesArb(20),
            destroyed: fc.constant(true as const),
            storage: fc.constant([]),
          }),
          fc.record(
            {
              address: bytesArb(20),
              balance: fc.bigInt({ min: 0n, max: 1n << 200n }),
              nonce: fc.bigInt({ min: 0n, max: 1n << 63n }),
              code: fc.uint8Array({ maxLength: 40 }),
              storageCleared: fc.constant(true as const),
              storage: fc.uniqueArray(
                fc.record({ slot: bytesArb(32), value: fc.oneof(fc.constant(new Uint8Array(0)), valueArb) }),
                {
                  maxLength: 3,
                  selector: (s) => bytesToHex(s.slot),
                },
              ),
            },
            { requiredKeys: ["address", "storage"] },
          ),
        ),
        { maxLength: 4, selector: (w) => bytesToHex(w.address) },
      ),
    }),
    { maxLength: 5 },
  )
  .map((txs) => {
    const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);
    return {
      txs: txs.map((t) => ({
        reads: t.reads
          .map((r) => ({ ...r, account: r.account || r.slots.length === 0, slots: [...r.slots].sort(cmp) }))
          .sort((a, b) => cmp(a.address, b.address)),
        writes: t.writes
          .filter((w) => "destroyed" in w || w.storage.length > 0 || Object.keys(w).length > 2)
          .map((w) => ({ ...w, storage: [...w.storage].sort((a, b) => cmp(a.slot, b.slot)) }))
          .sort((a, b) => cmp(a.address, b.address)),
      })),
    } as BlockAccessList;
  });

describe("block access list codec", () => {
  it("round-trips canonical lists", () => {
    fc.assert(
      fc.property(listArb, (list) => {
        const bytes = encodeAccessList(list);
        const back = decodeAccessList(bytes);
        expect(encodeAccessList(back)).toEqual(bytes);
      }),
      { seed: 7331, numRuns: 200 },
    );
  });

  it("field-by-field comparison agrees with comparing encodings", () => {
    const rlpOf = (t: BlockAccessList["txs"][number]) => encodeAccessList({ txs: [t] });
    fc.assert(
      fc.property(listArb, listArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (a, other, pos, byte) => {
        // Partners: the same list decoded again, a one-byte mutation that still decodes, an unrelated list.
        const bytes = encodeAccessList(a);
        const mutated = Uint8Array.from(bytes);
        if (mutated.length > 0) mutated[pos % mutated.length] = byte;
        const partners = [decodeAccessList(bytes), other];
        try {
          partners.push(decodeAccessList(mutated));
        } catch {}
        for (const b of partners) {
          for (const [i, x] of a.txs.entries()) {
            const y = b.txs[i];
            if (!y) continue;
            const same = sameReads(x.reads, y.reads) && sameWrites(x.writes, y.writes);
            expect(same).toBe(Buffer.from(rlpOf(x)).equals(Buffer.from(rlpOf(y))));
          }
        }
      }),
      { seed: 7331, numRuns: 300 },
    );
  });

  it("rejects malformed input with a DecodeError, never anything else", () => {
    fc.assert(
      fc.property(listArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (list, pos, byte) => {
        const bytes = encodeAccessList(list);
        const mutated = Uint8Array.from(bytes);
        if (mutated.length > 0) mutated[pos % mutated.length] = byte;
        for (const input of [
          mutated,
          bytes.subarray(0, Math.max(0, bytes.length - 1 - (pos % 3))),
          new Uint8Array([...bytes, 0]),
        ]) {
          try {
            const back = decodeAccessList(input);
            // Anything accepted must be canonical.
            expect(encodeAccessList(back)).toEqual(input);
          } catch (err) {
            expect(err).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { seed: 42, numRuns: 300 },
    );
    // Non-canonical forms.
    const addr = new Uint8Array(20).fill(1);
    const bad = [
      rlpEncode([[[[addr, Uint8Array.of(2), []]], []]]),
      rlpEncode([[[], [[addr, Uint8Array.of(64), [], [], [], []]]]]),
      rlpEncode([[[], [[addr, Uint8Array.of(1), Uint8Array.of(0, 1), [], [], []]]]]),
      rlpEncode([
        [
          [
            [addr, Uint8Array.of(1), []],
            [addr, Uint8Array.of(1), []],
          ],
          [],
        ],
      ]),
      rlpEncode([[[], [[addr, Uint8Array.of(0), [], [], [], []]]]]),
      Uint8Array.of(0xc1),
    ];
    for (const b of bad) expect(() => decodeAccessList(b)).toThrow(DecodeError);
  });

  it("a list as received accepts and rejects exactly what decodeAccessList does, entry by entry", () => {
    const outcome = <T>(f: () => T): { ok: T } | { error: unknown } => {
      try {
        return { ok: f() };
      } catch (error) {
        expect(error).toBeInstanceOf(DecodeError);
        return { error };
      }
    };
    fc.assert(
      fc.property(listArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (list, pos, byte) => {
        const bytes = encodeAccessList(list);
        const mutated = Uint8Array.from(bytes);
        if (mutated.length > 0) mutated[pos % mutated.length] = byte;
        for (const input of [bytes, mutated, new Uint8Array([...bytes, 0])]) {
          const whole = outcome(() => decodeAccessList(input).txs);
          const byEntry = outcome(() => {
            const received = new ReceivedAccessList(input);
            return Array.from({ length: received.length }, (_, i) => received.entry(i));
          });
          expect("ok" in byEntry).toBe("ok" in whole);
          if ("ok" in whole && "ok" in byEntry) {
            expect(byEntry.ok).toEqual(whole.ok);
            expect(new ReceivedAccessList(input).txs).toEqual(whole.ok);
          }
        }
      }),
      { seed: 4242, numRuns: 300 },
    );
    // The list's own header in long form for a short list: not canonical.
    expect(() => new ReceivedAccessList(Uint8Array.of(0xf8, 0x01, 0xc0))).toThrow(DecodeError);
    expect(() => decodeAccessList(Uint8Array.of(0xf8, 0x01, 0xc0))).toThrow(DecodeError);
  });

  it("names where a malformed list fails: transaction, entry and field", () => {
    const addr = new Uint8Array(20).fill(1);
    const read = (slots: Uint8Array[]) => [addr, Uint8Array.of(1), slots];
    const okTx = [[read([])], []];
    const shortSlot = rlpEncode([
      okTx,
      [[read([]), [new Uint8Array(20).fill(2), EMPTY_FLAG, [new Uint8Array(31)]]], []],
    ]);
    expect(() => decodeAccessList(shortSlot)).toThrow(
      /access list tx 1: read 1: slot: expected 32 bytes, got 31/,
    );
    const zeroLed = rlpEncode([[[], [[addr, Uint8Array.of(1), Uint8Array.of(0, 1), [], [], []]]]]);
    expect(() => decodeAccessList(zeroLed)).toThrow(
      /access list tx 0: write 0: balance: non-canonical integer/,
    );
  });
});

const EMPTY_FLAG = new Uint8Array(0);

// --- execution equivalence ----------------------------------------------------------

type Op =
  | { k: "eth"; from: number; to: number; value: number }
  | { k: "erc20"; from: number; to: number; value: number }
  | { k: "hot"; from: number }
  | { k: "restore"; from: number }
  | { k: "relay-hot"; from: number }
  | { k: "create"; from: number; salt: number; kill: boolean; value: number }
  | { k: "revert"; from: number }
  | { k: "oog"; from: number }
  | { k: "to-coinbase"; from: number; value: number }
  | { k: "read-coinbase"; from: number }
  | { k: "precompile"; from: number; which: number }
  | { k: "zero-call"; from: number; to: number }
  | { k: "deploy"; from: number };

const N_KEYS = 6;
const who = fc.integer({ min: 0, max: N_KEYS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant("eth" as const),
    from: who,
    to: fc.integer({ min: 0, max: N_KEYS + 3 }),
    value: fc.integer({ min: 0, max: 1000 }),
  }),
  fc.record({
    k: fc.constant("erc20" as const),
    from: who,
    to: fc.integer({ min: 0, max: N_KEYS + 3 }),
    value: fc.integer({ min: 0, max: 2_000_000 }),
  }),
  fc.record({ k: fc.constant("hot" as const), from: who }),
  fc.record({ k: fc.constant("restore" as const), from: who }),
  fc.record({ k: fc.constant("relay-hot" as const), from: who }),
  fc.record({
    k: fc.constant("create" as const),
    from: who,
    salt: fc.integer({ min: 0, max: 3 }),
    kill: fc.boolean(),
    value: fc.integer({ min: 0, max: 5 }),
  }),
  fc.record({ k: fc.constant("revert" as const), from: who }),
  fc.record({ k: fc.constant("oog" as const), from: who }),
  fc.record({ k: fc.constant("to-coinbase" as const), from: who, value: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ k: fc.constant("read-coinbase" as const), from: who }),
  fc.record({ k: fc.constant("precompile" as const), from: who, which: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ k: fc.constant("zero-call" as const), from: who, to: fc.integer({ min: 0, max: N_KEYS + 3 }) }),
  fc.record({ k: fc.constant("deploy" as const), from: who }),
);

function recipient(chain: Chain, i: number): Uint8Array {
  if (i < N_KEYS) return chain.senders[i] as Uint8Array;
  const a = new Uint8Array(20);
  a[0] = 0xee;
  a[19] = i;
  return a;
}

function relayCall(target: Uint8Array, data: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(data.length / 32) * 32);
  padded.set(data);
  return new Uint8Array([
    ...call("relay(address,bytes)", target, 0x40n),
    ...word(BigInt(data.length)),
    ...padded,
  ]);
}

function toTxs(chain: Chain, ops: Op[]): TypedTransaction[] {
  const nonces = new Array<bigint>(N_KEYS).fill(0n);
  const c = chain.contracts;
  return ops.map((op) => {
    const n = nonces[op.from] as bigint;
    nonces[op.from] = n + 1n;
    const s = (to: Uint8Array | undefined, o: Parameters<typeof signTx>[4]) =>
      signTx(chain, op.from, n, to, o);
    switch (op.k) {
      case "eth":
        return s(recipient(chain, op.to), { value: BigInt(op.value) });
      case "erc20":
        return s(c.Token.address, {
          data: call("transfer(address,uint256)", recipient(chain, op.to), BigInt(op.value)),
          gasLimit: 80_000n,
        });
      case "hot":
        return s(c.Hot.address, { data: call("bump()"), gasLimit: 60_000n });
      case "restore":
        return s(c.Hot.address, { data: call("blip()"), gasLimit: 60_000n });
      case "relay-hot":
        return s(c.Relay.address, { data: relayCall(c.Hot.address, call("bump()")), gasLimit: 100_000n });
      case "create":
        return s(c.Factory.address, {
          data: call("make(uint256,bool)", BigInt(op.salt), op.kill ? 1n : 0n),
          value: BigInt(op.value),
          gasLimit: 300_000n,
        });
      case "revert":
        return s(c.Factory.address, { data: call("fail()"), gasLimit: 50_000n });
      case "oog":
        return s(c.Factory.address, { data: call("burn()"), gasLimit: 40_000n });
      case "to-coinbase":
        return s(chain.coinbase, { value: BigInt(op.value) });
      case "read-coinbase":
        return s(c.Relay.address, { data: call("readCoinbase()"), gasLimit: 60_000n });
      case "precompile": {
        const to = new Uint8Array(20);
        to[19] = op.which;
        return s(to, { data: new Uint8Array(64).fill(op.which), gasLimit: 200_000n });
      }
      case "zero-call":
        return s(op.to % 2 === 0 ? c.Hot.address : recipient(chain, op.to), { value: 0n, gasLimit: 60_000n });
      case "deploy":
        // Initcode returning a 1-byte runtime (STOP).
        return s(undefined, { data: Buffer.from("600160005360016000f3", "hex"), gasLimit: 100_000n });
    }
    throw new Error("unknown op");
  });
}

describe("ParallelExecutor", () => {
  let chain: Chain;
  const validators = new Map<number, ParallelExecutor>();
  let builder: ParallelExecutor;
  let sequential: SequentialExecutor;

  beforeAll(async () => {
    chain = await makeChain(N_KEYS);
    sequential = new SequentialExecutor(chain.common);
    builder = new ParallelExecutor(chain.common, { workers: 2 });
    for (const w of [1, 2, 4]) validators.set(w, new ParallelExecutor(chain.common, { workers: w }));
    await Promise.all([builder.ready(), ...[...validators.values()].map((v) => v.ready())]);
  });
  afterAll(async () => {
    await builder?.close();
    for (const v of validators.values()) await v.close();
  });

  const buildBlock = (ops: Op[]) => buildOnGenesis(chain, builder, toTxs(chain, ops));

  it("agrees with sequential when transactions write and restore a slot (EIP-2200 original value)", async () => {
    const ops: Op[] = [
      { k: "hot", from: 0 },
      { k: "restore", from: 1 },
      { k: "hot", from: 2 },
      { k: "restore", from: 3 },
      { k: "restore", from: 0 },
    ];
    const built = await buildBlock(ops);
    expect(built.block.transactions.length).toBe(ops.length);
    const seq = await sequential.execute(built.block, chain.genesis, chain.fresh());
    expect(built.receipts).toEqual(seq.receipts);
    for (const [, v] of validators) {
      const res = await v.validate(built.block, built.accessList, chain.genesis, chain.fresh());
      expect(res.receipts).toEqual(seq.receipts);
    }
  });

  it("parallel build, parallel validation (1/2/4 workers) and sequential execution agree", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        const built = await buildBlock(ops);
        const { block, accessList } = built;
        const seq = await sequential.execute(block, chain.genesis, chain.fresh());
        const seqRoot = await seq.state.getStateRoot();
        expect(bytesToHex(seqRoot)).toBe(bytesToHex(block.header.stateRoot));
        expect(built.receipts).toEqual(seq.receipts);
        // Through the wire format.
        const proposal = decodeProposal(encodeProposal(block, accessList), chain.common);
        expect(bytesToHex(proposal.block.hash())).toBe(bytesToHex(block.hash()));
        for (const [, v] of validators) {
          const res = await v.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh());
          expect(bytesToHex(await res.state.getStateRoot())).toBe(bytesToHex(seqRoot));
          expect(res.receipts).toEqual(seq.receipts);
        }
      }),
      { seed: 20240601, numRuns: 12 },
    );
  });

  it("rejects tampered access lists", async () => {
    const built = await buildBlock([
      { k: "erc20", from: 1, to: 2, value: 5 },
      { k: "hot", from: 2 },
      { k: "eth", from: 3, to: 8, value: 7 },
      { k: "hot", from: 4 },
    ]);
    const v = validators.get(2) as ParallelExecutor;
    const reseal = async (list: BlockAccessList) => {
      const { createBlock } = await import("@ethereumjs/block");
      const { accessListHash } = await import("@meridian/executor");
      const block = createBlock(
        {
          header: { ...built.block.header.toJSON(), extraData: accessListHash(list) },
          transactions: built.block.transactions,
          withdrawals: [],
        },
        { common: chain.common },
      );
      return v.validate(block, list, chain.genesis, chain.fresh());
    };
    const clone = () => decodeAccessList(encodeAccessList(built.accessList));
    // One slot value changed.
    const changed = clone();
    const slotWrite = changed.txs.flatMap((t) => t.writes).find((w) => w.storage.length > 0);
    expect(slotWrite).toBeDefined();
    if (slotWrite)
      slotWrite.storage[0] = { slot: slotWrite.storage[0]?.slot as Uint8Array, value: Uint8Array.of(0x42) };
    await expect(reseal(changed)).rejects.toMatchObject({ code: "BAL_WRITES_MISMATCH" });
    // One read dropped.
    const dropped = clone();
    dropped.txs[0]?.reads.pop();
    await expect(reseal(dropped)).rejects.toMatchObject({ code: expect.stringMatching(/^BAL_/) });
    // One write dropped.
    const droppedW = clone();
    droppedW.txs[1]?.writes.pop();
    await expect(reseal(droppedW)).rejects.toMatchObject({ code: "BAL_WRITES_MISMATCH" });
    // One extra read.
    const extra = clone();
    extra.txs[2]?.reads.push({ address: new Uint8Array(20).fill(0xff), account: true, slots: [] });
    await expect(reseal(extra)).rejects.toMatchObject({ code: "BAL_READS_MISMATCH" });
    // The list must match the header commitment.
    await expect(v.validate(built.block, extra, chain.genesis, chain.fresh())).rejects.toMatchObject({
      code: "BAL_HASH_MISMATCH",
    });
    // The untampered list passes.
    await expect(
      v.validate(built.block, built.accessList, chain.genesis, chain.fresh()),
    ).resolves.toBeDefined();
  });

  it("rejects a header whose transactions, receipts or logs commitments are wrong (1 and 2 workers)", async () => {
    const built = await buildBlock([
      { k: "erc20", from: 1, to: 2, value: 5 },
      { k: "eth", from: 3, to: 8, value: 7 },
      { k: "hot", from: 4 },
    ]);
    const { createBlock } = await import("@ethereumjs/block");
    const withHeader = (fields: Record<string, unknown>) =>
      createBlock(
        {
          header: { ...built.block.header.toJSON(), ...fields },
          transactions: built.block.transactions,
          withdrawals: [],
        },
        { common: chain.common },
      );
    const wrong = `0x${"ab".repeat(32)}`;
    // With one worker this thread hashes the transactions root, with two the last worker does.
    for (const w of [1, 2]) {
      const v = validators.get(w) as ParallelExecutor;
      const validate = (block: ReturnType<typeof withHeader>) =>
        v.validate(block, built.accessList, chain.genesis, chain.fresh());
      await expect(validate(withHeader({ transactionsTrie: wrong }))).rejects.toMatchObject({
        code: "TX_ROOT_MISMATCH",
      });
      await expect(validate(withHeader({ receiptTrie: wrong }))).rejects.toMatchObject({
        code: "RECEIPTS_ROOT_MISMATCH",
      });
      await expect(validate(withHeader({ logsBloom: `0x${"ff".repeat(256)}` }))).rejects.toMatchObject({
        code: "BLOOM_MISMATCH",
      });
      await expect(validate(withHeader({}))).resolves.toBeDefined();
    }
  });

  it("builds a block whose transactions all conflict mostly on this thread, probing parallelism less and less", async () => {
    const ops: Op[] = Array.from({ length: 800 }, (_, i) => ({ k: "hot" as const, from: i % N_KEYS }));
    const built = await buildBlock(ops);
    expect(built.block.transactions).toHaveLength(ops.length);
    const { speculative, sequential: onMain } = builder.lastBuild;
    // Each probe that finds mostly conflicts lets the next stretch on this thread grow (64, 256,
    // 1024, ...): three small probes for 800 transactions, where a probe every other window
    // would have speculated on half of them.
    expect(speculative).toBeLessThan(ops.length / 3);
    expect(onMain).toBeGreaterThan((2 * ops.length) / 3);
    const seq = await sequential.execute(built.block, chain.genesis, chain.fresh());
    expect(bytesToHex(await seq.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
    expect(built.receipts).toEqual(seq.receipts);
  });

  it("does not recover again on the workers a sender recovered at admission", async () => {
    const ops: Op[] = Array.from({ length: 12 }, (_, i) => ({
      k: "eth" as const,
      from: i % N_KEYS,
      to: 7,
      value: 1,
    }));
    const admitted = toTxs(chain, ops);
    // What mempool admission does: recover once; the frozen transaction keeps the key.
    for (const tx of admitted) tx.getSenderAddress();
    const a = await buildOnGenesis(chain, builder, admitted);
    expect(builder.lastBuild.speculative).toBe(ops.length);
    expect(builder.lastBuild.recoveredOnWorkers).toBe(0);
    // The same transactions decoded afresh carry no key (the source only names the sender's
    // address): the workers recover every sender.
    const decoded = admitted.map((tx) => createTxFromRLP(tx.serialize(), { common: chain.common }));
    const b = await buildOnGenesis(
      chain,
      builder,
      decoded,
      admitted.map((tx) => tx.getSenderAddress().bytes),
    );
    expect(builder.lastBuild.recoveredOnWorkers).toBe(ops.length);
    expect(bytesToHex(a.block.hash())).toBe(bytesToHex(b.block.hash()));
    expect(a.senders.map((s) => bytesToHex(s))).toEqual(
      admitted.map((tx) => tx.getSenderAddress().toString()),
    );
  });

  it("survives a worker crash by re-running the batch on the main thread", async () => {
    const built = await buildBlock([
      { k: "eth", from: 1, to: 2, value: 1 },
      { k: "eth", from: 2, to: 3, value: 1 },
      { k: "erc20", from: 3, to: 1, value: 1 },
    ]);
    // With two workers the crashed worker's batch also had its receipts' leaves to hash there.
    for (const workers of [1, 2]) {
      const v = new ParallelExecutor(chain.common, { workers });
      await v.ready();
      v.crashWorker(0);
      const res = await v.validate(built.block, built.accessList, chain.genesis, chain.fresh());
      expect(bytesToHex(await res.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
      // The replacement worker keeps serving.
      const again = await v.validate(built.block, built.accessList, chain.genesis, chain.fresh());
      expect(again.receipts).toEqual(res.receipts);
      await v.close();
    }
  });

  it("hashes receipt leaves here when the worker that ran a batch no longer has its receipts", async () => {
    const built = await buildBlock([
      { k: "eth", from: 1, to: 2, value: 1 },
      { k: "erc20", from: 2, to: 3, value: 2 },
      { k: "hot", from: 3 },
      { k: "eth", from: 4, to: 1, value: 3 },
      { k: "erc20", from: 5, to: 4, value: 1 },
    ]);
    const v = new ParallelExecutor(chain.common, { workers: 2 });
    try {
      const normal = await v.validate(built.block, built.accessList, chain.genesis, chain.fresh());
      // A replaced worker starts empty: here every leaves request fails as it then would.
      const pool = (v as unknown as { pool: { receiptLeaves: (...args: unknown[]) => Promise<Uint8Array> } })
        .pool;
      const asked: unknown[][] = [];
      pool.receiptLeaves = async (...args: unknown[]) => {
        asked.push(args);
        throw new Error("no receipts kept under key");
      };
      const fallback = await v.validate(built.block, built.accessList, chain.genesis, chain.fresh());
      expect(asked.length).toBeGreaterThan(0);
      expect(fallback.receipts).toEqual(normal.receipts);
      expect(bytesToHex(await fallback.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
    } finally {
      await v.close();
    }
  });
});
