import { type Address, type Hex, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { prng } from "../helpers/prng.ts";
import { cleanupAll, type NodeHandle, withLogs } from "../helpers/process.ts";
import { blockNumber, rpc, sleep } from "../helpers/rpc.ts";
import { startNode, TARGET } from "../helpers/target.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 8);
const SEED = Number(process.env.CRASH_SEED ?? 0xc0ffee);
const BLOCK_MS = 100;
const WALK = 64n;
// anvil only persists on a clean exit, so against anvil the loop uses SIGTERM to exercise the
// harness; the real crash semantics (SIGKILL) are Meridian's.
const KILL_SIGNAL: NodeJS.Signals = TARGET === "meridian" ? "SIGKILL" : "SIGTERM";

const sender = privateKeyToAccount(DEV_KEYS[5]);
const sink: Address = "0x00000000000000000000000000000000c0ffee00";
const hex = (n: bigint | number) => `0x${n.toString(16)}`;

const rand = prng(SEED);

type Block = { hash: Hex; parentHash: Hex; number: Hex; transactions: Hex[] };
type Receipt = { blockHash: Hex; blockNumber: Hex; status: Hex };

// What the client saw as committed before a kill; all of it must survive.
const seenBlocks = new Map<bigint, Hex>();
const seenReceipts = new Map<Hex, { blockHash: Hex; blockNumber: Hex }>();
let seenHead = 0n;

let datadir: string;
let node: NodeHandle | undefined;

/** Fires 1-wei transfers and records every block/receipt it observes until `until` resolves. */
async function load(url: string, until: Promise<unknown>): Promise<{ sent: number }> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let nonce: number;
  try {
    nonce = Number(await rpc<string>(url, "eth_getTransactionCount", [sender.address, "pending"]));
  } catch {
    return { sent: 0 }; // killed before the first answer
  }
  const mine = new Set<Hex>();
  let sent = 0;

  const sendLoop = async () => {
    while (!done) {
      try {
        const raw = await sender.signTransaction({
          type: "eip1559",
          chainId: MERIDIAN_CHAIN_ID,
          to: sink,
          value: 1n,
          gas: 21_000n,
          maxFeePerGas: parseGwei("50"),
          maxPriorityFeePerGas: parseGwei("1"),
          nonce,
        });
        mine.add(await rpc<Hex>(url, "eth_sendRawTransaction", [raw]));
        nonce++;
        sent++;
      } catch {
        // The node is being killed; anything unacknowledged is not a commitment.
      }
      await sleep(20);
    }
  };

  const watchLoop = async () => {
    let next = seenHead + 1n;
    while (!done) {
      try {
        const head = await blockNumber(url);
        for (; next <= head && !done; next++) {
          const b = await rpc<Block>(url, "eth_getBlockByNumber", [hex(next), false]);
          for (const h of b.transactions) {
            if (!mine.has(h)) continue;
            const r = await rpc<Receipt>(url, "eth_getTransactionReceipt", [h]);
            seenReceipts.set(h, { blockHash: r.blockHash, blockNumber: r.blockNumber });
          }
          seenBlocks.set(next, b.hash);
          if (next > seenHead) seenHead = next;
        }
      } catch {
        // killed mid-request
      }
      await sleep(30);
    }
  };

  await Promise.all([sendLoop(), watchLoop()]);
  return { sent };
}

/** Everything the client saw survives, the recent chain links up, and state reads agree. */
async function verify(url: string): Promise<void> {
  const head = await blockNumber(url);
  expect(head, "head went backwards across the crash").toBeGreaterThanOrEqual(seenHead);

  for (const [n, hash] of seenBlocks) {
    const b = await rpc<Block | null>(url, "eth_getBlockByNumber", [hex(n), false]);
    expect(b?.hash, `block ${n} changed or vanished`).toBe(hash);
  }
  for (const [h, seen] of seenReceipts) {
    const r = await rpc<Receipt | null>(url, "eth_getTransactionReceipt", [h]);
    expect(r, `receipt ${h} vanished`).not.toBeNull();
    expect({ blockHash: r!.blockHash, blockNumber: r!.blockNumber }).toEqual(seen);
    expect(r!.status).toBe("0x1");
  }

  // Parent-hash walk from head back WALK blocks (or to genesis).
  let child = await rpc<Block>(url, "eth_getBlockByNumber", [hex(head), false]);
  // anvil regenerates its genesis header when reloading --state, so its 1 -> 0 link breaks; not Meridian's.
  const floor = TARGET === "anvil" ? 1n : 0n;
  const stop = head > WALK + floor ? head - WALK : floor;
  for (let n = head; n > stop; n--) {
    const parent = await rpc<Block>(url, "eth_getBlockByNumber", [hex(n - 1n), false]);
    expect(child.parentHash, `parent link ${n} -> ${n - 1n}`).toBe(parent.hash);
    child = parent;
  }

  // State and blocks committed atomically: the sink holds exactly 1 wei per mined sender tx.
  const tag = hex(head);
  const [nonce, sinkBal] = await Promise.all([
    rpc<string>(url, "eth_getTransactionCount", [sender.address, tag]),
    rpc<string>(url, "eth_getBalance", [sink, tag]),
  ]);
  expect(BigInt(sinkBal)).toBe(BigInt(nonce));
  expect(BigInt(nonce)).toBeGreaterThanOrEqual(BigInt(seenReceipts.size));
}

beforeAll(async () => {
  datadir = await makeTempDir("meridian-crash-");
});

afterAll(async () => {
  // Replay a failure with CRASH_SEED; the counts show how much history the kills were checked against.
  console.log(
    `crash: seed=${SEED} kills=${ITERATIONS} head=${seenHead} blocks=${seenBlocks.size} receipts=${seenReceipts.size}`,
  );
  await node?.stop();
  await cleanupAll();
});

describe(`crash loop (seed ${SEED}, ${ITERATIONS} kills with ${KILL_SIGNAL})`, () => {
  for (let i = 0; i < ITERATIONS; i++) {
    it(`iteration ${i}: reopen, verify, load, kill`, async () => {
      node = await startNode({ datadir, blockTimeMs: BLOCK_MS });
      const opened = node;
      await withLogs(opened, () => verify(opened.rpcUrl));

      const delay = 400 + Math.floor(rand() * 1200);
      const current = node;
      const killed = sleep(delay).then(() => current.stop(KILL_SIGNAL, 5_000));
      const { sent } = await load(current.rpcUrl, killed);
      const exit = await killed;
      node = undefined;
      if (KILL_SIGNAL === "SIGKILL") expect(exit.signal).toBe("SIGKILL");
      expect(sent, "no transaction was accepted before the kill").toBeGreaterThan(0);
    }, 30_000);
  }

  it("opens cleanly after the last kill and keeps producing blocks", async () => {
    node = await startNode({ datadir, blockTimeMs: BLOCK_MS });
    const opened = node;
    await withLogs(opened, () => verify(opened.rpcUrl));
    expect(seenReceipts.size).toBeGreaterThan(0);
    const h = await blockNumber(node.rpcUrl);
    for (let t = 0; t < 50 && (await blockNumber(node.rpcUrl)) < h + 3n; t++) await sleep(100);
    expect(await blockNumber(node.rpcUrl)).toBeGreaterThanOrEqual(h + 3n);
    expect(node.logs()).not.toMatch(/"level":\s*(50|60|"error"|"fatal")/);
  }, 20_000);
});
