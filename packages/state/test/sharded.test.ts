import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Account, Address, bytesToHex, KECCAK256_RLP } from "@ethereumjs/util";
import { ChainDatabase } from "@meridian/storage";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  computeCommitment,
  computeShardedCommitment,
  dbNodeFetch,
  FlatStateManager,
  FlatStateStore,
  runShardTask,
  type ShardTask,
  startShardTasks,
  TrieNodeDB,
} from "../src/index.ts";

const N = 48;
const addresses = Array.from({ length: N }, (_, i) => {
  const b = new Uint8Array(20);
  b[0] = 0xa0;
  b[19] = i;
  return new Address(b);
});
const slot = (k: number) => {
  const b = new Uint8Array(32);
  b[31] = k;
  return b;
};

type Change =
  | { t: "balance"; a: number; v: bigint }
  | { t: "slot"; a: number; k: number; v: number }
  | { t: "delete"; a: number }
  | { t: "clear"; a: number };
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ t: fc.constant("balance" as const), a: fc.nat(N - 1), v: fc.bigInt(0n, 10n ** 18n) }),
  fc.record({ t: fc.constant("slot" as const), a: fc.nat(N - 1), k: fc.nat(5), v: fc.nat(3) }),
  fc.record({ t: fc.constant("delete" as const), a: fc.nat(N - 1) }),
  fc.record({ t: fc.constant("clear" as const), a: fc.nat(N - 1) }),
);

async function apply(sm: FlatStateManager, c: Change): Promise<void> {
  const address = addresses[c.a] as Address;
  if (c.t === "balance") await sm.modifyAccountFields(address, { balance: c.v });
  else if (c.t === "slot") {
    if (!(await sm.getAccount(address))) await sm.putAccount(address, new Account(1n, 1n));
    await sm.putStorage(address, slot(c.k), c.v === 0 ? new Uint8Array(0) : Uint8Array.of(c.v));
  } else if (c.t === "delete") await sm.deleteAccount(address);
  else await sm.clearStorage(address);
}

describe("sharded state commitment", () => {
  let dir: string;
  let store: FlatStateStore;
  let baseRoot: Uint8Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "meridian-sharded-"));
    const db = await ChainDatabase.open(join(dir, "db"));
    store = new FlatStateStore(db);
    const genesis = new FlatStateManager(store, KECCAK256_RLP);
    for (const [i, a] of addresses.entries()) {
      await genesis.putAccount(a, new Account(BigInt(i), 10n ** 18n + BigInt(i)));
      if (i % 3 === 0) await genesis.putStorage(a, slot(i % 5), Uint8Array.of(i + 1));
    }
    const batch = db.batch();
    const { stateRoot, cacheUpdate } = await genesis.writeTo(batch);
    await db.write(batch);
    store.applyCommitted(cacheUpdate);
    baseRoot = stateRoot;
  });
  afterAll(async () => {
    await store?.db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("equals the sequential commitment, also when shards started early and the state changed since", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(changeArb, { minLength: 1, maxLength: 40 }),
        fc.array(changeArb, { maxLength: 6 }),
        async (before, after) => {
          const sm = new FlatStateManager(store, baseRoot);
          for (const c of before) await apply(sm, c);
          const fetch = dbNodeFetch(new TrieNodeDB(store.db));
          const ran: number[] = [];
          const run = (task: ShardTask) => {
            ran.push(task.shard);
            return runShardTask(task, fetch);
          };
          const early = startShardTasks(baseRoot, sm.diff(), run);
          const startedEarly = ran.length;
          for (const c of after) await apply(sm, c);
          const want = await computeCommitment(store.db, baseRoot, sm.diff());
          const got = await computeShardedCommitment(store.db, baseRoot, sm.diff(), run, early);
          expect(bytesToHex(got.stateRoot)).toBe(bytesToHex(want.stateRoot));
          expect(got.accounts).toEqual(want.accounts);
          // Nothing changed after the early start: no shard runs twice.
          if (after.length === 0) expect(ran.length).toBe(startedEarly);
          const plain = await computeShardedCommitment(store.db, baseRoot, sm.diff());
          expect(bytesToHex(plain.stateRoot)).toBe(bytesToHex(want.stateRoot));
        },
      ),
      { seed: 7331, numRuns: 80 },
    );
  });
});
