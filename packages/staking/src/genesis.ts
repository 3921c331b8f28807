import { MeridianError } from "@meridian/primitives";
import { type Address, getAddress, type Hex, hexToBigInt, keccak256, numberToHex } from "viem";
import { stakingDeployedBytecode, stakingStorageLayout } from "./artifact.ts";

/** Chain parameters, the contract's `Params` struct (uint64 as bigint, uint16/uint32 as number, as viem decodes them). */
export type StakingParams = {
  /** Least self-stake to register and least total stake to be in the active set (wei). */
  minStake: bigint;
  /** Consensus power = stake / powerUnit (wei). */
  powerUnit: bigint;
  /** Wei the node credits to the contract before each distributeRewards call. */
  issuancePerBlock: bigint;
  /** Blocks per epoch: the node calls endEpoch at each block n with n % epochLength == 0. */
  epochLength: bigint;
  unbondingEpochs: bigint;
  jailEpochs: bigint;
  /** Sliding window (blocks) of downtime tracking. */
  downtimeWindow: bigint;
  maxValidators: number;
  /** Missing more than downtimeWindow * this / 10000 blocks of the window jails. */
  downtimeMaxMissedBps: number;
  /** Share (bps) of bonded and unbonding stake burned on duplicate-vote evidence; below 10000. */
  slashFractionBps: number;
  /** Share (bps) of each block's rewards paid to the previous block's proposer. */
  proposerBonusBps: number;
};

/** A validator registered and staked in the genesis. */
export type GenesisValidator = {
  owner: Address;
  signer: Address;
  commissionBps: number;
  /** Self-stake in wei. */
  stake: bigint;
};

/** Storage slot → value, both 32-byte hex; zero slots are omitted (absent storage reads as zero). */
export type StorageSlots = Record<Hex, Hex>;

/** A genesis alloc entry for the staking contract. */
export type StakingGenesisAccount = { code: Hex; storage: StorageSlots; balance: bigint };

export const STAKING_GENESIS_INVALID = "STAKING_GENESIS_INVALID";

const BPS = 10_000;
const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffff_ffff;
const UINT64_MAX = (1n << 64n) - 1n;
const UINT256_MAX = (1n << 256n) - 1n;

type Layout = typeof stakingStorageLayout;
type LayoutTypeKey = keyof Layout["types"];
type StorageMember = { label: string; slot: string; offset: number; type: string };

function invalid(message: string, details?: string): MeridianError {
  return new MeridianError(message, { code: STAKING_GENESIS_INVALID, details });
}

function topLevel(label: string): { slot: bigint; type: string } {
  const entry = stakingStorageLayout.storage.find((e) => e.label === label);
  if (!entry) throw invalid(`storage layout has no variable ${label}`);
  return { slot: BigInt(entry.slot), type: entry.type };
}

function typeInfo(type: string) {
  const info = stakingStorageLayout.types[type as LayoutTypeKey];
  if (!info) throw invalid(`storage layout has no type ${type}`);
  return info as { numberOfBytes: string; members?: readonly StorageMember[]; value?: string };
}

/** A struct member's position relative to the struct's first slot. */
function member(structType: string, label: string): { slot: bigint; offset: number; bytes: number } {
  const m = typeInfo(structType).members?.find((x) => x.label === label);
  if (!m) throw invalid(`struct ${structType} has no member ${label}`);
  return { slot: BigInt(m.slot), offset: m.offset, bytes: Number(typeInfo(m.type).numberOfBytes) };
}

const word = (value: bigint): Hex => numberToHex(value, { size: 32 });

/** keccak256(pad32(key) . pad32(slot)): Solidity's mapping slot for a value-type key. */
export function mappingSlot(key: Address | bigint, slot: bigint): bigint {
  const k = typeof key === "bigint" ? key : hexToBigInt(key);
  return hexToBigInt(keccak256(`0x${word(k).slice(2)}${word(slot).slice(2)}`));
}

/** First data slot of a dynamic array whose length lives at `slot`. */
export function arrayDataSlot(slot: bigint): bigint {
  return hexToBigInt(keccak256(word(slot)));
}

class SlotWriter {
  readonly slots = new Map<bigint, bigint>();

  write(slot: bigint, offset: number, bytes: number, value: bigint): void {
    if (value < 0n || value >= 1n << BigInt(bytes * 8))
      throw invalid(`value ${value} does not fit ${bytes} bytes`);
    const shift = BigInt(offset * 8);
    const mask = ((1n << BigInt(bytes * 8)) - 1n) << shift;
    const current = this.slots.get(slot) ?? 0n;
    this.slots.set(slot, (current & ~mask) | (value << shift));
  }

  writeMember(base: bigint, structType: string, label: string, value: bigint): void {
    const m = member(structType, label);
    this.write(base + m.slot, m.offset, m.bytes, value);
  }

  writeAddressArray(slot: bigint, items: readonly Address[]): void {
    this.write(slot, 0, 32, BigInt(items.length));
    const data = arrayDataSlot(slot);
    items.forEach((item, i) => {
      this.write(data + BigInt(i), 0, 20, hexToBigInt(item));
    });
  }

  toRecord(): StorageSlots {
    const out: StorageSlots = {};
    for (const [slot, value] of [...this.slots].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      if (value !== 0n) out[word(slot)] = word(value);
    }
    return out;
  }
}

function checkParams(p: StakingParams): void {
  if (p.powerUnit <= 0n || p.minStake < p.powerUnit) throw invalid("minStake must be >= powerUnit > 0");
  if (p.minStake > UINT256_MAX || p.issuancePerBlock < 0n || p.issuancePerBlock > UINT256_MAX)
    throw invalid("minStake and issuancePerBlock must be uint256");
  for (const [name, v] of [
    ["epochLength", p.epochLength],
    ["unbondingEpochs", p.unbondingEpochs],
    ["jailEpochs", p.jailEpochs],
    ["downtimeWindow", p.downtimeWindow],
  ] as const) {
    if (v < 0n || v > UINT64_MAX) throw invalid(`${name} must be a uint64`);
  }
  if (p.epochLength === 0n) throw invalid("epochLength must be > 0");
  if (p.downtimeWindow === 0n) throw invalid("downtimeWindow must be > 0");
  if (!Number.isInteger(p.maxValidators) || p.maxValidators < 1 || p.maxValidators > UINT32_MAX)
    throw invalid("maxValidators must be a uint32 > 0");
  if (!Number.isInteger(p.slashFractionBps) || p.slashFractionBps < 0 || p.slashFractionBps >= BPS)
    throw invalid("slashFractionBps must be in [0, 10000)");
  for (const [name, v] of [
    ["proposerBonusBps", p.proposerBonusBps],
    ["downtimeMaxMissedBps", p.downtimeMaxMissedBps],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > BPS) throw invalid(`${name} must be in [0, 10000]`);
  }
}

function checkValidators(p: StakingParams, validators: readonly GenesisValidator[]): void {
  const owners = new Set<string>();
  const signers = new Set<string>();
  for (const v of validators) {
    const owner = getAddress(v.owner).toLowerCase();
    const signer = getAddress(v.signer).toLowerCase();
    if (hexToBigInt(v.signer) === 0n) throw invalid("a genesis validator's signer is the zero address");
    if (
      !Number.isInteger(v.commissionBps) ||
      v.commissionBps < 0 ||
      v.commissionBps > BPS ||
      v.commissionBps > UINT16_MAX
    )
      throw invalid(`commissionBps of ${v.signer} must be in [0, 10000]`);
    if (v.stake < p.minStake) throw invalid(`stake of ${v.signer} is below minStake`);
    if (owners.has(owner)) throw invalid(`owner ${v.owner} registers two validators`);
    if (signers.has(signer)) throw invalid(`signer ${v.signer} is registered twice`);
    owners.add(owner);
    signers.add(signer);
  }
}

/** The epoch-0 active set, as the contract's _selectActiveSet picks it: stake descending, ties by lower signer. */
export function selectActiveSet(
  params: StakingParams,
  validators: readonly GenesisValidator[],
): { signer: Address; power: bigint }[] {
  return validators
    .filter((v) => v.stake >= params.minStake)
    .sort((a, b) => {
      if (a.stake !== b.stake) return a.stake > b.stake ? -1 : 1;
      const sa = hexToBigInt(a.signer);
      const sb = hexToBigInt(b.signer);
      return sa < sb ? -1 : sa > sb ? 1 : 0;
    })
    .slice(0, params.maxValidators)
    .map((v) => ({ signer: getAddress(v.signer), power: v.stake / params.powerUnit }));
}

/**
 * The exact storage the staking contract has after its constructor ran with `params` and
 * `validators` (each registered by its owner with its stake, then the epoch-0 active set
 * selected): what a genesis alloc at STAKING_ADDRESS must carry. Slots come from solc's
 * storageLayout of the committed artifact, so they follow the contract if its layout changes.
 */
export function genesisStorage(params: StakingParams, validators: readonly GenesisValidator[]): StorageSlots {
  checkParams(params);
  checkValidators(params, validators);
  const w = new SlotWriter();

  const paramsVar = topLevel("_params");
  const paramFields: [keyof StakingParams, bigint][] = [
    ["minStake", params.minStake],
    ["powerUnit", params.powerUnit],
    ["issuancePerBlock", params.issuancePerBlock],
    ["epochLength", params.epochLength],
    ["unbondingEpochs", params.unbondingEpochs],
    ["jailEpochs", params.jailEpochs],
    ["downtimeWindow", params.downtimeWindow],
    ["maxValidators", BigInt(params.maxValidators)],
    ["downtimeMaxMissedBps", BigInt(params.downtimeMaxMissedBps)],
    ["slashFractionBps", BigInt(params.slashFractionBps)],
    ["proposerBonusBps", BigInt(params.proposerBonusBps)],
  ];
  for (const [label, value] of paramFields) w.writeMember(paramsVar.slot, paramsVar.type, label, value);

  const totalStake = validators.reduce((sum, v) => sum + v.stake, 0n);
  w.write(topLevel("accountedBalance").slot, 0, 32, totalStake);
  w.write(topLevel("totalStaked").slot, 0, 32, totalStake);

  const validatorsVar = topLevel("_validators");
  const validatorType = typeInfo(validatorsVar.type).value!;
  const ownerVar = topLevel("validatorOfOwner");
  const delegationsVar = topLevel("_delegations");
  const delegationType = typeInfo(typeInfo(delegationsVar.type).value!).value!;
  const delegatedToVar = topLevel("_delegatedTo");
  for (const v of validators) {
    const base = mappingSlot(v.signer, validatorsVar.slot);
    w.writeMember(base, validatorType, "owner", hexToBigInt(v.owner));
    w.writeMember(base, validatorType, "commissionBps", BigInt(v.commissionBps));
    w.writeMember(base, validatorType, "totalStake", v.stake);
    // The first bond mints shares 1:1 with wei.
    w.writeMember(base, validatorType, "totalShares", v.stake);
    w.write(mappingSlot(v.owner, ownerVar.slot), 0, 20, hexToBigInt(v.signer));
    const delegation = mappingSlot(v.owner, mappingSlot(v.signer, delegationsVar.slot));
    w.writeMember(delegation, delegationType, "shares", v.stake);
    w.writeMember(delegation, delegationType, "listed", 1n);
    w.writeAddressArray(mappingSlot(v.owner, delegatedToVar.slot), [v.signer]);
  }
  w.writeAddressArray(
    topLevel("_validatorList").slot,
    validators.map((v) => v.signer),
  );
  const active = selectActiveSet(params, validators);
  w.writeAddressArray(
    topLevel("_activeSigners").slot,
    active.map((a) => a.signer),
  );
  const powerVar = topLevel("activePower");
  for (const a of active) w.write(mappingSlot(a.signer, powerVar.slot), 0, 32, a.power);
  return w.toRecord();
}

/** The staking contract's whole genesis alloc entry: runtime code, storage, and a balance equal to the stakes. */
export function stakingGenesisAccount(
  params: StakingParams,
  validators: readonly GenesisValidator[],
): StakingGenesisAccount {
  return {
    code: stakingDeployedBytecode,
    storage: genesisStorage(params, validators),
    balance: validators.reduce((sum, v) => sum + v.stake, 0n),
  };
}
