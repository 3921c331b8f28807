import { type Address, getAddress, type Hex, parseEventLogs, zeroAddress } from "viem";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type GenesisValidator, stakingAbi } from "../src/index.ts";
import { type Anvil, baseParams, ETHER, installGenesis, type StakingHarness, startAnvil } from "./harness.ts";

const addr = (n: number): Address => getAddress(`0x${n.toString(16).padStart(40, "0")}`);
const S1 = addr(0xa1);
const S2 = addr(0xa2);
const S3 = addr(0xa3);
const S4 = addr(0xa4);
const PRECISION = 10n ** 18n;

let anvil: Anvil;
let h: StakingHarness;
let snapshot: Hex;
let genesis: GenesisValidator[];
let [deployer, owner1, owner2, owner3, owner4, other, delegator] = [] as Address[];

beforeAll(async () => {
  anvil = await startAnvil();
  [deployer, owner1, owner2, owner3, owner4, other, delegator] = anvil.accounts;
  genesis = [
    { owner: owner1!, signer: S1, commissionBps: 500, stake: 20n * ETHER },
    { owner: owner2!, signer: S2, commissionBps: 1_000, stake: 15n * ETHER },
    { owner: owner3!, signer: S3, commissionBps: 10_000, stake: 12n * ETHER },
  ];
  h = await installGenesis(anvil, baseParams, genesis);
});
afterAll(async () => {
  await anvil?.stop();
});
beforeEach(async () => {
  snapshot = await anvil.testClient.snapshot();
});
afterEach(async () => {
  await anvil.testClient.revert({ id: snapshot });
});

const events = (receipt: { logs: Parameters<typeof parseEventLogs>[0]["logs"] }) =>
  parseEventLogs({ abi: stakingAbi, logs: receipt.logs });

async function endEpochs(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await h.system("endEpoch", []);
}

describe("registerValidator", () => {
  it("registers the caller as owner with msg.value as self-stake; the set changes only at the epoch end", async () => {
    const receipt = await h.send(owner4!, "registerValidator", [S4, 1_234], 30n * ETHER);
    expect(events(receipt).map((e) => e.eventName)).toEqual(["ValidatorRegistered", "Delegated"]);
    expect(await h.read("validatorInfo", [S4])).toEqual([owner4, S4, 30n * ETHER, 1_234, false, 0n]);
    expect(await h.read("stakeOf", [S4, owner4!])).toBe(30n * ETHER);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2, S3]);
    await h.system("endEpoch", []);
    // maxValidators = 3 keeps the top stakes: S3 (12 ether) drops out.
    expect(await h.read("getValidators")).toEqual([
      [S4, S1, S2],
      [30n, 20n, 15n],
    ]);
    expect(await h.read("currentEpoch")).toBe(1n);
  });

  type Refusal = {
    from: () => Address;
    signer: Address;
    commissionBps: number;
    value: bigint;
    error: string;
  };
  const refusals: [string, Refusal][] = [
    [
      "too little stake",
      { from: () => owner4!, signer: S4, commissionBps: 0, value: 10n * ETHER - 1n, error: "StakeTooLow" },
    ],
    [
      "a second validator for one owner",
      {
        from: () => owner1!,
        signer: S4,
        commissionBps: 0,
        value: 10n * ETHER,
        error: "OwnerAlreadyRegistered",
      },
    ],
    [
      "a signer already registered",
      {
        from: () => owner4!,
        signer: S1,
        commissionBps: 0,
        value: 10n * ETHER,
        error: "SignerAlreadyRegistered",
      },
    ],
    [
      "commission above 10000 bps",
      {
        from: () => owner4!,
        signer: S4,
        commissionBps: 10_001,
        value: 10n * ETHER,
        error: "CommissionTooHigh",
      },
    ],
    [
      "the zero signer",
      {
        from: () => owner4!,
        signer: zeroAddress,
        commissionBps: 0,
        value: 10n * ETHER,
        error: "InvalidSigner",
      },
    ],
  ];
  it.each(refusals)("refuses %s", async (_desc, r) => {
    const refusal = await h.revertOf(r.from(), "registerValidator", [r.signer, r.commissionBps], r.value);
    expect(refusal?.errorName).toBe(r.error);
  });
});

describe("delegate, undelegate, withdraw", () => {
  it("delegates pro rata shares and reports stakes", async () => {
    const receipt = await h.send(delegator!, "delegate", [S2], 5n * ETHER);
    expect(events(receipt)[0]).toMatchObject({
      eventName: "Delegated",
      args: { signer: S2, delegator, amount: 5n * ETHER, shares: 5n * ETHER },
    });
    expect(await h.read("stakeOf", [S2, delegator!])).toBe(5n * ETHER);
    expect((await h.read("validatorInfo", [S2]))[2]).toBe(20n * ETHER);
    expect(await h.read("totalStaked")).toBe(52n * ETHER);
    expect(await h.read("accountedBalance")).toBe(await h.balance(h.address));
  });

  it("refuses unknown validators and zero amounts", async () => {
    expect((await h.revertOf(delegator!, "delegate", [S4], ETHER))?.errorName).toBe("UnknownValidator");
    expect((await h.revertOf(delegator!, "delegate", [S1], 0n))?.errorName).toBe("ZeroAmount");
    expect((await h.revertOf(delegator!, "undelegate", [S1, 0n]))?.errorName).toBe("ZeroAmount");
  });

  it("refuses to undelegate more than staked", async () => {
    await h.send(delegator!, "delegate", [S1], 3n * ETHER);
    const refusal = await h.revertOf(delegator!, "undelegate", [S1, 3n * ETHER + 1n]);
    expect(refusal).toEqual({ errorName: "InsufficientStake", args: [3n * ETHER, 3n * ETHER + 1n] });
  });

  it("unbonds for unbondingEpochs, refuses an early withdraw, then pays exactly", async () => {
    await h.send(delegator!, "delegate", [S1], 3n * ETHER);
    await h.send(delegator!, "undelegate", [S1, 2n * ETHER]);
    expect(await h.read("stakeOf", [S1, delegator!])).toBe(ETHER);
    expect(await h.read("unbondingsOf", [delegator!])).toEqual([[S1], [2n * ETHER], [2n]]);
    expect(await h.read("totalUnbonding")).toBe(2n * ETHER);
    expect((await h.revertOf(delegator!, "withdraw", []))?.errorName).toBe("NothingToWithdraw");
    await endEpochs(1);
    expect((await h.revertOf(delegator!, "withdraw", []))?.errorName).toBe("NothingToWithdraw");
    await endEpochs(1);
    const before = await h.balance(delegator!);
    const receipt = await h.send(delegator!, "withdraw", []);
    expect(await h.balance(delegator!)).toBe(before + 2n * ETHER);
    expect(events(receipt)[0]).toMatchObject({ eventName: "Withdrawn", args: { amount: 2n * ETHER } });
    expect(await h.read("unbondingsOf", [delegator!])).toEqual([[], [], []]);
    expect(await h.read("totalUnbonding")).toBe(0n);
    expect((await h.revertOf(delegator!, "withdraw", []))?.errorName).toBe("NothingToWithdraw");
  });

  it("a validator whose stake falls below minStake leaves the set at the epoch end", async () => {
    await h.send(owner3!, "undelegate", [S3, 3n * ETHER]);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2, S3]);
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2]);
  });
});

describe("system-only functions", () => {
  it.each([
    ["distributeRewards", [S1, [S1]]],
    ["recordMissed", [[S1]]],
    ["slash", [S1]],
    ["endEpoch", []],
  ] as const)("%s refuses a normal sender", async (fn, args) => {
    const refusal = await h.revertOf(other!, fn, args as never);
    expect(refusal).toEqual({ errorName: "NotSystem", args: [other] });
  });
});

/** What _reward credits: commission to the owner, perShare (floored) to every delegation share. */
function credit(amount: bigint, commissionBps: bigint, totalShares: bigint) {
  const commission = (amount * commissionBps) / 10_000n;
  const perShare = ((amount - commission) * PRECISION) / totalShares;
  return { toOwner: commission, perShare };
}

describe("distributeRewards and claimRewards", () => {
  it("splits issuance: proposer bonus, then by power; commission to owners, the rest pro rata; claims pay exactly", async () => {
    await h.send(delegator!, "delegate", [S2], 5n * ETHER);
    const issuance = 10n * ETHER;
    await h.credit(issuance);
    const receipt = await h.system("distributeRewards", [S1, [S1, S2, S3]]);
    const bonus = issuance / 10n;
    const pot = issuance - bonus;
    const powers = { S1: 20n, S2: 15n, S3: 12n };
    const share = (p: bigint) => (pot * p) / 47n;
    const distributed = bonus + share(powers.S1) + share(powers.S2) + share(powers.S3);
    expect(events(receipt).find((e) => e.eventName === "RewardsDistributed")).toMatchObject({
      args: { proposer: S1, incoming: issuance, distributed },
    });
    // S1: commission 5%, owner holds every share.
    const c1a = credit(bonus, 500n, 20n * ETHER);
    const c1b = credit(share(powers.S1), 500n, 20n * ETHER);
    const owner1Expected =
      c1a.toOwner + c1b.toOwner + (20n * ETHER * (c1a.perShare + c1b.perShare)) / PRECISION;
    // S2: commission 10%, owner 15 of 20 shares, delegator 5 of 20.
    const c2 = credit(share(powers.S2), 1_000n, 20n * ETHER);
    const owner2Expected = c2.toOwner + (15n * ETHER * c2.perShare) / PRECISION;
    const delegatorExpected = (5n * ETHER * c2.perShare) / PRECISION;
    // S3: commission 100%.
    const owner3Expected = share(powers.S3);
    expect(await h.read("pendingRewards", [owner1!])).toBe(owner1Expected);
    expect(await h.read("pendingRewards", [owner2!])).toBe(owner2Expected);
    expect(await h.read("pendingRewards", [delegator!])).toBe(delegatorExpected);
    expect(await h.read("pendingRewards", [owner3!])).toBe(owner3Expected);
    // Proportional to power: the delegator's 5/20 of S2's non-commission part.
    expect(delegatorExpected).toBe((share(powers.S2) * 9n) / 10n / 4n);
    expect(await h.read("accountedBalance")).toBe(52n * ETHER + distributed);

    for (const [account, expected] of [
      [owner1!, owner1Expected],
      [owner2!, owner2Expected],
      [owner3!, owner3Expected],
      [delegator!, delegatorExpected],
    ] as const) {
      const before = await h.balance(account);
      await h.send(account, "claimRewards", []);
      expect(await h.balance(account)).toBe(before + expected);
      expect(await h.read("pendingRewards", [account])).toBe(0n);
    }
    expect((await h.revertOf(owner1!, "claimRewards", []))?.errorName).toBe("NothingToClaim");
  });

  it("collects block fees: the contract as fee recipient, tips are split on the next call", async () => {
    await anvil.testClient.setCoinbase({ address: h.address });
    const hash = await anvil.walletClient.sendTransaction({
      chain: anvil.walletClient.chain,
      account: other!,
      to: other!,
      value: 1n,
      maxFeePerGas: 7n * 10n ** 9n,
      maxPriorityFeePerGas: 7n * 10n ** 9n,
    });
    const tx = await anvil.publicClient.waitForTransactionReceipt({ hash });
    const tips = tx.gasUsed * tx.effectiveGasPrice;
    expect(tips).toBeGreaterThan(0n);
    await anvil.testClient.setCoinbase({ address: deployer! });
    const receipt = await h.system("distributeRewards", [S1, [S1, S2, S3]]);
    expect(events(receipt).find((e) => e.eventName === "RewardsDistributed")?.args).toMatchObject({
      incoming: tips,
    });
  });

  it("ignores unknown, repeated and jailed signers; keeps what it cannot split for the next block", async () => {
    await h.credit(3n * ETHER);
    await h.system("distributeRewards", [S4, []]);
    expect(await h.read("accountedBalance")).toBe(47n * ETHER);
    await h.system("slash", [S3]);
    await h.system("distributeRewards", [S3, [S1, S1, S4, S3]]);
    // Jailed S3 and unknown S4 get nothing, S1 is counted once and takes everything.
    expect(await h.read("pendingRewards", [owner3!])).toBe(0n);
    const expected = credit(3n * ETHER, 500n, 20n * ETHER);
    expect(await h.read("pendingRewards", [owner1!])).toBe(
      expected.toOwner + (20n * ETHER * expected.perShare) / PRECISION,
    );
  });
});

describe("slash", () => {
  it("burns a fraction of bonded and unbonding stake pro rata, jails, and the set changes at the epoch end", async () => {
    await h.send(delegator!, "delegate", [S2], 5n * ETHER);
    await h.send(delegator!, "undelegate", [S2, ETHER]);
    const burnedBefore = await h.balance(zeroAddress);
    const receipt = await h.system("slash", [S2]);
    // 10% of 19 ether bonded and of 1 ether unbonding.
    expect(events(receipt).map((e) => e.eventName)).toEqual(["Slashed", "Jailed"]);
    expect(events(receipt)[0]).toMatchObject({
      args: { signer: S2, bondedBurned: 19n * 10n ** 17n, unbondingBurned: 10n ** 17n },
    });
    expect(await h.balance(zeroAddress)).toBe(burnedBefore + 2n * ETHER);
    expect(await h.read("totalBurned")).toBe(2n * ETHER);
    expect(await h.read("stakeOf", [S2, owner2!])).toBe(135n * 10n ** 17n);
    expect(await h.read("stakeOf", [S2, delegator!])).toBe(36n * 10n ** 17n);
    expect((await h.read("unbondingsOf", [delegator!]))[1]).toEqual([9n * 10n ** 17n]);
    expect(await h.read("validatorInfo", [S2])).toEqual([owner2, S2, 171n * 10n ** 17n, 1_000, true, 2n]);
    expect(await h.read("accountedBalance")).toBe(await h.balance(h.address));
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2, S3]);
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S3]);
    await endEpochs(1);
    const before = await h.balance(delegator!);
    await h.send(delegator!, "withdraw", []);
    expect(await h.balance(delegator!)).toBe(before + 9n * 10n ** 17n);
  });

  it("refuses an unknown signer", async () => {
    expect((await h.revertOf("0xfffffffffffffffffffffffffffffffffffffffe", "slash", [S4]))?.errorName).toBe(
      "UnknownValidator",
    );
  });
});

describe("unjail", () => {
  it("refuses a validator that is not jailed, a non-owner, and an early unjail; then rejoins at the epoch end", async () => {
    expect((await h.revertOf(owner1!, "unjail", [S1]))?.errorName).toBe("NotJailed");
    await h.system("slash", [S1]);
    expect(await h.revertOf(other!, "unjail", [S1])).toEqual({
      errorName: "NotValidatorOwner",
      args: [other, owner1],
    });
    expect(await h.revertOf(owner1!, "unjail", [S1])).toEqual({
      errorName: "JailPeriodNotOver",
      args: [0n, 2n],
    });
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toEqual([S2, S3]);
    expect((await h.revertOf(owner1!, "unjail", [S1]))?.errorName).toBe("JailPeriodNotOver");
    await endEpochs(1);
    const receipt = await h.send(owner1!, "unjail", [S1]);
    expect(events(receipt)[0]).toMatchObject({ eventName: "Unjailed", args: { signer: S1 } });
    expect((await h.read("validatorInfo", [S1]))[4]).toBe(false);
    expect((await h.read("getValidators"))[0]).toEqual([S2, S3]);
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2, S3]);
  });

  it("refuses an unknown validator", async () => {
    expect((await h.revertOf(owner1!, "unjail", [S4]))?.errorName).toBe("UnknownValidator");
  });
});

describe("recordMissed (downtime window of 10 blocks, more than 3 misses jails)", () => {
  const jailed = async (s: Address) => (await h.read("validatorInfo", [s]))[4];

  it("jails on the 4th miss within the window, without slashing", async () => {
    for (let i = 0; i < 3; i++) await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(false);
    const receipt = await h.system("recordMissed", [[S3]]);
    expect(events(receipt).map((e) => e.eventName)).toEqual(["BlockMissed", "Jailed"]);
    expect(await jailed(S3)).toBe(true);
    expect((await h.read("validatorInfo", [S3]))[2]).toBe(12n * ETHER);
    expect(await h.read("totalBurned")).toBe(0n);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2, S3]);
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toEqual([S1, S2]);
  });

  it("forgets misses that slide out of the window", async () => {
    for (let i = 0; i < 3; i++) await h.system("recordMissed", [[S3]]);
    await anvil.testClient.mine({ blocks: 10 });
    // Misses 4, 5, 6: each time the 4th most recent miss is older than the window.
    for (let i = 0; i < 3; i++) await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(false);
    // Miss 7: misses 4..7 all lie within the last 10 blocks.
    await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(true);
  });

  it.each([
    [9n, true],
    [10n, false],
  ])(
    "a 4th miss %s blocks after the 1st: jailed %s (the window is the last 10 blocks)",
    async (gap, expected) => {
      const first = await h.system("recordMissed", [[S3]]);
      await h.system("recordMissed", [[S3]]);
      const third = await h.system("recordMissed", [[S3]]);
      await anvil.testClient.mine({ blocks: Number(first.blockNumber + gap - third.blockNumber - 1n) });
      const fourth = await h.system("recordMissed", [[S3]]);
      expect(fourth.blockNumber - first.blockNumber).toBe(gap);
      expect(await jailed(S3)).toBe(expected);
    },
  );

  it("counts a signer repeated in one block's list once", async () => {
    const receipt = await h.system("recordMissed", [[S3, S3, S3, S3, S3]]);
    expect(events(receipt).map((e) => e.eventName)).toEqual(["BlockMissed"]);
    expect(await jailed(S3)).toBe(false);
  });

  it("misses of a jailed-then-unjailed validator start again from zero", async () => {
    for (let i = 0; i < 4; i++) await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(true);
    await endEpochs(2);
    await h.send(owner3!, "unjail", [S3]);
    await endEpochs(1);
    expect((await h.read("getValidators"))[0]).toContain(S3);
    for (let i = 0; i < 3; i++) await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(false);
    await h.system("recordMissed", [[S3]]);
    expect(await jailed(S3)).toBe(true);
  });

  it("ignores signers outside the active set and does not touch others", async () => {
    await h.send(owner4!, "registerValidator", [S4, 0], 10n * ETHER);
    for (let i = 0; i < 5; i++) await h.system("recordMissed", [[S4, addr(0xdead)]]);
    expect(await jailed(S4)).toBe(false);
    expect(await jailed(S1)).toBe(false);
  });
});

describe("endEpoch", () => {
  it("orders by stake then signer, caps at maxValidators, and emits the new epoch", async () => {
    await h.send(owner4!, "registerValidator", [S4, 0], 20n * ETHER);
    const receipt = await h.system("endEpoch", []);
    expect(events(receipt)[0]).toMatchObject({
      eventName: "EpochEnded",
      args: { newEpoch: 1n, validatorCount: 3n, totalPower: 55n },
    });
    // S1 and S4 tie at 20 ether: the lower signer address first.
    expect(await h.read("getValidators")).toEqual([
      [S1, S4, S2],
      [20n, 20n, 15n],
    ]);
    expect(await h.read("activePower", [S3])).toBe(0n);
  });
});
