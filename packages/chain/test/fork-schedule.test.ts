import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx, type TypedTransaction } from "@ethereumjs/tx";
import { hexToBytes } from "@ethereumjs/util";
import { parseGenesis } from "@meridian/executor";
import {
  bigIntToBytes,
  bytesToHex,
  privateKeyToAddress,
  rlpEncode,
  silentLogger,
} from "@meridian/primitives";
import { ChainDatabase } from "@meridian/storage";
import { afterAll, describe, expect, it } from "vitest";
import { Chain } from "../src/chain.ts";
import { decision } from "./decision.ts";

// Unsigned decisions (decision.ts): a chain without the staking section.
const { staking: _pos, ...devnet } = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const KEY0 = hexToBytes("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const ADDR0 = privateKeyToAddress(KEY0);
const GENESIS_TIME = 1_800_000_000;
const OSAKA_TIME = GENESIS_TIME + 100;
/** Prague genesis, Osaka scheduled 100 s later (what a devnet made before schedules upgrades to). */
const scheduled = {
  ...devnet,
  hardfork: "prague",
  timestamp: GENESIS_TIME,
  config: { osakaTime: OSAKA_TIME },
};
const pragueOnly = { ...devnet, hardfork: "prague", timestamp: GENESIS_TIME };

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "meridian-forks-"));
  dirs.push(d);
  return d;
}

/** A transfer with `gas` gas (2^24 + 1 is over Osaka's EIP-7825 cap). */
function transfer(chain: Chain, nonce: bigint, gas: bigint): TypedTransaction {
  return createFeeMarket1559Tx(
    {
      nonce,
      to: ADDR0,
      value: 1n,
      gasLimit: gas,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: 7331n,
    },
    { common: chain.rulesAt(BigInt(GENESIS_TIME)).common },
  ).sign(KEY0);
}

/** Leader builds at `time`, follower validates the proposal; both commit. Returns the leader's rejected count. */
async function produceAt(
  leader: Chain,
  follower: Chain,
  time: number,
  txs: TypedTransaction[],
): Promise<void> {
  const q = txs.map((tx) => ({ tx, sender: tx.getSenderAddress().bytes }));
  leader.txSource = () => ({ peek: () => q[0], shift: () => void q.shift(), pop: () => void q.shift() });
  const height = leader.lastCommittedHeight() + 1n;
  const proposal = await leader.prepareProposal({
    height,
    round: 0,
    timestampMs: time * 1000,
    proposer: ADDR0,
    maxBytes: 1 << 24,
  });
  const verdict = await follower.processProposal({ height, round: 0, proposer: ADDR0, value: proposal });
  expect(verdict).toMatchObject({ accept: true });
  for (const c of [leader, follower]) {
    await c.finalizeBlock(decision(height, proposal, ADDR0));
    await c.commit();
  }
}

describe("fork schedule", () => {
  it("builds and validates Prague blocks before osakaTime and Osaka blocks from it", async () => {
    const spec = parseGenesis(scheduled);
    const leader = await Chain.open({
      datadir: await tempDir(),
      genesis: spec,
      logger: silentLogger,
      workers: 1,
    });
    const follower = await Chain.open({
      datadir: await tempDir(),
      genesis: spec,
      logger: silentLogger,
      workers: 1,
    });
    try {
      const big = 2n ** 24n + 1n;
      await produceAt(leader, follower, OSAKA_TIME - 2, []);
      // Osaka is 2 s away: its executor threads start now and stay up until it comes.
      const osakaExecutor = leader.rulesAt(BigInt(OSAKA_TIME)).parallel;
      expect(osakaExecutor).toBeDefined();
      await produceAt(leader, follower, OSAKA_TIME - 1, [transfer(leader, 0n, big)]);
      expect(leader.rulesAt(BigInt(OSAKA_TIME)).parallel).toBe(osakaExecutor);
      expect(leader.head.common.hardfork()).toBe("prague");
      expect(leader.head.transactions).toHaveLength(1);
      // The first block at osakaTime runs Osaka: the builder drops a transaction over the cap.
      await produceAt(leader, follower, OSAKA_TIME, [
        transfer(leader, 1n, big),
        transfer(leader, 1n, 21_000n),
      ]);
      expect(leader.head.common.hardfork()).toBe("osaka");
      // Prague's executor threads are closed once the head runs Osaka.
      expect(leader.rulesAt(BigInt(GENESIS_TIME)).parallel).toBeUndefined();
      expect(leader.head.transactions.map((tx) => tx.gasLimit)).toEqual([21_000n]);
      expect(bytesToHex(follower.head.hash())).toBe(bytesToHex(leader.head.hash()));
      // Stored blocks decode at their own fork.
      expect((await follower.blockByNumber(2n))?.common.hardfork()).toBe("prague");
      expect((await follower.blockByNumber(3n))?.common.hardfork()).toBe("osaka");
    } finally {
      await leader.close();
      await follower.close();
    }
  }, 60_000);

  it("keeps the identity a schedule-less datadir was written with", async () => {
    const datadir = await tempDir();
    const spec = parseGenesis(pragueOnly);
    const chain = await Chain.open({ datadir, genesis: spec, logger: silentLogger, workers: 0 });
    await chain.close();
    // The identity as written before fork schedules existed: chain id, fork, validators.
    const db = await ChainDatabase.open(`${datadir}/chaindata`);
    const stored = await db.meta("chain");
    await db.close();
    const before = rlpEncode([
      bigIntToBytes(spec.chainId),
      "prague",
      spec.validators.map((v) => [v.address, bigIntToBytes(v.power)]),
    ]);
    expect(bytesToHex(stored as Uint8Array)).toBe(bytesToHex(before));
    const again = await Chain.open({
      datadir,
      genesis: parseGenesis(pragueOnly),
      logger: silentLogger,
      workers: 0,
    });
    await again.close();
    // Another chain id is another chain.
    await expect(
      Chain.open({
        datadir,
        genesis: parseGenesis({ ...pragueOnly, chainId: 7332 }),
        logger: silentLogger,
        workers: 0,
      }),
    ).rejects.toMatchObject({ code: "GENESIS_MISMATCH" });
  });

  it("lets a Prague chain schedule Osaka after its head, not at or before it", async () => {
    const datadir = await tempDir();
    const other = await tempDir();
    const leader = await Chain.open({
      datadir,
      genesis: parseGenesis(pragueOnly),
      logger: silentLogger,
      workers: 1,
    });
    const follower = await Chain.open({
      datadir: other,
      genesis: parseGenesis(pragueOnly),
      logger: silentLogger,
      workers: 1,
    });
    await produceAt(leader, follower, GENESIS_TIME + 50, []);
    await leader.close();
    await follower.close();
    // The head is at GENESIS_TIME + 50: Osaka at or before it would rewrite history.
    const late = { ...pragueOnly, config: { osakaTime: GENESIS_TIME + 50 } };
    await expect(
      Chain.open({ datadir, genesis: parseGenesis(late), logger: silentLogger, workers: 0 }),
    ).rejects.toMatchObject({ code: "GENESIS_MISMATCH" });
    // Osaka after the head: the chain upgrades when its timestamps reach it.
    const upgraded = await Chain.open({
      datadir,
      genesis: parseGenesis(scheduled),
      logger: silentLogger,
      workers: 0,
    });
    try {
      expect(upgraded.head.header.number).toBe(1n);
      expect(upgraded.rulesAt(BigInt(OSAKA_TIME)).hardfork).toBe("osaka");
      expect(upgraded.rulesAt(BigInt(OSAKA_TIME - 1)).hardfork).toBe("prague");
    } finally {
      await upgraded.close();
    }
    // Dropping Osaka again is allowed while the head has not reached it.
    const reverted = await Chain.open({
      datadir,
      genesis: parseGenesis(pragueOnly),
      logger: silentLogger,
      workers: 0,
    });
    await reverted.close();
  });
});
