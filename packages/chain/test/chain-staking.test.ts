/**
 * A proof-of-stake Chain (the devnet genesis): proposals carry the previous height's commit,
 * which every validator verifies before the staking system calls use it; the miner is the
 * staking contract; rewards accrue to the signers.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import { signDigest, signDigestWithKey, VoteType, voteSignBytes } from "@meridian/consensus";
import { parseGenesis } from "@meridian/executor";
import {
  bytesToHex,
  type FinalizeBlockRequest,
  hexToBytes,
  keccak256,
  MAX_TOTAL_VOTING_POWER,
  privateKeyToAddress,
  silentLogger,
} from "@meridian/primitives";
import { STAKING_ADDRESS, stakingAbi } from "@meridian/staking";
import { decodeFunctionResult, encodeFunctionData, type Hex } from "viem";
import { afterAll, describe, expect, it } from "vitest";
import { Chain, decodeStakingProposal, encodeStakingProposal } from "../src/chain.ts";

const devnet = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));
/** The devnet's validator key (m/44'/60'/0'/0/1000 of the dev mnemonic). */
const KEY0 = hexToBytes("0x4c9bf220174eb3e9a15536ff4ff1985826e0bcef256020686cf8841f56a1119a");
const ADDR0 = privateKeyToAddress(KEY0);
const CHAIN_ID = "7331";
const ETHER = 10n ** 18n;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openChain(at?: string, genesis: unknown = devnet): Promise<Chain> {
  const datadir = at ?? (await mkdtemp(join(tmpdir(), "meridian-pos-chain-")));
  dirs.push(datadir);
  return Chain.open({ datadir, genesis: parseGenesis(genesis), logger: silentLogger, workers: 0 });
}

/** The round-0 decision of `value`, precommitted by the devnet's only validator. */
function signedDecision(height: bigint, value: Uint8Array): FinalizeBlockRequest {
  const valueId = keccak256(value);
  const vote = { type: VoteType.Precommit, height, round: 0, valueId };
  const signature = signDigestWithKey(KEY0, signDigest(voteSignBytes(CHAIN_ID, vote)));
  return {
    height,
    round: 0,
    proposer: ADDR0,
    value,
    commit: { height, round: 0, valueId, signatures: [{ validator: ADDR0, signature }] },
    misbehavior: [],
  };
}

async function propose(chain: Chain): Promise<Uint8Array> {
  return chain.prepareProposal({
    height: chain.lastCommittedHeight() + 1n,
    round: 0,
    timestampMs: Date.now(),
    proposer: ADDR0,
    maxBytes: 1 << 24,
  });
}

async function decide(chains: Chain[], value: Uint8Array): Promise<void> {
  for (const chain of chains) {
    const height = chain.lastCommittedHeight() + 1n;
    const verdict = await chain.processProposal({ height, round: 0, proposer: ADDR0, value });
    expect(verdict).toMatchObject({ accept: true });
    await chain.finalizeBlock(signedDecision(height, value));
    await chain.commit();
  }
}

async function view(
  chain: Chain,
  name: "pendingRewards" | "accountedBalance" | "validatorInfo" | "totalBurned",
  args: readonly unknown[] = [],
): Promise<unknown> {
  const head = (await chain.blockByNumber(chain.lastCommittedHeight())) as NonNullable<
    Awaited<ReturnType<Chain["blockByNumber"]>>
  >;
  const out = await chain.executor.call(
    {
      to: hexToBytes(STAKING_ADDRESS),
      data: hexToBytes(encodeFunctionData({ abi: stakingAbi, functionName: name, args } as never) as Hex),
    },
    head,
    chain.stateAfter(head),
    { gasCap: 30_000_000n },
  );
  return decodeFunctionResult({
    abi: stakingAbi,
    functionName: name,
    data: bytesToHex(out.returnData) as Hex,
  } as never);
}

describe("Chain on a staking genesis", () => {
  it("carries and verifies the last commit, names the contract as miner, and pays the signers", async () => {
    const leader = await openChain();
    const follower = await openChain();
    try {
      for (let i = 0; i < 3; i++) await decide([leader, follower], await propose(leader));
      const head = await follower.blockByNumber(3n);
      expect(bytesToHex(head?.header.coinbase.bytes as Uint8Array)).toBe(STAKING_ADDRESS);
      // Blocks 2 and 3 rewarded the commit's only signer: 0.1 ether issued per block, block 1's
      // with nothing to split (no last commit) is split with block 2's.
      const pending = (await view(follower, "pendingRewards", [bytesToHex(ADDR0)])) as bigint;
      expect(pending).toBeGreaterThanOrEqual((3n * ETHER) / 10n - 10n);
      expect(pending).toBeLessThanOrEqual((3n * ETHER) / 10n);
      expect((await view(follower, "accountedBalance")) as bigint).toBeGreaterThanOrEqual(
        1000n * ETHER + pending - 10n,
      );

      // Height 4: the same block with a last commit that lacks its signature, or another
      // height's, is refused; the honest value is accepted.
      const value = await propose(leader);
      const { inner, lastCommit } = decodeStakingProposal(value);
      expect(lastCommit?.height).toBe(3n);
      const unsigned = encodeStakingProposal(inner, {
        ...(lastCommit as NonNullable<typeof lastCommit>),
        signatures: [],
      });
      const stale = encodeStakingProposal(inner, await leader.commitInfo(2n));
      const missing = encodeStakingProposal(inner, undefined);
      for (const [bad, reason] of [
        [unsigned, /voting power/],
        [stale, /last commit is of height 2/],
        [missing, /no last commit/],
      ] as const) {
        const verdict = await follower.processProposal({ height: 4n, round: 0, proposer: ADDR0, value: bad });
        expect(verdict.accept).toBe(false);
        expect(verdict.accept === false && verdict.reason).toMatch(reason);
      }
      await decide([follower], value);
      expect(follower.lastCommittedHeight()).toBe(4n);
    } finally {
      await leader.close();
      await follower.close();
    }
  });
});

describe("slashing on a staking Chain", () => {
  it("slashes and jails the validator named by the value's evidence once, on every node", async () => {
    const leader = await openChain();
    const follower = await openChain();
    try {
      const first = await propose(leader);
      await decide([leader, follower], first);
      // Two precommits of the validator at height 1, round 0, for different values.
      const vote = (valueId: Uint8Array) => {
        const v = { type: VoteType.Precommit, height: 1n, round: 0, valueId };
        return {
          ...v,
          validator: ADDR0,
          signature: signDigestWithKey(KEY0, signDigest(voteSignBytes(CHAIN_ID, v))),
        };
      };
      const equivocation = {
        voteA: vote(new Uint8Array(32).fill(1)),
        voteB: vote(new Uint8Array(32).fill(2)),
      };
      const misbehavior = [equivocation, equivocation];
      const value = await leader.prepareProposal({
        height: 2n,
        round: 0,
        timestampMs: Date.now(),
        proposer: ADDR0,
        maxBytes: 1 << 24,
        misbehavior,
      });
      for (const chain of [leader, follower]) {
        expect(
          await chain.processProposal({ height: 2n, round: 0, proposer: ADDR0, value, misbehavior }),
        ).toMatchObject({
          accept: true,
        });
        await chain.finalizeBlock({ ...signedDecision(2n, value), misbehavior });
        await chain.commit();
        const [, , totalStake, , jailed] = (await view(chain, "validatorInfo", [
          bytesToHex(ADDR0),
        ])) as readonly [string, string, bigint, number, boolean];
        // The devnet burns 5% (slashFractionBps 500), once however often the value names it.
        expect(totalStake).toBe(950n * ETHER);
        expect(jailed).toBe(true);
        expect(await view(chain, "totalBurned")).toBe(50n * ETHER);
      }
      // Without the evidence the block's state root is not reached: the block is refused.
      const third = await openChain();
      try {
        await decide([third], first);
        const verdict = await third.processProposal({ height: 2n, round: 0, proposer: ADDR0, value });
        expect(verdict.accept).toBe(false);
      } finally {
        await third.close();
      }
    } finally {
      await leader.close();
      await follower.close();
    }
  });
});

describe("epochs on a staking Chain", () => {
  it("returns the contract's new set at the epoch's last block, records it, and resumes with it", async () => {
    const datadir = await mkdtemp(join(tmpdir(), "meridian-pos-epoch-"));
    let chain = await openChain(datadir);
    const KEY5 = hexToBytes("0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba");
    const newSigner = hexToBytes("0x00000000000000000000000000000000005e1f00");
    try {
      const register = createFeeMarket1559Tx(
        {
          nonce: 0n,
          to: hexToBytes(STAKING_ADDRESS),
          value: 10n * ETHER,
          data: hexToBytes(
            encodeFunctionData({
              abi: stakingAbi,
              functionName: "registerValidator",
              args: [bytesToHex(newSigner) as Hex, 0],
            }),
          ),
          gasLimit: 600_000n,
          maxFeePerGas: 10n ** 10n,
          maxPriorityFeePerGas: 10n ** 9n,
          chainId: 7331n,
        },
        { common: chain.common },
      ).sign(KEY5);
      const queued = [register];
      chain.txSource = () => ({
        peek: () => (queued[0] ? { tx: queued[0], sender: queued[0].getSenderAddress().bytes } : undefined),
        shift: () => void queued.shift(),
        pop: () => void queued.shift(),
      });
      const updatesAt = new Map<bigint, number>();
      for (let h = 1n; h <= 16n; h++) {
        const value = await propose(chain);
        expect(await chain.processProposal({ height: h, round: 0, proposer: ADDR0, value })).toMatchObject({
          accept: true,
        });
        const result = await chain.finalizeBlock(signedDecision(h, value));
        if (result.validatorUpdates.length > 0) updatesAt.set(h, result.validatorUpdates.length);
        await chain.commit();
      }
      // Only the epoch's last block changes the set: the newcomer joins with power 10.
      expect([...updatesAt.keys()]).toEqual([16n]);
      const before = chain.validatorSets.at(16n);
      const after = chain.validatorSets.at(17n);
      expect(before.size).toBe(1);
      expect(after.size).toBe(2);
      expect(after.powerOf(newSigner)).toBe(10);
      expect(after.powerOf(ADDR0)).toBe(1000);
      expect(chain.validatorsAt(17n).map((v) => v.power)).toEqual(
        after.validators.map((v) => BigInt(v.power)),
      );
      expect(chain.validatorsAt(16n)).toHaveLength(1);
      const priorities = [...after.priorities];
      await chain.close();
      chain = await openChain(datadir);
      expect(chain.validatorSets.at(17n).powerOf(newSigner)).toBe(10);
      expect([...chain.validatorSets.at(17n).priorities]).toEqual(priorities);
      expect(chain.validatorSets.at(16n).size).toBe(1);
      // Height 17's proposal carries height 16's commit, checked against the old set.
      const value = await propose(chain);
      expect(await chain.processProposal({ height: 17n, round: 0, proposer: ADDR0, value })).toMatchObject({
        accept: true,
      });
    } finally {
      await chain.close();
    }
  });

  it("keeps an epoch's powers within consensus's maximum: a stake worth more is capped as at genesis", async () => {
    // Power unit 1 gwei: the validator's 2,000 ETH is 2e12 power, above an equal share of the
    // maximum among 1,000 validators (~1.1e12).
    const { validators: _drop, ...rest } = devnet;
    const genesis = {
      ...rest,
      staking: {
        ...devnet.staking,
        powerUnit: "1000000000",
        maxValidators: 1000,
        validators: [{ ...devnet.staking.validators[0], stake: (2000n * ETHER).toString() }],
      },
    };
    const share = Math.floor(MAX_TOTAL_VOTING_POWER / 1000);
    const chain = await openChain(undefined, genesis);
    try {
      expect(chain.validatorSets.at(1n).powerOf(ADDR0)).toBe(share);
      for (let h = 1n; h <= 16n; h++) await decide([chain], await propose(chain));
      // The epoch's end re-read the contract's set (2e12 and more with rewards): still the share.
      expect(chain.validatorSets.at(17n).powerOf(ADDR0)).toBe(share);
      const [, , totalStake] = (await view(chain, "validatorInfo", [bytesToHex(ADDR0)])) as [
        string,
        string,
        bigint,
      ];
      expect(totalStake).toBeGreaterThanOrEqual(2000n * ETHER);
    } finally {
      await chain.close();
    }
  });
});
