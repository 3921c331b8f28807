import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx, type TypedTransaction } from "@ethereumjs/tx";
import { hexToBytes } from "@ethereumjs/util";
import { parseGenesis, type TxSource } from "@meridian/executor";
import { bytesToHex, keccak256, privateKeyToAddress, silentLogger } from "@meridian/primitives";
import { afterAll, describe, expect, it } from "vitest";
import { Chain } from "../src/chain.ts";
import type { ChainReader } from "../src/reader.ts";
import { decision } from "./decision.ts";

// The chain mechanics without proof of stake (chain-staking.test.ts covers a staking chain):
// these decisions carry no signatures, which a staking chain's next proposal would carry.
const { staking: _pos, ...genesisJson } = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const KEY0 = hexToBytes("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const ADDR0 = privateKeyToAddress(KEY0);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "meridian-chain-"));
  dirs.push(d);
  return d;
}

function queue(txs: TypedTransaction[]): TxSource {
  const q = txs.map((tx) => ({ tx, sender: tx.getSenderAddress().bytes }));
  return { peek: () => q[0], shift: () => void q.shift(), pop: () => void q.shift() };
}

async function produce(chain: Chain, txs: TypedTransaction[] = []): Promise<void> {
  chain.txSource = () => queue(txs);
  const height = chain.lastCommittedHeight() + 1n;
  const proposal = await chain.prepareProposal({
    height,
    round: 0,
    timestampMs: Date.now(),
    proposer: ADDR0,
    maxBytes: 1 << 24,
  });
  const verdict = await chain.processProposal({ height, round: 0, proposer: ADDR0, value: proposal });
  expect(verdict.accept).toBe(true);
  await chain.finalizeBlock(decision(height, proposal, ADDR0));
  await chain.commit();
}

// Emits LOG1(topic = 0x2a) with 32 bytes of data, then stops.
const LOGGER_RUNTIME = "602a600052602a60206000a100";

describe("Chain", () => {
  it("commits blocks through the application interface and resumes after reopening", async () => {
    const datadir = await tempDir();
    const genesis = parseGenesis(genesisJson);
    const chain = await Chain.open({ datadir, genesis, logger: silentLogger });
    const common = chain.common;
    const to = hexToBytes("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const tx = createFeeMarket1559Tx(
      {
        nonce: 0n,
        to,
        value: 5n,
        gasLimit: 21_000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 7331n,
      },
      { common },
    ).sign(KEY0);
    await produce(chain, [tx]);
    await produce(chain);
    expect(chain.lastCommittedHeight()).toBe(2n);
    const loc = await chain.txLocation(tx.hash());
    expect(loc?.index).toBe(0);
    const block1 = await chain.blockByNumber(1n);
    expect(bytesToHex(loc?.blockHash as Uint8Array)).toBe(bytesToHex(block1?.hash() as Uint8Array));
    const receipts = await chain.receiptsOf(block1?.hash() as Uint8Array);
    expect(receipts?.[0]?.status).toBe(1);
    expect(receipts?.[0]?.gasUsed).toBe(21_000n);
    const head = chain.head.hash();
    const balance = (await chain.store.getAccount(to))?.balance;
    await chain.close();

    const reopened = await Chain.open({ datadir, genesis, logger: silentLogger });
    expect(reopened.lastCommittedHeight()).toBe(2n);
    expect(bytesToHex(reopened.head.hash())).toBe(bytesToHex(head));
    expect((await reopened.store.getAccount(to))?.balance).toBe(balance);
    // Historical state: block 0 still has the genesis balance.
    const genesisBlock = await reopened.blockByNumber(0n);
    const old = await reopened
      .stateAfter(genesisBlock as NonNullable<typeof genesisBlock>)
      .getAccount(new (await import("@ethereumjs/util")).Address(to));
    expect(old?.balance).toBe(10_000n * 10n ** 18n);
    await produce(reopened);
    expect(reopened.lastCommittedHeight()).toBe(3n);
    await reopened.close();
  });

  it("answers BLOCKHASH's window from the canonical index (blockHashLookup), also after reopening", async () => {
    const datadir = await tempDir();
    const genesis = parseGenesis(genesisJson);
    const chain = await Chain.open({ datadir, genesis, logger: silentLogger });
    for (let i = 0; i < 3; i++) await produce(chain);
    const hashes: string[] = [];
    for (const n of [0n, 1n, 2n, 3n])
      hashes.push(bytesToHex((await chain.blockByNumber(n))?.hash() as Uint8Array));
    const hex = (h: Uint8Array | undefined) => (h ? bytesToHex(h) : undefined);
    // Executing block 4: blocks 0..3 are visible; 4 itself and later heights are not.
    const at4 = chain.blockHashLookup(4n);
    for (const n of [0, 1, 2, 3]) expect(hex(await at4(BigInt(n)))).toBe(hashes[n]);
    expect(await at4(4n)).toBeUndefined();
    expect(await at4(5n)).toBeUndefined();
    // 256 back is the oldest BLOCKHASH sees, 257 back is zero.
    expect(hex(await chain.blockHashLookup(256n)(0n))).toBe(hashes[0]);
    expect(await chain.blockHashLookup(257n)(0n)).toBeUndefined();
    await chain.close();
    // From the database when the in-memory hashes are gone.
    const reopened = await Chain.open({ datadir, genesis, logger: silentLogger });
    expect(hex(await reopened.blockHashLookup(4n)(1n))).toBe(hashes[1]);
    await reopened.close();
  });

  it("a follower validates and commits another node's proposal from its bytes alone", async () => {
    const genesis = parseGenesis(genesisJson);
    const leader = await Chain.open({ datadir: await tempDir(), genesis, logger: silentLogger });
    const follower = await Chain.open({ datadir: await tempDir(), genesis, logger: silentLogger });
    const to = hexToBytes("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const txs = [0n, 1n].map((nonce) =>
      createFeeMarket1559Tx(
        {
          nonce,
          to,
          value: 7n,
          gasLimit: 21_000n,
          maxFeePerGas: 10n ** 10n,
          maxPriorityFeePerGas: 1n,
          chainId: 7331n,
        },
        { common: leader.common },
      ).sign(KEY0),
    );
    leader.txSource = () => queue(txs);
    const proposal = await leader.prepareProposal({
      height: 1n,
      round: 0,
      timestampMs: Date.now(),
      proposer: ADDR0,
      maxBytes: 1 << 24,
    });
    // The follower never built this block: it decodes and validates it in parallel.
    const verdict = await follower.processProposal({
      height: 1n,
      round: 0,
      proposer: ADDR0,
      value: proposal,
    });
    expect(verdict.accept).toBe(true);
    await follower.finalizeBlock(decision(1n, proposal, ADDR0));
    const done = await follower.commit();
    expect(done.txCount).toBe(2);
    await leader.finalizeBlock(decision(1n, proposal, ADDR0));
    await leader.commit();
    expect(bytesToHex(follower.head.hash())).toBe(bytesToHex(leader.head.hash()));
    expect(bytesToHex(follower.head.header.stateRoot)).toBe(bytesToHex(leader.head.header.stateRoot));
    // Stored as received and indexed by the hash of each transaction's bytes.
    for (const [i, tx] of txs.entries()) expect((await follower.txLocation(tx.hash()))?.index).toBe(i);
    const stored = await follower.blockByNumber(1n);
    expect(stored?.transactions.map((tx) => bytesToHex(tx.hash()))).toEqual(
      txs.map((tx) => bytesToHex(tx.hash())),
    );
    expect((await follower.receiptsOf(follower.head.hash()))?.map((r) => r.status)).toEqual([1, 1]);
    await leader.close();
    await follower.close();
  });

  it("refuses a data directory created from another genesis", async () => {
    const datadir = await tempDir();
    const chain = await Chain.open({ datadir, genesis: parseGenesis(genesisJson), logger: silentLogger });
    await chain.close();
    const other = parseGenesis({ ...genesisJson, chainId: 7332 });
    await expect(Chain.open({ datadir, genesis: other, logger: silentLogger })).rejects.toMatchObject({
      code: "GENESIS_MISMATCH",
    });
  });

  it("rejects a tampered proposal without changing the head", async () => {
    const datadir = await tempDir();
    const chain = await Chain.open({ datadir, genesis: parseGenesis(genesisJson), logger: silentLogger });
    const height = 1n;
    const good = await chain.prepareProposal({
      height,
      round: 0,
      timestampMs: Date.now(),
      proposer: ADDR0,
      maxBytes: 1 << 24,
    });
    const bad = good.slice();
    bad[bad.length - 40] = (bad[bad.length - 40] as number) ^ 0xff;
    const verdict = await chain.processProposal({ height, round: 0, proposer: ADDR0, value: bad });
    expect(verdict.accept).toBe(false);
    expect(
      (await chain.processProposal({ height, round: 0, proposer: ADDR0, value: Uint8Array.of(0xc0) })).accept,
    ).toBe(false);
    expect((await chain.processProposal({ height: 5n, round: 0, proposer: ADDR0, value: good })).accept).toBe(
      false,
    );
    expect(chain.lastCommittedHeight()).toBe(0n);
    await chain.close();
  });

  it("indexes logs by address and topic", async () => {
    const datadir = await tempDir();
    const chain = await Chain.open({ datadir, genesis: parseGenesis(genesisJson), logger: silentLogger });
    const common = chain.common;
    const initcode = `0x60${(LOGGER_RUNTIME.length / 2).toString(16).padStart(2, "0")}600c60003960${(LOGGER_RUNTIME.length / 2).toString(16).padStart(2, "0")}6000f3${LOGGER_RUNTIME}`;
    const fee = { maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 7331n };
    const deploy = createFeeMarket1559Tx(
      { nonce: 0n, data: hexToBytes(initcode as `0x${string}`), gasLimit: 200_000n, ...fee },
      { common },
    ).sign(KEY0);
    await produce(chain, [deploy]);
    const contract = (await chain.receiptsOf((await chain.blockByNumber(1n))?.hash() as Uint8Array))?.[0]
      ?.contractAddress as Uint8Array;
    expect(contract).toBeDefined();
    await produce(chain);
    const call = createFeeMarket1559Tx(
      { nonce: 1n, to: contract, gasLimit: 100_000n, ...fee },
      { common },
    ).sign(KEY0);
    await produce(chain, [call]);
    const topic = new Uint8Array(32);
    topic[31] = 0x2a;
    expect(await chain.db.logBlocks(contract, 0n, 10n, 100)).toEqual([3n]);
    expect(await chain.db.logBlocks(topic, 0n, 10n, 100)).toEqual([3n]);
    expect(await chain.db.logBlocks(keccak256(topic), 0n, 10n, 100)).toEqual([]);
    await chain.close();
  });

  it("as the consensus application: refuses a proposal whose coinbase is not its proposer, stores commit and misbehaviour, reports info", async () => {
    const datadir = await tempDir();
    const chain = await Chain.open({ datadir, genesis: parseGenesis(genesisJson), logger: silentLogger });
    const proposal = await chain.prepareProposal({
      height: 1n,
      round: 0,
      timestampMs: Date.now(),
      proposer: ADDR0,
      maxBytes: 1 << 24,
    });
    const other = new Uint8Array(20).fill(9);
    const verdict = await chain.processProposal({ height: 1n, round: 0, proposer: other, value: proposal });
    expect(verdict).toMatchObject({
      accept: false,
      reason: expect.stringMatching(/coinbase .* is not the proposer/),
    });
    const vote = (valueId: Uint8Array | null) => ({
      type: 2 as const,
      height: 1n,
      round: 0,
      valueId,
      validator: ADDR0,
      signature: new Uint8Array(65).fill(3),
    });
    const request = decision(1n, proposal, ADDR0);
    const signatures = [{ validator: ADDR0, signature: new Uint8Array(65).fill(7) }];
    const misbehavior = [{ voteA: vote(null), voteB: vote(new Uint8Array(32).fill(5)) }];
    const result = await chain.finalizeBlock({
      ...request,
      round: 2,
      commit: { ...request.commit, round: 2, signatures },
      misbehavior,
    });
    expect(result.validatorUpdates).toEqual([]);
    await expect(chain.commit(2n)).rejects.toMatchObject({ code: "WRONG_HEIGHT" });
    await chain.commit(1n);
    const stored = await chain.commitInfo(1n);
    expect(stored).toEqual({
      height: 1n,
      round: 2,
      proposer: ADDR0,
      valueId: keccak256(proposal),
      signatures,
      misbehavior,
    });
    // The read interface by height: header, commit, and the set that signed it.
    const reader: ChainReader = chain;
    expect(bytesToHex((await reader.headerByNumber(1n))?.hash() ?? new Uint8Array())).toBe(
      bytesToHex(chain.head.hash()),
    );
    expect(await reader.headerByNumber(2n)).toBeUndefined();
    expect(reader.validatorsAt(1n).map((v) => bytesToHex(v.address))).toEqual(
      parseGenesis(genesisJson).validators.map((v) => bytesToHex(v.address)),
    );
    const info = chain.info();
    expect(info.height).toBe(1n);
    expect(bytesToHex(info.blockHash)).toBe(bytesToHex(chain.head.hash()));
    expect(bytesToHex(info.appHash)).toBe(bytesToHex(chain.head.header.stateRoot));
    // The equivocation is recorded with its height, durably: a reopened chain still knows it
    // (a restarted validator must not let a later block slash it again).
    expect(await chain.evidenceRecordedAt(misbehavior[0] as (typeof misbehavior)[0])).toBe(1n);
    const otherRound = { voteA: { ...vote(null), round: 1 }, voteB: { ...vote(null), round: 1 } };
    expect(await chain.evidenceRecordedAt(otherRound)).toBeUndefined();
    await chain.close();
    const reopened = await Chain.open({ datadir, genesis: parseGenesis(genesisJson), logger: silentLogger });
    expect(await reopened.evidenceRecordedAt(misbehavior[0] as (typeof misbehavior)[0])).toBe(1n);
    expect(await reopened.evidenceRecordedAt(otherRound)).toBeUndefined();
    await reopened.close();
  });
});
