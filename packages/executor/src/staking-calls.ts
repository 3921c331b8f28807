/**
 * The staking system calls of a proof-of-stake block (packages/staking/README.md): the
 * issuance credit, distributeRewards, recordMissed and slash before the transactions,
 * endEpoch after them at the last block of an epoch. Both executors run them on the main
 * thread from SYSTEM_ADDRESS, outside the block's gas accounting, with the same inputs.
 */
import { type Block, createBlock } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { Address } from "@ethereumjs/util";
import type { VM } from "@ethereumjs/vm";
import { bytesToHex, hexToBytes, MeridianError } from "@meridian/primitives";
import { STAKING_ADDRESS, SYSTEM_ADDRESS, stakingAbi } from "@meridian/staking";
import { encodeFunctionData, type Hex } from "viem";

/** What the node tells the executor about one staking block; every validator derives it identically. */
export type StakingBlockCalls = {
  /** Wei credited to the contract before distributeRewards (the contract's issuancePerBlock). */
  issuance: bigint;
  /** Signer that proposed the previous block (zero address for block 1). */
  proposer: Uint8Array;
  /** Signers whose precommits are in this block's last commit. */
  signers: Uint8Array[];
  /** Active validators absent from that commit. */
  absent: Uint8Array[];
  /** De-duplicated signers with duplicate-vote evidence in this block. */
  offenders: Uint8Array[];
  /** This is the last block of an epoch: call endEpoch after the transactions. */
  endEpoch: boolean;
};

/** Ample for every call (the contract's README measures at most 8M with 80 validators). */
const SYSTEM_CALL_GAS = 30_000_000n;
const stakingAddress = new Address(hexToBytes(STAKING_ADDRESS));
const systemAddress = new Address(hexToBytes(SYSTEM_ADDRESS));

export const STAKING_SYSTEM_CALL_FAILED = "STAKING_SYSTEM_CALL_FAILED";

/**
 * The EVM context of the block's system calls: only number, time, coinbase and gas limit matter
 * to the contract. A block's own header will do, or the fields of the block being built.
 */
export function stakingContextBlock(
  common: Common,
  header: { number: bigint; timestamp: bigint; coinbase: Uint8Array | Address; gasLimit: bigint },
): Block {
  return createBlock(
    {
      header: {
        number: header.number,
        timestamp: header.timestamp,
        coinbase: header.coinbase,
        gasLimit: header.gasLimit,
      },
    },
    { common, skipConsensusFormatValidation: true },
  );
}

/**
 * One call from SYSTEM_ADDRESS. The EVM debits value 0 from the caller, which creates its
 * account; it is restored afterwards (as @ethereumjs does for EIP-7002's calls) so the state
 * root does not depend on it. Returns whether the call succeeded.
 */
async function systemCall(vm: VM, block: Block, data: Hex): Promise<{ ok: boolean; error?: string }> {
  const before = await vm.stateManager.getAccount(systemAddress);
  const result = await vm.evm.runCall({
    caller: systemAddress,
    to: stakingAddress,
    gasLimit: SYSTEM_CALL_GAS,
    data: hexToBytes(data),
    block,
  });
  if (before === undefined) await vm.stateManager.deleteAccount(systemAddress);
  else await vm.stateManager.putAccount(systemAddress, before);
  // Each system call is a transaction of its own for EIP-2200's "original value": runTx clears
  // the cache only when a transaction ends, so values from before this call must not reach the
  // block's first transaction (the parallel executor's workers never see them).
  vm.stateManager.originalStorageCache.clear();
  await vm.evm.journal.cleanup();
  const error = result.execResult.exceptionError;
  return error ? { ok: false, error: error.error } : { ok: true };
}

function mustSucceed(block: Block, what: string, r: { ok: boolean; error?: string }): void {
  if (!r.ok)
    throw new MeridianError(`block ${block.header.number}: staking ${what} failed: ${r.error}`, {
      code: STAKING_SYSTEM_CALL_FAILED,
    });
}

const hexOf = (a: Uint8Array): Hex => bytesToHex(a) as Hex;

/** Before the transactions: issuance credit, distributeRewards, recordMissed, slash per offender. */
export async function runStakingPrologue(vm: VM, block: Block, calls: StakingBlockCalls): Promise<void> {
  if (calls.issuance > 0n) {
    const account = await vm.stateManager.getAccount(stakingAddress);
    if (!account)
      throw new MeridianError("staking contract missing from state", { code: STAKING_SYSTEM_CALL_FAILED });
    account.balance += calls.issuance;
    await vm.stateManager.putAccount(stakingAddress, account);
  }
  mustSucceed(
    block,
    "distributeRewards",
    await systemCall(
      vm,
      block,
      encodeFunctionData({
        abi: stakingAbi,
        functionName: "distributeRewards",
        args: [hexOf(calls.proposer), calls.signers.map(hexOf)],
      }),
    ),
  );
  mustSucceed(
    block,
    "recordMissed",
    await systemCall(
      vm,
      block,
      encodeFunctionData({ abi: stakingAbi, functionName: "recordMissed", args: [calls.absent.map(hexOf)] }),
    ),
  );
  // slash reverts for an unregistered signer: that evidence changes nothing (README).
  for (const offender of calls.offenders)
    await systemCall(
      vm,
      block,
      encodeFunctionData({ abi: stakingAbi, functionName: "slash", args: [hexOf(offender)] }),
    );
}

/** After the transactions: endEpoch at the last block of an epoch. */
export async function runStakingEpilogue(vm: VM, block: Block, calls: StakingBlockCalls): Promise<void> {
  if (!calls.endEpoch) return;
  mustSucceed(
    block,
    "endEpoch",
    await systemCall(vm, block, encodeFunctionData({ abi: stakingAbi, functionName: "endEpoch" })),
  );
}
