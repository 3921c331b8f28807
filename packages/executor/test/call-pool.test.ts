import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Block, createBlock } from "@ethereumjs/block";
import { Account, Address, bytesToBigInt, hexToBytes } from "@ethereumjs/util";
import { keccak256 } from "@meridian/primitives";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORKER_CODE_CACHE } from "../src/call-pool/remote-state.ts";
import {
  buildGenesis,
  type CallJob,
  type CallOutput,
  CallPool,
  chainCommon,
  type JobContext,
  parseGenesis,
} from "../src/index.ts";

const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
// Prague: Osaka's 2^24 per-call gas cap (EIP-7825) would end the 50M-gas loops below by out of
// gas before their deadlines, and the deadlines are what these tests are about.
const spec = { ...parseGenesis(genesisJson, "devnet.json"), hardfork: "prague", schedule: [] };
const common = chainCommon(spec);

/** Init code that jumps back to its start forever: JUMPDEST PUSH1 0 JUMP. */
const LOOP = hexToBytes("0x5b600056");
/** Returns NUMBER and BLOCKHASH(NUMBER - 1): NUMBER PUSH1 1 SWAP1 SUB BLOCKHASH PUSH1 0 MSTORE NUMBER PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN. */
const NUMBER_AND_PARENT_HASH = hexToBytes("0x4360019003406000524360205260406000f3");
/** Hash the test's chain gives block n. */
const fakeHash = (n: bigint) => keccak256(new TextEncoder().encode(`block ${n}`));

let dir: string;
let db: ChainDatabase;
let store: FlatStateStore;
let root: Uint8Array;
let context: Block;
let pool: CallPool;

const ctx: JobContext = {
  state: async () => new FlatStateManager(store, root),
  blockHash: async (n) => fakeHash(n),
};

function callJob(data: Uint8Array, gas = 50_000_000n): CallJob {
  return {
    kind: "call",
    header: { hash: context.hash(), rlp: context.header.serialize() },
    input: { data, gas },
    gasCap: gas,
  };
}

/** The loop with gas no machine burns within these tests' deadlines (50M runs out in ~1-3 s). */
const endlessLoop = () => callJob(LOOP, 100_000_000_000n);

class Timeout extends Error {}
const deadline = (timeoutMs: number) => ({
  timeoutMs,
  onTimeout: () => new Timeout(`timeout = ${timeoutMs}ms`),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "meridian-callpool-"));
  db = await ChainDatabase.open(join(dir, "db"));
  store = new FlatStateStore(db);
  const genesis = await buildGenesis(spec, store, common);
  const batch = db.batch();
  await genesis.state.writeTo(batch);
  await db.write(batch);
  root = genesis.block.header.stateRoot;
  context = createBlock({ header: { ...genesis.block.header.toJSON(), number: 10n } }, { common });
  pool = new CallPool({ workers: 2, chainId: spec.chainId, hardfork: common.hardfork() });
  await pool.ready();
});

afterAll(async () => {
  await pool?.close();
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("CallPool", () => {
  it("runs a call on a worker with the context block's number and BLOCKHASH from the main thread", async () => {
    const out = (await pool.submit(callJob(NUMBER_AND_PARENT_HASH), ctx, deadline(10_000))) as CallOutput;
    expect(out.error).toBeUndefined();
    expect(out.returnData.subarray(0, 32)).toEqual(fakeHash(9n));
    expect(BigInt(`0x${Buffer.from(out.returnData.subarray(32)).toString("hex")}`)).toBe(10n);
  });

  it("answers each call from its own snapshot when the slots of the last call to the contract come with the job", async () => {
    // SLOAD(0), returned as one word: PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
    const reader = new Address(hexToBytes("0x00000000000000000000000000000000000c0de5"));
    const readSlot0 = hexToBytes("0x60005460005260206000f3");
    /** The snapshot of a request that sets the reader's slot 0 to `value` (as a state override does). */
    const withSlot = (value: bigint): JobContext => ({
      state: async () => {
        const state = new FlatStateManager(store, root);
        await state.putAccount(reader, new Account());
        await state.putCode(reader, readSlot0);
        await state.putStorage(
          reader,
          new Uint8Array(32),
          hexToBytes(`0x${value.toString(16).padStart(2, "0")}`),
        );
        return state;
      },
      blockHash: async (n) => fakeHash(n),
    });
    const readJob: CallJob = {
      kind: "call",
      header: { hash: context.hash(), rlp: context.header.serialize() },
      input: { to: reader.bytes, gas: 100_000n },
      gasCap: 100_000n,
    };
    const read = async (value: bigint) =>
      bytesToBigInt(
        ((await pool.submit(readJob, withSlot(value), deadline(10_000))) as CallOutput).returnData,
      );
    // One after the other: from the second on, slot 0 comes with the job, read from that job's state.
    for (const value of [1n, 2n, 3n, 2n]) expect(await read(value)).toBe(value);
    // At once, on both workers and in the queue.
    const values = [5n, 6n, 7n, 8n, 9n, 10n];
    expect(await Promise.all(values.map(read))).toEqual(values);
  });

  it("terminates a worker still running at the deadline, replaces it, and keeps serving", async () => {
    await pool.ready();
    const replaced = pool.replaced;
    const start = performance.now();
    await expect(pool.submit(endlessLoop(), ctx, deadline(300))).rejects.toThrow(Timeout);
    expect(performance.now() - start).toBeLessThan(1000);
    await pool.ready();
    expect(pool.replaced).toBe(replaced + 1);
    const out = (await pool.submit(callJob(NUMBER_AND_PARENT_HASH), ctx, deadline(20_000))) as CallOutput;
    expect(out.returnData.length).toBe(64);
  });

  it("serves calls on the other workers while one runs a loop", async () => {
    await pool.ready();
    const loop = pool.submit(endlessLoop(), ctx, deadline(3000));
    loop.catch(() => {});
    const quick = await Promise.all(
      Array.from({ length: 6 }, () => pool.submit(callJob(NUMBER_AND_PARENT_HASH), ctx, deadline(2500))),
    );
    expect(quick).toHaveLength(6);
    await expect(loop).rejects.toThrow(Timeout);
  });

  it("gives up on workers that cannot load instead of restarting them forever", async () => {
    const broken = new CallPool({ workers: 1, chainId: spec.chainId, hardfork: "no-such-fork" });
    try {
      await expect(broken.ready()).rejects.toMatchObject({ code: "POOL_BROKEN" });
      await expect(broken.submit(callJob(NUMBER_AND_PARENT_HASH), ctx, deadline(1000))).rejects.toMatchObject(
        {
          code: "POOL_BROKEN",
        },
      );
    } finally {
      await broken.close();
    }
  });

  it("fails a queued job at its deadline without running it", async () => {
    const single = new CallPool({ workers: 1, chainId: spec.chainId, hardfork: common.hardfork() });
    await single.ready();
    try {
      const loop = single.submit(endlessLoop(), ctx, deadline(1500));
      loop.catch(() => {});
      const start = performance.now();
      await expect(single.submit(callJob(NUMBER_AND_PARENT_HASH), ctx, deadline(200))).rejects.toThrow(
        Timeout,
      );
      expect(performance.now() - start).toBeLessThan(1000);
      expect(single.queued).toBe(0);
      await expect(loop).rejects.toThrow(Timeout);
    } finally {
      await single.close();
    }
  });

  it("sends each contract's code to a worker once, and a worker that dropped one asks for it", async () => {
    const single = new CallPool({ workers: 1, chainId: spec.chainId, hardfork: common.hardfork() });
    await single.ready();
    /** Contract i returns i: PUSH2 i PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN (one code per i). */
    const codeOf = (i: number) =>
      Uint8Array.from([0x61, i >> 8, i & 0xff, 0x60, 0, 0x52, 0x60, 32, 0x60, 0, 0xf3]);
    // Not the zero address: that is the default caller.
    const addressOf = (i: number) =>
      new Address(Uint8Array.from([0xc0, ...new Uint8Array(17), i >> 8, i & 0xff]));
    let codeReads = 0;
    const call = async (i: number) => {
      const before = codeReads;
      const withContract: JobContext = {
        state: async () => {
          const state = new FlatStateManager(store, root);
          await state.putAccount(addressOf(i), new Account());
          await state.putCode(addressOf(i), codeOf(i));
          return {
            getAccount: (a) => state.getAccount(a),
            getStorage: (a, k) => state.getStorage(a, k),
            codeByHash: (h) => {
              codeReads++;
              return state.codeByHash(h);
            },
          };
        },
        blockHash: async (n) => fakeHash(n),
      };
      const job: CallJob = {
        kind: "call",
        header: { hash: context.hash(), rlp: context.header.serialize() },
        input: { to: addressOf(i).bytes, gas: 100_000n },
        gasCap: 100_000n,
      };
      const out = (await single.submit(job, withContract, deadline(10_000))) as CallOutput;
      expect(bytesToBigInt(out.returnData)).toBe(BigInt(i));
      return codeReads - before;
    };
    try {
      // The main thread reads the code for every job (its prefetch); the worker asks for none.
      for (let i = 0; i < WORKER_CODE_CACHE; i++) expect(await call(i)).toBe(1);
      // Contract 0 again (still kept): the worker's cache answers, and 0 becomes its newest.
      expect(await call(0)).toBe(1);
      // A new contract: the worker drops its least recently used (1), the pool forgets its
      // oldest sent (0).
      expect(await call(WORKER_CODE_CACHE)).toBe(1);
      // 1 was not sent again, and the worker no longer has it: it asks (a second read).
      expect(await call(1)).toBe(2);
      // 0 is sent again with the job.
      expect(await call(0)).toBe(1);
    } finally {
      await single.close();
    }
  });
});
