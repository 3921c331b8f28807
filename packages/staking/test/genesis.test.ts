import { MeridianError } from "@meridian/primitives";
import { type Address, getAddress, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GenesisValidator,
  genesisStorage,
  STAKING_ADDRESS,
  STAKING_GENESIS_INVALID,
  stakingDeployedBytecode,
  stakingGenesisAccount,
} from "../src/index.ts";
import {
  type Anvil,
  baseParams,
  deployStaking,
  ETHER,
  installGenesis,
  type StakingHarness,
  startAnvil,
} from "./harness.ts";

const signer = (n: number): Address => getAddress(`0x${n.toString(16).padStart(40, "0")}`);

describe("genesisStorage (pure)", () => {
  const owner = (n: number) => signer(0xb000 + n);
  const validator = (n: number, stake = 10n * ETHER): GenesisValidator => ({
    owner: owner(n),
    signer: signer(0xa000 + n),
    commissionBps: 100,
    stake,
  });

  it.each([
    ["a stake below minStake", { ...baseParams }, [validator(1, ETHER)]],
    ["minStake below powerUnit", { ...baseParams, minStake: 1n, powerUnit: ETHER }, [validator(1)]],
    ["slashFractionBps of 10000", { ...baseParams, slashFractionBps: 10_000 }, [validator(1)]],
    ["maxValidators of 0", { ...baseParams, maxValidators: 0 }, [validator(1)]],
    ["a duplicate signer", baseParams, [validator(1), { ...validator(1), owner: owner(2) }]],
    ["a duplicate owner", baseParams, [validator(1), { ...validator(2), owner: owner(1) }]],
    ["commission above 10000", baseParams, [{ ...validator(1), commissionBps: 10_001 }]],
  ])("refuses %s", (_desc, params, validators) => {
    let caught: unknown;
    try {
      genesisStorage(params, validators);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MeridianError);
    expect((caught as MeridianError).code).toBe(STAKING_GENESIS_INVALID);
  });

  it("omits zero slots and gives the contract the staked balance", () => {
    const account = stakingGenesisAccount(baseParams, [validator(1, 12n * ETHER), validator(2, 30n * ETHER)]);
    expect(account.balance).toBe(42n * ETHER);
    expect(account.code).toBe(stakingDeployedBytecode);
    for (const value of Object.values(account.storage)) expect(BigInt(value)).not.toBe(0n);
  });
});

describe("genesis state on anvil equals the constructor's", () => {
  let anvil: Anvil;
  let validators: GenesisValidator[];
  let constructed: StakingHarness;
  let genesis: StakingHarness;

  beforeAll(async () => {
    anvil = await startAnvil();
    // Four candidates for three seats; two tie on stake so the tie-break by signer matters.
    validators = [
      { owner: anvil.accounts[1]!, signer: signer(0xa3), commissionBps: 500, stake: 20n * ETHER },
      { owner: anvil.accounts[2]!, signer: signer(0xa1), commissionBps: 0, stake: 15n * ETHER + 1n },
      { owner: anvil.accounts[3]!, signer: signer(0xa4), commissionBps: 10_000, stake: 20n * ETHER },
      { owner: anvil.accounts[4]!, signer: signer(0xa2), commissionBps: 250, stake: 12n * ETHER },
    ];
    constructed = await deployStaking(anvil, baseParams, validators);
    genesis = await installGenesis(anvil, baseParams, validators);
  });
  afterAll(async () => {
    await anvil?.stop();
  });

  it("writes exactly the slots the constructor writes", async () => {
    const trace = (await anvil.publicClient.request({
      method: "debug_traceTransaction" as never,
      params: [
        constructed.deployHash,
        { tracer: "prestateTracer", tracerConfig: { diffMode: true } },
      ] as never,
    })) as { post: Record<string, { storage?: Record<Hex, Hex> }> };
    const written = trace.post[constructed.address.toLowerCase()]?.storage ?? {};
    const normalise = (slots: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(slots)
          .filter(([, v]) => BigInt(v) !== 0n)
          .map(([k, v]) => [BigInt(k).toString(16), BigInt(v).toString(16)]),
      );
    const expected = normalise(genesisStorage(baseParams, validators));
    expect(Object.keys(expected).length).toBeGreaterThan(20);
    expect(normalise(written)).toEqual(expected);
    expect(await anvil.publicClient.getCode({ address: constructed.address })).toBe(stakingDeployedBytecode);
  });

  it("answers every view function the same way, with what the genesis says", async () => {
    for (const h of [constructed, genesis]) {
      const [signers, powers] = await h.read("getValidators");
      // Top three by stake, ties by lower signer: 0xa3 before 0xa4 (both 20 ether), then 0xa1.
      expect(signers).toEqual([signer(0xa3), signer(0xa4), signer(0xa1)]);
      expect(powers).toEqual([20n, 20n, 15n]);
      expect(await h.read("currentEpoch")).toBe(0n);
      expect(await h.read("minStake")).toBe(baseParams.minStake);
      expect(await h.read("params")).toEqual(baseParams);
      expect(await h.read("issuancePerBlock")).toBe(baseParams.issuancePerBlock);
      expect(await h.read("epochLength")).toBe(baseParams.epochLength);
      expect(await h.read("totalStaked")).toBe(67n * ETHER + 1n);
      expect(await h.read("accountedBalance")).toBe(67n * ETHER + 1n);
      expect(await h.read("totalUnbonding")).toBe(0n);
      expect(await h.balance(h.address)).toBe(67n * ETHER + 1n);
      expect(await h.read("allValidators")).toEqual(validators.map((v) => v.signer));
      for (const v of validators) {
        expect(await h.read("validatorInfo", [v.signer])).toEqual([
          v.owner,
          v.signer,
          v.stake,
          v.commissionBps,
          false,
          0n,
        ]);
        expect(await h.read("stakeOf", [v.signer, v.owner])).toBe(v.stake);
        expect(await h.read("validatorOfOwner", [v.owner])).toBe(v.signer);
        expect(await h.read("pendingRewards", [v.owner])).toBe(0n);
      }
      expect(await h.read("activePower", [signer(0xa2)])).toBe(0n);
    }
    expect(genesis.address).toBe(STAKING_ADDRESS);
  });

  it("evolves identically under the same calls (delegate, rewards, epoch end)", async () => {
    const delegator = anvil.accounts[9]!;
    const snapshots = [];
    for (const h of [constructed, genesis]) {
      await h.send(delegator, "delegate", [signer(0xa2)], 10n * ETHER);
      await h.credit(baseParams.issuancePerBlock);
      await h.system("distributeRewards", [signer(0xa3), [signer(0xa3), signer(0xa4), signer(0xa1)]]);
      await h.system("endEpoch", []);
      snapshots.push({
        validators: await h.read("getValidators"),
        epoch: await h.read("currentEpoch"),
        rewards: await Promise.all(validators.map((v) => h.read("pendingRewards", [v.owner]))),
        stake: await h.read("stakeOf", [signer(0xa2), delegator]),
      });
    }
    expect(snapshots[0]).toEqual(snapshots[1]);
    expect(snapshots[0]!.validators[0]).toEqual([signer(0xa2), signer(0xa3), signer(0xa4)]);
    expect(snapshots[0]!.epoch).toBe(1n);
  });
});
