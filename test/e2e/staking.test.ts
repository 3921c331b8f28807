/**
 * Proof of stake on a real devnet node (genesis/devnet.json: epochs of 16 blocks, a 16-block
 * downtime window that jails on the 9th miss, 2 jail epochs): a validator registered by dev
 * account 5 with a signer no node runs joins the set at the next epoch, is jailed for
 * downtime, leaves at the following epoch and can unjail only after its jail time; a
 * delegator's rewards accrue and claimRewards pays them; every wei is accounted for.
 */
import { STAKING_ADDRESS, stakingAbi } from "@meridian/staking";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, waitForBlock, waitUntil } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

type ValidatorJson = { address: string; votingPower: string };
type StakingInfo = {
  address: Hex;
  epoch: Hex;
  validator: {
    signer: Hex;
    owner: Hex;
    totalStake: Hex;
    jailed: boolean;
    jailedUntilEpoch: Hex;
    activePower: Hex;
  } | null;
  delegations: { validator: Hex; stake: Hex }[];
  unbondings: unknown[];
  pendingRewards: Hex;
};

const staking = STAKING_ADDRESS as Address;
const GENESIS_VALIDATOR = "0x6d58073aeeb28068c5925d618da9f4c4f35727b3" as Address;
/** A signer whose key no node holds: it never signs. */
const ABSENT_SIGNER = "0x00000000000000000000000000000000000ab5e7" as Address;
const owner = privateKeyToAccount(DEV_KEYS[5] as Hex);
const delegator = privateKeyToAccount(DEV_KEYS[6] as Hex);
const EPOCH = 16n;
const WAIT_MS = 90_000;

let node: NodeHandle;
let datadir: string;
/** The first height of the newcomer's epoch (set by the validator test, read after the restart). */
let joinedAt: bigint | undefined;
let pub: PublicClient;
let ownerWallet: WalletClient;
let delegatorWallet: WalletClient;

beforeAll(async () => {
  datadir = await makeTempDir("meridian-pos-");
  node = await startMeridian({ datadir, blockTimeMs: 150 });
  const chain = meridianChain(node.rpcUrl, node.wsUrl);
  pub = createPublicClient({ chain, transport: http(node.rpcUrl), pollingInterval: 50 }) as PublicClient;
  ownerWallet = createWalletClient({ chain, transport: http(node.rpcUrl), account: owner });
  delegatorWallet = createWalletClient({ chain, transport: http(node.rpcUrl), account: delegator });
});

afterAll(async () => {
  await cleanupAll();
});

const info = (who: Address, block: string | bigint = "latest") =>
  rpc<StakingInfo>(node.rpcUrl, "meridian_getStakingInfo", [
    who,
    typeof block === "bigint" ? `0x${block.toString(16)}` : block,
  ]);
const setAt = async (tag = "latest") =>
  (await rpc<ValidatorJson[]>(node.rpcUrl, "meridian_getValidators", [tag])).map((v) =>
    v.address.toLowerCase(),
  );
const contractSet = async (blockNumber?: bigint) => {
  const [signers] = await pub.readContract({
    address: staking,
    abi: stakingAbi,
    functionName: "getValidators",
    ...(blockNumber === undefined ? {} : { blockNumber }),
  });
  return signers.map((s) => s.toLowerCase());
};
const epoch = () => pub.readContract({ address: staking, abi: stakingAbi, functionName: "currentEpoch" });

async function send(wallet: WalletClient, functionName: string, args: readonly unknown[], value = 0n) {
  const hash = await wallet.writeContract({
    address: staking,
    abi: stakingAbi,
    functionName,
    args,
    value,
    chain: wallet.chain,
    account: wallet.account as NonNullable<WalletClient["account"]>,
  } as never);
  const receipt = await pub.waitForTransactionReceipt({ hash, timeout: WAIT_MS });
  expect(receipt.status).toBe("success");
  return receipt;
}

describe("proof of stake on the devnet", () => {
  it("estimates a staking transaction after the next block's staking calls: the wallet's estimate suffices", async () => {
    // Block 2 makes the first reward split (zero → non-zero reward slots); a delegation sent
    // before it, with the wallet's estimate, pays for those writes.
    await waitUntil("block 1", async () => ((await pub.getBlockNumber()) >= 1n ? true : undefined), WAIT_MS);
    const early = privateKeyToAccount(DEV_KEYS[7] as Hex);
    const wallet = createWalletClient({ chain: pub.chain, transport: http(node.rpcUrl), account: early });
    await send(wallet, "delegate", [GENESIS_VALIDATOR], parseEther("1"));
  });

  it("a never-signing validator joins, is jailed for downtime, leaves, and unjails only after its jail time", async () => {
    const registered = await send(ownerWallet, "registerValidator", [ABSENT_SIGNER, 500], parseEther("10"));
    // Its minimum stake is well under a third of the power: the chain keeps committing alone.
    const mine = await info(ABSENT_SIGNER);
    expect(mine.validator?.owner).toBe(owner.address.toLowerCase());
    expect(BigInt(mine.validator?.activePower ?? "0x1")).toBe(0n);
    expect(await info(owner.address)).toMatchObject({ validator: { signer: ABSENT_SIGNER } });

    // The next epoch: in the consensus set and in getValidators().
    const joinHeight = (registered.blockNumber / EPOCH + 1n) * EPOCH + 1n;
    joinedAt = joinHeight;
    await waitUntil(
      "the newcomer's epoch",
      async () => ((await pub.getBlockNumber()) >= joinHeight ? true : undefined),
      WAIT_MS,
    );
    expect(await setAt(`0x${joinHeight.toString(16)}`)).toContain(ABSENT_SIGNER);
    expect(await setAt(`0x${(joinHeight - 1n).toString(16)}`)).not.toContain(ABSENT_SIGNER);
    expect(BigInt((await info(ABSENT_SIGNER, joinHeight)).validator?.activePower ?? "0x0")).toBe(10n);
    expect(await contractSet(joinHeight)).toContain(ABSENT_SIGNER);
    expect(await contractSet(joinHeight - 2n)).not.toContain(ABSENT_SIGNER);

    // Downtime: the 9th miss within 16 blocks jails it, within the window of its joining.
    const jailed = await waitUntil(
      "the newcomer jailed",
      async () => {
        const v = (await info(ABSENT_SIGNER)).validator;
        return v?.jailed ? v : undefined;
      },
      WAIT_MS,
    );
    const jailedAt = await pub.getBlockNumber();
    expect(jailedAt - joinHeight).toBeLessThanOrEqual(16n + 4n);
    const until = BigInt(jailed.jailedUntilEpoch);

    // Before its jail time the owner cannot unjail.
    expect(await epoch()).toBeLessThan(until);
    await expect(
      pub.simulateContract({
        address: staking,
        abi: stakingAbi,
        functionName: "unjail",
        args: [ABSENT_SIGNER],
        account: owner,
      }),
    ).rejects.toThrow(/JailPeriodNotOver/);

    // It leaves the set at the end of the epoch it was jailed in.
    const leaveHeight = (jailedAt / EPOCH + 1n) * EPOCH + 1n;
    await waitUntil(
      "the next epoch",
      async () => ((await pub.getBlockNumber()) >= leaveHeight ? true : undefined),
      WAIT_MS,
    );
    expect(await setAt(`0x${leaveHeight.toString(16)}`)).not.toContain(ABSENT_SIGNER);
    expect(await contractSet()).not.toContain(ABSENT_SIGNER);
    expect(await setAt()).toEqual([GENESIS_VALIDATOR]);

    // Once the jail epochs have passed it may.
    await waitUntil("the jail time over", async () => ((await epoch()) >= until ? true : undefined), WAIT_MS);
    await send(ownerWallet, "unjail", [ABSENT_SIGNER]);
    expect((await info(ABSENT_SIGNER)).validator?.jailed).toBe(false);
  });

  it("a delegator's rewards accrue and claimRewards pays them", async () => {
    const delegated = await send(delegatorWallet, "delegate", [GENESIS_VALIDATOR], parseEther("5"));
    // A trace replays the block's staking calls before its transactions: the same gas as the block.
    const trace = await rpc<{ gasUsed: string; error?: string }>(node.rpcUrl, "debug_traceTransaction", [
      delegated.transactionHash,
      { tracer: "callTracer" },
    ]);
    expect(trace.error).toBeUndefined();
    expect(BigInt(trace.gasUsed)).toBe(delegated.gasUsed);
    const after = await info(delegator.address, delegated.blockNumber);
    expect(after.delegations).toEqual([
      { validator: GENESIS_VALIDATOR, stake: `0x${parseEther("5").toString(16)}` },
    ]);
    const pending = await waitUntil(
      "rewards",
      async () => {
        const p = BigInt((await info(delegator.address)).pendingRewards);
        return p > 0n ? p : undefined;
      },
      WAIT_MS,
    );
    expect(pending).toBeGreaterThan(0n);
    const before = await pub.getBalance({ address: delegator.address });
    const receipt = await send(delegatorWallet, "claimRewards", []);
    const balance = await pub.getBalance({ address: delegator.address, blockNumber: receipt.blockNumber });
    const fee = receipt.gasUsed * receipt.effectiveGasPrice;
    const paid = balance - before + fee;
    expect(paid).toBeGreaterThanOrEqual(pending);
    expect(BigInt((await info(delegator.address, receipt.blockNumber)).pendingRewards)).toBe(0n);
  });

  it("every wei is accounted for: balances = genesis + issuance − burned base fees − slashed", async () => {
    const genesis = (await import("../../genesis/devnet.json", { with: { type: "json" } })).default as {
      alloc: Record<string, { balance: string }>;
      staking: { issuancePerBlock: string; validators: { stake: string }[] };
    };
    const head = await pub.getBlockNumber();
    const accounts = new Set<string>([
      ...Object.keys(genesis.alloc).map((a) => a.toLowerCase()),
      staking,
      ABSENT_SIGNER,
      "0xfffffffffffffffffffffffffffffffffffffffe",
    ]);
    let balances = 0n;
    for (const a of accounts) balances += await pub.getBalance({ address: a as Address, blockNumber: head });
    const zero = await pub.getBalance({
      address: "0x0000000000000000000000000000000000000000",
      blockNumber: head,
    });
    let burned = 0n;
    for (let n = 1n; n <= head; n++) {
      const b = await pub.getBlock({ blockNumber: n });
      burned += (b.baseFeePerGas ?? 0n) * b.gasUsed;
    }
    const genesisTotal =
      Object.values(genesis.alloc).reduce((s, a) => s + BigInt(a.balance), 0n) +
      genesis.staking.validators.reduce((s, v) => s + BigInt(v.stake), 0n);
    const issued = head * BigInt(genesis.staking.issuancePerBlock);
    const slashed = await pub.readContract({
      address: staking,
      abi: stakingAbi,
      functionName: "totalBurned",
      blockNumber: head,
    });
    expect(slashed).toBe(zero);
    expect(balances).toBe(genesisTotal + issued - burned - slashed);
  });

  it("a restarted node resumes with the set the epochs made, and keeps each height's", async () => {
    const before = await rpc<ValidatorJson[]>(node.rpcUrl, "meridian_getValidators", ["latest"]);
    const height = BigInt(await rpc<string>(node.rpcUrl, "eth_blockNumber"));
    await node.stop();
    node = await startMeridian({ datadir, blockTimeMs: 150 });
    await waitForBlock(node.rpcUrl, height + 3n, WAIT_MS);
    // The delegations raised the validator's power above its genesis 1000: the resumed set has it.
    const after = await rpc<ValidatorJson[]>(node.rpcUrl, "meridian_getValidators", ["latest"]);
    expect(after.map((v) => [v.address.toLowerCase(), v.votingPower])).toEqual(
      before.map((v) => [v.address.toLowerCase(), v.votingPower]),
    );
    expect(BigInt(after[0]?.votingPower ?? "0x0")).toBeGreaterThan(1000n);
    const joined = joinedAt as bigint;
    const then = await rpc<ValidatorJson[]>(node.rpcUrl, "meridian_getValidators", [
      `0x${joined.toString(16)}`,
    ]);
    expect(then.map((v) => v.address.toLowerCase())).toContain(ABSENT_SIGNER);
  });
});
