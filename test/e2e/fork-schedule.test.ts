/**
 * A devnet whose genesis runs Prague and schedules Osaka (`config.osakaTime`) a few seconds
 * after start: the node switches rules at the first block whose timestamp reaches it, in the
 * EVM (CLZ, EIP-7939), in the pool (EIP-7825's 2^24 gas cap) and in meridian_nodeInfo.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPublicClient, createWalletClient, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, rpcRaw, waitUntil } from "../helpers/rpc.ts";
import { makeTempDir, removeTempDir } from "../helpers/tmp.ts";

/** Runtime code: CLZ of the first calldata word, returned as one word (60 00 35 1e ... f3). */
const CLZ_CODE = "0x6000351e60005260206000f3";
const CLZ_ADDRESS = "0x00000000000000000000000000000000000c1a2e";
const ONE_WORD = `0x${"00".repeat(31)}01` as Hex;
/** One above EIP-7825's cap of 2^24. */
const BIG_GAS = 2n ** 24n + 1n;
/** Seconds from start to Osaka: room for a slow node start and the Prague checks, short enough for CI. */
const OSAKA_DELAY_S = 30;

let node: NodeHandle;
let datadir: string;
let osakaTime: number;
const alice = privateKeyToAccount(DEV_KEYS[0] as Hex);

type ForkConfig = { activationTime: number; precompiles: Record<string, string> };
type EthConfig = { current: ForkConfig; next: ForkConfig | null; last: ForkConfig | null };
type NodeInfo = { hardfork: string; forkSchedule: { hardfork: string; time: number }[] };

beforeAll(async () => {
  datadir = await makeTempDir("meridian-forks-");
  const genesis = JSON.parse(readFileSync(join(REPO_ROOT, "genesis", "devnet.json"), "utf8"));
  osakaTime = Math.floor(Date.now() / 1000) + OSAKA_DELAY_S;
  genesis.hardfork = "prague";
  genesis.config = { osakaTime };
  genesis.alloc[CLZ_ADDRESS] = { balance: "0x0", code: CLZ_CODE };
  writeFileSync(join(datadir, "genesis.json"), JSON.stringify(genesis));
  // Blocks once a second: timestamps follow the wall clock, so Osaka comes at osakaTime.
  node = await startMeridian({ datadir, blockTimeMs: 1000 });
}, 90_000);

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
  if (datadir) await removeTempDir(datadir);
});

const callClz = () => rpcRaw<Hex>(node.rpcUrl, "eth_call", [{ to: CLZ_ADDRESS, data: ONE_WORD }, "latest"]);

async function sendBigGasTx(nonce: number): Promise<Hex> {
  const wallet = createWalletClient({
    chain: meridianChain(node.rpcUrl, node.wsUrl),
    transport: http(node.rpcUrl),
    account: alice,
  });
  const raw = await wallet.signTransaction({
    to: alice.address,
    value: 1n,
    gas: BIG_GAS,
    maxFeePerGas: 10n ** 10n,
    maxPriorityFeePerGas: 10n ** 9n,
    nonce,
    chainId: meridianChain(node.rpcUrl, node.wsUrl).id,
  });
  return raw;
}

describe("fork schedule: Prague, then Osaka at config.osakaTime", () => {
  it("runs Prague before osakaTime: CLZ is an invalid opcode, a 2^24+1 gas transaction is admitted and mined", async () => {
    const head = await rpc<{ timestamp: Hex }>(node.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
    expect(Number(BigInt(head.timestamp))).toBeLessThan(osakaTime);
    const info = await rpc<NodeInfo>(node.rpcUrl, "meridian_nodeInfo");
    expect(info.hardfork).toBe("prague");
    expect(info.forkSchedule).toEqual([
      { hardfork: "prague", time: expect.any(Number) },
      { hardfork: "osaka", time: osakaTime },
    ]);
    const config = await rpc<EthConfig>(node.rpcUrl, "eth_config");
    expect(config.current.activationTime).toBe(0);
    expect(config.current.precompiles.P256VERIFY).toBeUndefined();
    expect(config.next?.activationTime).toBe(osakaTime);
    expect(config.next?.precompiles.P256VERIFY).toBe("0x0000000000000000000000000000000000000100");
    const clz = await callClz();
    expect(clz.error?.message).toMatch(/invalid opcode/);

    const raw = await sendBigGasTx(0);
    const sent = await rpcRaw<Hex>(node.rpcUrl, "eth_sendRawTransaction", [raw]);
    expect(sent.error).toBeUndefined();
    const receipt = await waitUntil(
      "the big-gas transaction's receipt",
      () =>
        rpc<{ status: Hex; blockNumber: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [
          sent.result,
        ]).then((r) => r ?? undefined),
      15_000,
    );
    expect(receipt.status).toBe("0x1");
    const block = await rpc<{ timestamp: Hex }>(node.rpcUrl, "eth_getBlockByNumber", [
      receipt.blockNumber,
      false,
    ]);
    expect(Number(BigInt(block.timestamp))).toBeLessThan(osakaTime);
  }, 30_000);

  it(
    "switches to Osaka at the first block at or after osakaTime: CLZ works, the big transaction is refused",
    async () => {
      const first = await waitUntil(
        "a block at or after osakaTime",
        async () => {
          const b = await rpc<{ number: Hex; timestamp: Hex }>(node.rpcUrl, "eth_getBlockByNumber", [
            "latest",
            false,
          ]);
          return Number(BigInt(b.timestamp)) >= osakaTime ? b : undefined;
        },
        (OSAKA_DELAY_S + 15) * 1000,
        250,
      );
      // Walk back to the first block at or after osakaTime; its parent is the last Prague block.
      const blockAt = (n: bigint) =>
        rpc<{ timestamp: Hex }>(node.rpcUrl, "eth_getBlockByNumber", [`0x${n.toString(16)}`, false]);
      let firstOsaka = BigInt(first.number);
      while (Number(BigInt((await blockAt(firstOsaka - 1n)).timestamp)) >= osakaTime) firstOsaka--;
      const lastPrague = `0x${(firstOsaka - 1n).toString(16)}`;

      const info = await rpc<NodeInfo>(node.rpcUrl, "meridian_nodeInfo");
      expect(info.hardfork).toBe("osaka");
      const config = await rpc<EthConfig>(node.rpcUrl, "eth_config");
      expect(config.current.activationTime).toBe(osakaTime);
      expect(config.next).toBeNull();

      const clz = await callClz();
      expect(clz.error).toBeUndefined();
      // Fee RPCs work out the next block's blob fee with Osaka's blob schedule.
      const history = await rpc<{ baseFeePerBlobGas: Hex[] }>(node.rpcUrl, "eth_feeHistory", [
        "0x2",
        "latest",
        [],
      ]);
      expect(history.baseFeePerBlobGas).toHaveLength(3);
      expect(BigInt(await rpc<Hex>(node.rpcUrl, "eth_blobBaseFee"))).toBeGreaterThan(0n);
      // A gas estimate at an Osaka block stays under the cap.
      const estimate = await rpc<Hex>(node.rpcUrl, "eth_estimateGas", [{ to: CLZ_ADDRESS, data: ONE_WORD }]);
      expect(BigInt(estimate)).toBeLessThan(2n ** 24n);
      // CLZ(1) = 255.
      expect(BigInt(clz.result as Hex)).toBe(255n);
      // At the last Prague block the call still runs Prague.
      const atParent = await rpcRaw<Hex>(node.rpcUrl, "eth_call", [
        { to: CLZ_ADDRESS, data: ONE_WORD },
        lastPrague,
      ]);
      expect(atParent.error?.message).toMatch(/invalid opcode/);

      const pub = createPublicClient({
        chain: meridianChain(node.rpcUrl, node.wsUrl),
        transport: http(node.rpcUrl),
      });
      const nonce = await pub.getTransactionCount({ address: alice.address });
      const refused = await rpcRaw<Hex>(node.rpcUrl, "eth_sendRawTransaction", [await sendBigGasTx(nonce)]);
      expect(refused.error?.message).toBe(`transaction gas limit too high (cap: 16777216, tx: ${BIG_GAS})`);
      // Blocks keep coming under Osaka.
      await waitUntil(
        "another Osaka block",
        async () => ((await pub.getBlockNumber()) > firstOsaka ? true : undefined),
        10_000,
      );
    },
    (OSAKA_DELAY_S + 30) * 1000,
  );
});
