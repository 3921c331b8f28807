/**
 * Acknowledged transactions survive kill -9: the node journals every admitted transaction
 * before eth_sendRawTransaction answers, re-admits the journal on start against the new head,
 * and drops what was mined meanwhile.
 */
import { type Hex, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, withLogs } from "../helpers/process.ts";
import { rpc, waitUntil } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const sender = privateKeyToAccount(DEV_KEYS[8]);
const sink = "0x00000000000000000000000000000000000a11ce";
// One block a day (aligned to UTC midnight): nothing is mined while the first node runs.
const NEVER_MS = 86_400_000;

type Receipt = { status: Hex; blockNumber: Hex };

const transfer = (nonce: number) =>
  sender.signTransaction({
    type: "eip1559",
    chainId: MERIDIAN_CHAIN_ID,
    to: sink,
    value: 1n,
    gas: 21_000n,
    maxFeePerGas: parseGwei("50"),
    maxPriorityFeePerGas: parseGwei("1"),
    nonce,
  });

afterAll(async () => {
  await cleanupAll();
});

describe("transaction journal", () => {
  it("re-admits acknowledged pending and queued transactions after kill -9, then drops mined ones", async () => {
    const datadir = await makeTempDir("meridian-journal-");
    const first = await startMeridian({ datadir, blockTimeMs: NEVER_MS });
    let pendingHash: Hex;
    let queuedHash: Hex;
    await withLogs(first, async () => {
      const nonce = Number(
        await rpc<Hex>(first.rpcUrl, "eth_getTransactionCount", [sender.address, "latest"]),
      );
      pendingHash = await rpc<Hex>(first.rpcUrl, "eth_sendRawTransaction", [await transfer(nonce)]);
      // nonce + 2: a gap, so this one waits in the queue.
      queuedHash = await rpc<Hex>(first.rpcUrl, "eth_sendRawTransaction", [await transfer(nonce + 2)]);
      expect(await rpc(first.rpcUrl, "txpool_status")).toEqual({ pending: "0x1", queued: "0x1" });
      expect(await rpc(first.rpcUrl, "eth_getTransactionReceipt", [pendingHash])).toBeNull();
    });
    await first.kill9();

    const second = await startMeridian({ datadir, blockTimeMs: 100 });
    await withLogs(second, async () => {
      expect(await rpc(second.rpcUrl, "eth_getTransactionByHash", [pendingHash])).not.toBeNull();
      expect(await rpc(second.rpcUrl, "eth_getTransactionByHash", [queuedHash])).not.toBeNull();
      const mined = await waitUntil("the journaled transaction mined", () =>
        rpc<Receipt | null>(second.rpcUrl, "eth_getTransactionReceipt", [pendingHash]).then(
          (r) => r ?? undefined,
        ),
      );
      expect(mined.status).toBe("0x1");
      // Fill the gap: the queued one was kept as queued and now runs too.
      const nonce = Number(
        await rpc<Hex>(second.rpcUrl, "eth_getTransactionCount", [sender.address, "latest"]),
      );
      await rpc<Hex>(second.rpcUrl, "eth_sendRawTransaction", [await transfer(nonce)]);
      const queuedMined = await waitUntil("the queued transaction mined", () =>
        rpc<Receipt | null>(second.rpcUrl, "eth_getTransactionReceipt", [queuedHash]).then(
          (r) => r ?? undefined,
        ),
      );
      expect(queuedMined.status).toBe("0x1");
    });
    await second.kill9();

    // Everything in the journal is mined now: a restart re-admits nothing.
    const third = await startMeridian({ datadir, blockTimeMs: 100 });
    await withLogs(third, async () => {
      expect(await rpc(third.rpcUrl, "txpool_status")).toEqual({ pending: "0x0", queued: "0x0" });
      expect(third.logs()).toContain("transaction journal replayed");
    });
    await third.stop();
  }, 120_000);
});
