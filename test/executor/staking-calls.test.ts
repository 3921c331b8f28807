/**
 * The staking system calls of a proof-of-stake block (executor/src/staking-calls.ts) in both
 * executors: the same block from either builder, and either validator accepts it with the
 * same roots; other staking inputs give another state, which validation refuses.
 */
import type { Block } from "@ethereumjs/block";
import { Address, bytesToHex, hexToBytes } from "@ethereumjs/util";
import {
  type BuildRequest,
  ParallelExecutor,
  SequentialExecutor,
  type StakingBlockCalls,
} from "@meridian/executor";
import { STAKING_ADDRESS, stakingAbi } from "@meridian/staking";
import type { FlatStateManager } from "@meridian/state";
import { decodeFunctionResult, encodeFunctionData, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Chain, listSource, makeChain, signTx } from "../helpers/executor-workloads.ts";

const ETHER = 10n ** 18n;
const GENESIS_VALIDATOR = hexToBytes("0x6D58073AeeB28068c5925D618DA9f4c4F35727b3");
const NEW_SIGNER = hexToBytes("0x00000000000000000000000000000000000ab0de");
const staking = hexToBytes(STAKING_ADDRESS);
const data = (hex: Hex) => hexToBytes(hex);

let chain: Chain;
let parallel: ParallelExecutor;
let sequential: SequentialExecutor;

beforeAll(async () => {
  chain = await makeChain(6);
  parallel = new ParallelExecutor(chain.common, { workers: 2 });
  sequential = new SequentialExecutor(chain.common);
});
afterAll(async () => {
  await parallel?.close();
});

/** Sender 1 registers a validator, sender 2 delegates to the genesis one, others transfer. */
function stakingTxs() {
  return [
    signTx(chain, 1, 0n, staking, {
      value: 20n * ETHER,
      gasLimit: 600_000n,
      data: data(
        encodeFunctionData({
          abi: stakingAbi,
          functionName: "registerValidator",
          args: [bytesToHex(NEW_SIGNER) as Hex, 500],
        }),
      ),
    }),
    signTx(chain, 2, 0n, staking, {
      value: 5n * ETHER,
      gasLimit: 400_000n,
      data: data(
        encodeFunctionData({
          abi: stakingAbi,
          functionName: "delegate",
          args: [bytesToHex(GENESIS_VALIDATOR) as Hex],
        }),
      ),
    }),
    signTx(chain, 3, 0n, chain.senders[4], { value: 7n }),
    signTx(chain, 4, 0n, chain.senders[5], { value: 9n, tip: 3_000_000n }),
  ];
}

const calls = (over: Partial<StakingBlockCalls> = {}): StakingBlockCalls => ({
  issuance: ETHER / 10n,
  proposer: GENESIS_VALIDATOR,
  signers: [GENESIS_VALIDATOR],
  absent: [],
  offenders: [],
  endEpoch: true,
  ...over,
});

function request(s: StakingBlockCalls): BuildRequest {
  return {
    parent: chain.genesis,
    state: chain.fresh(),
    timestamp: chain.genesis.header.timestamp + 1n,
    coinbase: staking,
    txs: listSource(stakingTxs()),
    staking: s,
  };
}

async function view(
  block: Block,
  state: FlatStateManager,
  name: "getValidators" | "currentEpoch" | "totalStaked",
) {
  const out = await sequential.call(
    { to: staking, data: data(encodeFunctionData({ abi: stakingAbi, functionName: name })) },
    block,
    state,
    { gasCap: 30_000_000n },
  );
  expect(out.error).toBeUndefined();
  return decodeFunctionResult({
    abi: stakingAbi,
    functionName: name,
    data: bytesToHex(out.returnData) as Hex,
  });
}

describe("staking system calls", () => {
  it("parallel and sequential build the same block; both validators accept it; endEpoch admits the newcomer", async () => {
    const s = calls();
    const fromParallel = await parallel.build(request(s));
    const fromSequential = await sequential.build(request(s));
    expect(fromParallel.rejected).toEqual([]);
    expect(fromParallel.receipts.map((r) => r.status)).toEqual([1, 1, 1, 1]);
    const p = fromParallel.block.header;
    const q = fromSequential.block.header;
    expect(bytesToHex(p.stateRoot)).toBe(bytesToHex(q.stateRoot));
    expect(bytesToHex(p.receiptTrie)).toBe(bytesToHex(q.receiptTrie));
    expect(p.gasUsed).toBe(q.gasUsed);

    const byParallel = await parallel.validate(
      fromParallel.block,
      fromParallel.accessList,
      chain.genesis,
      chain.fresh(),
      { staking: s },
    );
    const bySequential = await sequential.execute(fromParallel.block, chain.genesis, chain.fresh(), {
      staking: s,
    });
    expect(bytesToHex(await byParallel.state.getStateRoot())).toBe(bytesToHex(p.stateRoot));
    expect(bytesToHex(await bySequential.state.getStateRoot())).toBe(bytesToHex(p.stateRoot));

    const [signers, powers] = (await view(fromParallel.block, bySequential.state, "getValidators")) as [
      string[],
      bigint[],
    ];
    expect(signers.map((a) => a.toLowerCase())).toEqual([
      bytesToHex(GENESIS_VALIDATOR).toLowerCase(),
      bytesToHex(NEW_SIGNER),
    ]);
    expect(powers).toEqual([1005n, 20n]);
    expect(await view(fromParallel.block, bySequential.state, "currentEpoch")).toBe(1n);
  });

  it("a block built with other staking inputs is refused by both validators", async () => {
    const built = await parallel.build(request(calls()));
    for (const other of [
      calls({ endEpoch: false }),
      calls({ absent: [GENESIS_VALIDATOR] }),
      calls({ issuance: 0n }),
    ]) {
      await expect(
        parallel.validate(built.block, built.accessList, chain.genesis, chain.fresh(), { staking: other }),
      ).rejects.toThrow(/invalid block 1: /);
      await expect(
        sequential.execute(built.block, chain.genesis, chain.fresh(), { staking: other }),
      ).rejects.toThrow(/invalid block 1: /);
    }
    // Without staking calls at all it is refused too.
    await expect(sequential.execute(built.block, chain.genesis, chain.fresh())).rejects.toThrow(
      /invalid block 1/,
    );
  });

  it("slashing burns to address(0), and a slash of an unknown signer is a no-op", async () => {
    const withSlash = await sequential.build(request(calls({ offenders: [GENESIS_VALIDATOR, NEW_SIGNER] })));
    const plain = await sequential.build(
      request(calls({ offenders: [hexToBytes("0x000000000000000000000000000000000000dead")] })),
    );
    const base = await sequential.build(request(calls()));
    expect(bytesToHex(plain.block.header.stateRoot)).toBe(bytesToHex(base.block.header.stateRoot));
    expect(bytesToHex(withSlash.block.header.stateRoot)).not.toBe(bytesToHex(base.block.header.stateRoot));
    const burned = await withSlash.state.getAccount(new Address(new Uint8Array(20)));
    // 5% of the genesis validator's 1000 ether (the newcomer registers after the slash calls).
    expect(burned?.balance).toBe(50n * ETHER);
  });
});
