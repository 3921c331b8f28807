import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Block } from "@ethereumjs/block";
import { Address, bytesToHex, hexToBytes } from "@ethereumjs/util";
import { MAX_TOTAL_VOTING_POWER } from "@meridian/primitives";
import { STAKING_ADDRESS, stakingAbi } from "@meridian/staking";
import { type FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { decodeFunctionResult, encodeFunctionData, type Hex } from "viem";
import { afterAll, describe, expect, it } from "vitest";
import { buildGenesis, chainCommon, GenesisError, parseGenesis, SequentialExecutor } from "../src/index.ts";

const devnet = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));
const OWNER = "0x6d58073aeeb28068c5925d618da9f4c4f35727b3";
const SECOND = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const ETHER = 10n ** 18n;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type ViewName =
  | "getValidators"
  | "validatorInfo"
  | "minStake"
  | "currentEpoch"
  | "epochLength"
  | "totalStaked";

async function freshChain(json: unknown) {
  const dir = await mkdtemp(join(tmpdir(), "meridian-staking-genesis-"));
  dirs.push(dir);
  const db = await ChainDatabase.open(join(dir, "db"));
  const spec = parseGenesis(json, "test");
  const common = chainCommon(spec);
  const genesis = await buildGenesis(spec, new FlatStateStore(db), common);
  const executor = new SequentialExecutor(common);
  const view = async (name: ViewName, args: readonly unknown[] = []): Promise<unknown> => {
    const data = encodeFunctionData({ abi: stakingAbi, functionName: name, args } as never) as Hex;
    const out = await executor.call(
      { to: hexToBytes(STAKING_ADDRESS), data: hexToBytes(data) },
      genesis.block as Block,
      genesis.state as FlatStateManager,
      { gasCap: 30_000_000n },
    );
    expect(out.error).toBeUndefined();
    return decodeFunctionResult({
      abi: stakingAbi,
      functionName: name,
      data: bytesToHex(out.returnData),
    } as never);
  };
  return { spec, genesis, view, close: () => db.close() };
}

describe("genesis staking section", () => {
  it("devnet: the contract at 0x…1000 holds the stake and its views describe epoch 0", async () => {
    const c = await freshChain(devnet);
    try {
      expect(c.spec.staking?.params.epochLength).toBe(16n);
      const account = await c.genesis.state.getAccount(new Address(hexToBytes(STAKING_ADDRESS)));
      expect(account?.balance).toBe(1000n * ETHER);
      expect(c.spec.validators.map((v) => [bytesToHex(v.address), v.power])).toEqual([[OWNER, 1000n]]);
      const [signers, powers] = (await c.view("getValidators")) as [string[], bigint[]];
      expect(signers.map((s) => s.toLowerCase())).toEqual([OWNER]);
      expect(powers).toEqual([1000n]);
      const info = (await c.view("validatorInfo", [OWNER])) as readonly unknown[];
      expect((info[0] as string).toLowerCase()).toBe(OWNER);
      expect(info[2]).toBe(1000n * ETHER);
      expect(info[3]).toBe(1000);
      expect(info[4]).toBe(false);
      expect(await c.view("minStake")).toBe(10n * ETHER);
      expect(await c.view("currentEpoch")).toBe(0n);
      expect(await c.view("epochLength")).toBe(16n);
      expect(await c.view("totalStaked")).toBe(1000n * ETHER);
      // A newcomer with the minimum stake stays well under a third of the power.
      const minStake = (await c.view("minStake")) as bigint;
      expect(3n * (minStake / ETHER)).toBeLessThan(powers[0] ?? 0n);
    } finally {
      await c.close();
    }
  });

  it("derives the set from stakes: stake-descending, power = stake / powerUnit, capped at maxValidators", async () => {
    const { validators: _drop, ...rest } = devnet;
    const c = await freshChain({
      ...rest,
      staking: {
        minStake: (10n * ETHER).toString(),
        maxValidators: 1,
        validators: [
          { signer: OWNER, stake: (20n * ETHER).toString() },
          {
            owner: "0x00000000000000000000000000000000000000f2",
            signer: SECOND,
            stake: (50n * ETHER).toString(),
          },
        ],
      },
    });
    try {
      expect(c.spec.validators.map((v) => [bytesToHex(v.address), v.power])).toEqual([[SECOND, 50n]]);
      const [signers] = (await c.view("getValidators")) as [string[], bigint[]];
      expect(signers.map((s) => s.toLowerCase())).toEqual([SECOND]);
    } finally {
      await c.close();
    }
  });

  it("caps the genesis set's powers as epochs do, and refuses a powerUnit the supply could stake past consensus's maximum", async () => {
    const { validators: _drop, ...rest } = devnet;
    const staking = {
      ...devnet.staking,
      powerUnit: "1000000000", // gwei: 2,000 ETH is 2e12 power
      maxValidators: 1000,
      validators: [{ signer: OWNER, stake: (2000n * ETHER).toString() }],
    };
    const c = await freshChain({ ...rest, staking });
    try {
      const share = BigInt(Math.floor(MAX_TOTAL_VOTING_POWER / 1000));
      expect(share).toBeLessThan(2n * 10n ** 12n);
      expect(c.spec.validators.map((v) => v.power)).toEqual([share]);
    } finally {
      await c.close();
    }
    // One wei per unit: the devnet's ~100,000 ETH could be staked to ~1e23 power.
    expect(() => parseGenesis({ ...rest, staking: { ...devnet.staking, powerUnit: "1" } })).toThrow(
      /staking\.powerUnit.*above the maximum/,
    );
  });

  it("takes the epoch length from staking.epochLength or consensus.epoch_length, and refuses the two disagreeing", () => {
    const { epochLength: _drop, ...stakingWithout } = devnet.staking;
    const epochOf = (g: Record<string, unknown>) => parseGenesis(g).staking?.params.epochLength;
    expect(epochOf(devnet)).toBe(16n);
    expect(epochOf({ ...devnet, staking: stakingWithout, consensus: { epoch_length: 8 } })).toBe(8n);
    expect(epochOf({ ...devnet, consensus: { epoch_length: 16 } })).toBe(16n);
    expect(() => parseGenesis({ ...devnet, consensus: { epoch_length: 8 } })).toThrow(
      /consensus\.epoch_length: 8 differs from staking\.epochLength 16/,
    );
    expect(() =>
      parseGenesis({ ...devnet, staking: stakingWithout, consensus: { epoch_length: 0 } }),
    ).toThrow(/consensus\.epoch_length: must be positive/);
    const { staking: _s, ...plain } = devnet;
    expect(() => parseGenesis({ ...plain, consensus: { epoch_length: 8 } })).toThrow(
      /consensus\.epoch_length: epochs come from the staking section/,
    );
  });

  it("refuses a validators list that contradicts the stakes, a stake below minStake, and a hand-written 0x…1000", () => {
    expect(() => parseGenesis({ ...devnet, validators: [{ address: OWNER, power: 10 }] })).toThrow(
      GenesisError,
    );
    expect(() =>
      parseGenesis({
        ...devnet,
        staking: { ...devnet.staking, validators: [{ signer: OWNER, stake: "1" }] },
      }),
    ).toThrow(/staking: .*below minStake/);
    expect(() =>
      parseGenesis({ ...devnet, alloc: { ...devnet.alloc, [STAKING_ADDRESS]: { balance: "0x1" } } }),
    ).toThrow(/staking section owns/);
    expect(() => parseGenesis({ ...devnet, staking: { ...devnet.staking, minStake: undefined } })).toThrow(
      /staking.minStake/,
    );
  });

  it("a genesis without the section has no contract and keeps its validators", async () => {
    const { staking: _drop, ...plain } = devnet;
    const c = await freshChain({ ...plain, validators: [{ address: OWNER, power: 10 }] });
    try {
      expect(c.spec.staking).toBeUndefined();
      expect(c.spec.alloc.has(STAKING_ADDRESS.slice(2))).toBe(false);
      expect(c.spec.validators[0]?.power).toBe(10n);
    } finally {
      await c.close();
    }
  });
});
