/**
 * EIP-7910 `eth_config`: the configuration of the fork the head runs, the next scheduled one
 * and the last scheduled one, so operators can check a node is ready for a fork before it comes.
 */
import { crc32 } from "node:zlib";
import type { Common } from "@ethereumjs/common";
import { type GenesisSpec, hardforkAt } from "@meridian/executor";
import { bigIntToBytes } from "@meridian/primitives";

export type EthForkConfig = {
  activationTime: number;
  blobSchedule: { baseFeeUpdateFraction: number; max: number; target: number };
  chainId: string;
  forkId: string;
  precompiles: Record<string, string>;
  systemContracts: Record<string, string>;
};

export type EthConfig = { current: EthForkConfig; next: EthForkConfig | null; last: EthForkConfig | null };

const address = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;

/** Precompile names as EIP-7910 spells them, by the fork that brought them. */
const PRECOMPILES: { hardfork: string; name: string; address: string }[] = [
  ...[
    "ECREC",
    "SHA256",
    "RIPEMD160",
    "ID",
    "MODEXP",
    "BN254_ADD",
    "BN254_MUL",
    "BN254_PAIRING",
    "BLAKE2F",
  ].map((name, i) => ({ hardfork: "cancun", name, address: address(i + 1) })),
  { hardfork: "cancun", name: "KZG_POINT_EVALUATION", address: address(0x0a) },
  ...[
    "BLS12_G1ADD",
    "BLS12_G1MSM",
    "BLS12_G2ADD",
    "BLS12_G2MSM",
    "BLS12_PAIRING_CHECK",
    "BLS12_MAP_FP_TO_G1",
    "BLS12_MAP_FP2_TO_G2",
  ].map((name, i) => ({ hardfork: "prague", name, address: address(0x0b + i) })),
  { hardfork: "osaka", name: "P256VERIFY", address: address(0x100) },
];

/** System contracts by the fork that brought them (the addresses @ethereumjs executes with). */
const SYSTEM_CONTRACTS: { hardfork: string; name: string; address: string }[] = [
  { hardfork: "cancun", name: "BEACON_ROOTS_ADDRESS", address: "0x000f3df6d732807ef1319fb7b8bb8522d0beac02" },
  {
    hardfork: "prague",
    name: "CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS",
    address: "0x0000bbddc7ce488642fb579f8b00f3a590007251",
  },
  // The deposit contract of the Mainnet-based chain config chainCommon builds on.
  {
    hardfork: "prague",
    name: "DEPOSIT_CONTRACT_ADDRESS",
    address: "0x00000000219ab540356cbb839cbe05303d7705fa",
  },
  {
    hardfork: "prague",
    name: "HISTORY_STORAGE_ADDRESS",
    address: "0x0000f90827f1c53a10cb7a02335b175320002935",
  },
  {
    hardfork: "prague",
    name: "WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS",
    address: "0x00000961ef480eb55e80d19ad83579a64c007002",
  },
];

const FORK_ORDER = ["cancun", "prague", "osaka"];
const since = (fork: string, hardfork: string) => FORK_ORDER.indexOf(fork) <= FORK_ORDER.indexOf(hardfork);

/**
 * EIP-6122 fork hash: CRC32 of the genesis hash, then of each activation after genesis up to
 * this fork (as a big-endian uint64). A chain's genesis fork has the hash of its genesis alone.
 */
export function forkHash(genesisHash: Uint8Array, activations: bigint[]): string {
  let crc = crc32(genesisHash);
  for (const time of activations) {
    const word = new Uint8Array(8);
    word.set(bigIntToBytes(time), 8 - bigIntToBytes(time).length);
    crc = crc32(word, crc);
  }
  return `0x${crc.toString(16).padStart(8, "0")}`;
}

/** `eth_config` for a chain at `headTime`; `commonAt` gives each fork's Common (blob schedule). */
export function ethConfig(
  spec: Pick<GenesisSpec, "chainId" | "hardfork" | "schedule">,
  genesisHash: Uint8Array,
  headTime: bigint,
  commonAt: (time: bigint) => Common,
): EthConfig {
  // Each fork of the chain with its activation time: the genesis fork at 0 (activated at genesis).
  const forks = [{ hardfork: spec.hardfork, time: 0n }, ...spec.schedule];
  const configOf = (i: number): EthForkConfig => {
    const fork = forks[i] as { hardfork: string; time: bigint };
    const common = commonAt(fork.time);
    const blobs = common.getBlobGasSchedule();
    const perBlob = BigInt(common.param("blobGasPerBlob"));
    const pick = (list: typeof PRECOMPILES) =>
      Object.fromEntries(
        list.filter((p) => since(p.hardfork, fork.hardfork)).map((p) => [p.name, p.address]),
      );
    return {
      activationTime: Number(fork.time),
      blobSchedule: {
        baseFeeUpdateFraction: Number(blobs.blobGasPriceUpdateFraction),
        max: Number(BigInt(blobs.maxBlobGasPerBlock) / perBlob),
        target: Number(BigInt(blobs.targetBlobGasPerBlock) / perBlob),
      },
      chainId: `0x${spec.chainId.toString(16)}`,
      forkId: forkHash(
        genesisHash,
        forks.slice(1, i + 1).map((f) => f.time),
      ),
      precompiles: pick(PRECOMPILES),
      systemContracts: pick(SYSTEM_CONTRACTS),
    };
  };
  const current = forks.findIndex((f) => f.hardfork === hardforkAt(spec, headTime));
  return {
    current: configOf(current),
    next: current + 1 < forks.length ? configOf(current + 1) : null,
    // The last configured fork, null when nothing is scheduled after the current one.
    last: current + 1 < forks.length ? configOf(forks.length - 1) : null,
  };
}
