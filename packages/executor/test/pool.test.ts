import { Account } from "@ethereumjs/util";
import { EMPTY_TRIE_ROOT, keccak256 } from "@meridian/primitives";
import { type NodeFetch, runShardTask, type ShardTask } from "@meridian/state";
import { afterEach, describe, expect, it } from "vitest";
import { WorkerPool } from "../src/parallel/pool.ts";

const init = { chainId: 7331, hardfork: "prague", native: false, fastTransfers: true };

/** A shard task over a fresh trie: `count` accounts whose address hashes fall in `shard`. */
function freshShardTask(shard: number, count: number): ShardTask {
  const accounts: ShardTask["accounts"] = [];
  for (let i = 0; accounts.length < count; i++) {
    const address = new Uint8Array(20);
    address[0] = shard;
    address[16] = i >> 8;
    address[19] = i & 0xff;
    const key = keccak256(address);
    if ((key[0] as number) >> 4 !== shard) continue;
    const addr = Buffer.from(address).toString("hex");
    const account = new Account(BigInt(i), BigInt(i) * 10n ** 18n).serialize();
    accounts.push({ addr, key, account, wiped: false, slots: undefined });
  }
  return { shard, baseRoot: EMPTY_TRIE_ROOT, accounts };
}

const noNodes: NodeFetch = async (keys) => keys.map((k) => [k, undefined]);

describe("WorkerPool", () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("runs more shard tasks than it has workers, each on an idle worker, with in-process results", async () => {
    pool = new WorkerPool(2, init);
    await pool.whenReady();
    const tasks = Array.from({ length: 16 }, (_, shard) => freshShardTask(shard, 20));
    const results = await Promise.all(tasks.map((t) => (pool as WorkerPool).shard(t, noNodes)));
    for (const [i, t] of tasks.entries()) expect(results[i]).toEqual(await runShardTask(t, noNodes));
  });

  it("fails a task whose node fetch fails, and the worker that ran it takes the next ones", async () => {
    pool = new WorkerPool(1, init);
    await pool.whenReady();
    // A base root that is not in any database: the worker must fetch it, and the fetch fails.
    const missing: ShardTask = { ...freshShardTask(3, 5), baseRoot: keccak256(new Uint8Array([1])) };
    const failingFetch: NodeFetch = async () => {
      throw new Error("database unavailable");
    };
    await expect(pool.shard(missing, failingFetch)).rejects.toThrow("database unavailable");
    const next = freshShardTask(4, 5);
    expect(await pool.shard(next, noNodes)).toEqual(await runShardTask(next, noNodes));
  });

  it("rejects waiting tasks when closed", async () => {
    const p = new WorkerPool(1, init);
    await p.whenReady();
    const tasks = [freshShardTask(1, 50), freshShardTask(2, 50), freshShardTask(5, 50)];
    const settling = Promise.allSettled(tasks.map((t) => p.shard(t, noNodes)));
    await p.close();
    const settled = await settling;
    expect(settled.some((s) => s.status === "rejected")).toBe(true);
    for (const s of settled)
      if (s.status === "rejected") expect((s.reason as { code?: string }).code).toBe("POOL_CLOSED");
  });
});
