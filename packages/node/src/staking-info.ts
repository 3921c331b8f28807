/**
 * meridian_getStakingInfo: the staking contract's view of one address at a block, as a
 * validator (by signer, or the validator it owns) and as a delegator (its stakes, its
 * unbondings), with its pending rewards. Read with the contract's own views (eth_call).
 */
import type { Block } from "@ethereumjs/block";
import type { StateManagerInterface } from "@ethereumjs/common";
import type { CallParams } from "@meridian/primitives";
import { STAKING_ADDRESS, stakingAbi } from "@meridian/staking";
import {
  type Address,
  bytesToHex,
  decodeFunctionResult,
  encodeFunctionData,
  getAddress,
  type Hex,
  hexToBytes,
} from "viem";

type Call = (
  req: CallParams,
  block: Block,
  state: StateManagerInterface,
) => Promise<{ returnData: Uint8Array; error?: unknown }>;

export type StakingValidatorJson = {
  signer: Hex;
  owner: Hex;
  totalStake: Hex;
  commissionBps: number;
  jailed: boolean;
  jailedUntilEpoch: Hex;
  /** Power in the current epoch's active set ("0x0" when not in it). */
  activePower: Hex;
};

export type StakingInfoJson = {
  address: Hex;
  epoch: Hex;
  /** The validator whose signer this address is, or the one it owns; null if neither. */
  validator: StakingValidatorJson | null;
  delegations: { validator: Hex; stake: Hex }[];
  unbondings: { validator: Hex; amount: Hex; releaseEpoch: Hex }[];
  /** Commission and delegation rewards claimRewards() would pay now. */
  pendingRewards: Hex;
};

const quantity = (v: bigint): Hex => `0x${v.toString(16)}`;
const ZERO = "0x0000000000000000000000000000000000000000";

/** `state` gives a fresh state per call: a call may leave changes in the overlay it runs on. */
export async function stakingInfo(
  call: Call,
  block: Block,
  state: () => Promise<StateManagerInterface>,
  who: Uint8Array,
): Promise<StakingInfoJson> {
  const view = async (functionName: string, args: readonly unknown[] = []): Promise<unknown> => {
    const data = encodeFunctionData({ abi: stakingAbi, functionName, args } as never);
    const out = await call({ to: hexToBytes(STAKING_ADDRESS), data: hexToBytes(data) }, block, await state());
    if (out.error) throw new Error(`staking ${functionName} reverted`);
    return decodeFunctionResult({ abi: stakingAbi, functionName, data: bytesToHex(out.returnData) } as never);
  };
  const address = getAddress(bytesToHex(who)) as Address;
  const validators = (await view("allValidators")) as readonly Address[];
  const owned = (await view("validatorOfOwner", [address])) as Address;
  const isSigner = validators.some((v) => v.toLowerCase() === address.toLowerCase());
  const signer = isSigner ? address : owned !== ZERO ? owned : undefined;
  let validator: StakingValidatorJson | null = null;
  if (signer) {
    const [owner, , totalStake, commissionBps, jailed, jailedUntilEpoch] = (await view("validatorInfo", [
      signer,
    ])) as readonly [Address, Address, bigint, number, boolean, bigint];
    validator = {
      signer: signer.toLowerCase() as Hex,
      owner: owner.toLowerCase() as Hex,
      totalStake: quantity(totalStake),
      commissionBps,
      jailed,
      jailedUntilEpoch: quantity(jailedUntilEpoch),
      activePower: quantity((await view("activePower", [signer])) as bigint),
    };
  }
  const delegations: StakingInfoJson["delegations"] = [];
  for (const v of validators) {
    const stake = (await view("stakeOf", [v, address])) as bigint;
    if (stake > 0n) delegations.push({ validator: v.toLowerCase() as Hex, stake: quantity(stake) });
  }
  const [uValidators, amounts, releases] = (await view("unbondingsOf", [address])) as readonly [
    readonly Address[],
    readonly bigint[],
    readonly bigint[],
  ];
  return {
    address: address.toLowerCase() as Hex,
    epoch: quantity((await view("currentEpoch")) as bigint),
    validator,
    delegations,
    unbondings: uValidators.map((v, i) => ({
      validator: v.toLowerCase() as Hex,
      amount: quantity(amounts[i] ?? 0n),
      releaseEpoch: quantity(releases[i] ?? 0n),
    })),
    pendingRewards: quantity((await view("pendingRewards", [address])) as bigint),
  };
}
