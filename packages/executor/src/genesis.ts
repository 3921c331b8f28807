/**
 * Genesis file: geth-like JSON plus Meridian's validators and chain
 * parameters. Parsing is strict: a bad field is named in the error.
 */
import { type Block, createBlock } from "@ethereumjs/block";
import { Common, createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import { Account, Address, KECCAK256_RLP } from "@ethereumjs/util";
import { hexToBytes, isHex, keccak256, MeridianError } from "@meridian/primitives";
import { FlatStateManager, type FlatStateStore } from "@meridian/state";
import { memoizeParamsUpdates } from "./common-params.ts";
import { kzg } from "./kzg.ts";

export class GenesisError extends MeridianError {
  override name = "GenesisError";
  constructor(source: string, path: string, reason: string) {
    super(`${source}: ${path}: ${reason}`, { code: "GENESIS_INVALID" });
  }
}

export type GenesisAccount = {
  balance: bigint;
  nonce: bigint;
  code: Uint8Array | undefined;
  storage: Map<string, Uint8Array>;
};

export type GenesisSpec = {
  chainId: bigint;
  hardfork: string;
  timestamp: bigint;
  gasLimit: bigint;
  baseFeePerGas: bigint;
  extraData: Uint8Array;
  mixHash: Uint8Array;
  coinbase: Uint8Array;
  validators: { address: Uint8Array; power: bigint }[];
  blockTimeMs: number;
  emptyBlocks: boolean;
  /** Lower-case 0x address → account. */
  alloc: Map<string, GenesisAccount>;
};

const SUPPORTED_FORKS = new Set<string>([Hardfork.Cancun, Hardfork.Prague]);

export function parseGenesis(json: unknown, source = "genesis"): GenesisSpec {
  const fail = (path: string, reason: string): never => {
    throw new GenesisError(source, path, reason);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json))
    fail("(root)", "expected a JSON object");
  const g = json as Record<string, unknown>;
  const quantity = (path: string, v: unknown, dflt?: bigint): bigint => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "string" && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return BigInt(v);
    return fail(path, `expected a non-negative integer or 0x quantity, got ${JSON.stringify(v)}`);
  };
  const data = (path: string, v: unknown, length?: number, dflt?: Uint8Array): Uint8Array => {
    if (v === undefined && dflt !== undefined) return dflt;
    if (!isHex(v) || v.length % 2 !== 0)
      return fail(path, `expected even-length 0x hex, got ${JSON.stringify(v)}`);
    const bytes = hexToBytes(v);
    if (length !== undefined && bytes.length !== length)
      fail(path, `expected ${length} bytes, got ${bytes.length}`);
    return bytes;
  };
  const hardfork = g.hardfork === undefined ? Hardfork.Prague : g.hardfork;
  if (typeof hardfork !== "string" || !SUPPORTED_FORKS.has(hardfork)) {
    fail("hardfork", `expected one of ${[...SUPPORTED_FORKS].join(", ")}, got ${JSON.stringify(hardfork)}`);
  }
  const chainId = quantity("chainId", g.chainId);
  if (chainId === 0n) fail("chainId", "must not be 0");
  const validatorsRaw = g.validators ?? [];
  if (!Array.isArray(validatorsRaw) || validatorsRaw.length === 0)
    fail("validators", "expected a non-empty array");
  const validators = (validatorsRaw as unknown[]).map((v, i) => {
    const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
    const power = quantity(`validators[${i}].power`, o.power);
    if (power === 0n) fail(`validators[${i}].power`, "must be positive");
    return { address: data(`validators[${i}].address`, o.address, 20), power };
  });
  const meridian = (g.meridian ?? {}) as Record<string, unknown>;
  const blockTimeMs = Number(quantity("meridian.blockTimeMs", meridian.blockTimeMs, 1000n));
  if (blockTimeMs < 10 || blockTimeMs > 600_000)
    fail("meridian.blockTimeMs", "expected 10..600000 milliseconds");
  const emptyBlocks = meridian.emptyBlocks ?? true;
  if (typeof emptyBlocks !== "boolean") fail("meridian.emptyBlocks", "expected true or false");

  const allocRaw = g.alloc ?? {};
  if (typeof allocRaw !== "object" || allocRaw === null || Array.isArray(allocRaw))
    fail("alloc", "expected an object");
  const alloc = new Map<string, GenesisAccount>();
  for (const [addr, raw] of Object.entries(allocRaw as Record<string, unknown>)) {
    const p = `alloc.${addr}`;
    const address = data(p, addr.startsWith("0x") ? addr : `0x${addr}`, 20);
    const a = (typeof raw === "object" && raw !== null ? raw : fail(p, "expected an object")) as Record<
      string,
      unknown
    >;
    const storage = new Map<string, Uint8Array>();
    for (const [slot, value] of Object.entries((a.storage ?? {}) as Record<string, unknown>)) {
      storage.set(slot, data(`${p}.storage.${slot}`, value));
      data(`${p}.storage`, slot, 32);
    }
    alloc.set(Buffer.from(address).toString("hex"), {
      balance: quantity(`${p}.balance`, a.balance, 0n),
      nonce: quantity(`${p}.nonce`, a.nonce, 0n),
      code: a.code === undefined ? undefined : data(`${p}.code`, a.code),
      storage,
    });
  }
  return {
    chainId,
    hardfork: hardfork as string,
    timestamp: quantity("timestamp", g.timestamp, 0n),
    gasLimit: quantity("gasLimit", g.gasLimit, 30_000_000n),
    baseFeePerGas: quantity("baseFeePerGas", g.baseFeePerGas, 1_000_000_000n),
    extraData: data("extraData", g.extraData, undefined, new Uint8Array(0)),
    mixHash: data("mixHash", g.mixHash, 32, new Uint8Array(32)),
    coinbase: data("coinbase", g.coinbase, 20, new Uint8Array(20)),
    validators,
    blockTimeMs,
    emptyBlocks: emptyBlocks as boolean,
    alloc,
  };
}

/**
 * The chain's Common, with the KZG of kzg.ts installed for EIP-4844 (point evaluation precompile
 * 0x0a) and Meridian's keccak256 (about twice as fast as the default) for the EVM's SHA3, blooms
 * and transaction and header hashes.
 */
export function chainCommon(spec: Pick<GenesisSpec, "chainId" | "hardfork">): Common {
  return memoizeParamsUpdates(
    createCustomCommon({ chainId: Number(spec.chainId), name: "meridian" }, Mainnet, {
      hardfork: spec.hardfork,
      customCrypto: { kzg, keccak256 },
    }),
  );
}

/** Builds the genesis state in a fresh overlay and the genesis block that commits to it. */
export async function buildGenesis(
  spec: GenesisSpec,
  store: FlatStateStore,
  common: Common = chainCommon(spec),
): Promise<{ block: Block; state: FlatStateManager }> {
  const state = new FlatStateManager(store, KECCAK256_RLP);
  for (const [addr, a] of spec.alloc) {
    const address = new Address(Buffer.from(addr, "hex"));
    await state.putAccount(address, new Account(a.nonce, a.balance));
    if (a.code && a.code.length > 0) await state.putCode(address, a.code);
    for (const [slot, value] of a.storage) await state.putStorage(address, hexToBytes(slot), value);
  }
  const stateRoot = await state.getStateRoot();
  const block = createBlock(
    {
      header: {
        number: 0n,
        stateRoot,
        gasLimit: spec.gasLimit,
        timestamp: spec.timestamp,
        extraData: spec.extraData,
        mixHash: spec.mixHash,
        coinbase: spec.coinbase,
        baseFeePerGas: spec.baseFeePerGas,
        difficulty: 0n,
      },
      withdrawals: [],
    },
    { common },
  );
  return { block, state };
}

export { Common };
