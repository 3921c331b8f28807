/**
 * Genesis file: geth-like JSON plus Meridian's validators and chain
 * parameters. Parsing is strict: a bad field is named in the error.
 */
import { type Block, createBlock } from "@ethereumjs/block";
import { Common, createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import { Account, Address, KECCAK256_RLP } from "@ethereumjs/util";
import {
  type ChainParams,
  cappedVotingPower,
  genesisFieldParsers,
  hexToBytes,
  keccak256,
  MAX_TOTAL_VOTING_POWER,
  parseChainParams,
} from "@meridian/primitives";
import {
  type GenesisValidator,
  STAKING_ADDRESS,
  type StakingParams,
  selectActiveSet,
  stakingGenesisAccount,
} from "@meridian/staking";
import { FlatStateManager, type FlatStateStore } from "@meridian/state";
import { memoizeParamsUpdates } from "./common-params.ts";
import { kzg } from "./kzg.ts";

export type GenesisAccount = {
  balance: bigint;
  nonce: bigint;
  code: Uint8Array | undefined;
  storage: Map<string, Uint8Array>;
};

/** A fork that activates at the first block whose timestamp reaches `time` (geth's `config.<fork>Time`). */
export type ForkActivation = { hardfork: string; time: bigint };

/** The whole genesis: primitives' ChainParams (what consensus reads) plus the EVM's fields. */
export type GenesisSpec = ChainParams & {
  /** The fork the genesis block (and every block before the first scheduled activation) runs. */
  hardfork: string;
  /** Later forks, in order, each with its activation timestamp (after the genesis timestamp). */
  schedule: ForkActivation[];
  timestamp: bigint;
  gasLimit: bigint;
  baseFeePerGas: bigint;
  extraData: Uint8Array;
  mixHash: Uint8Array;
  coinbase: Uint8Array;
  /** Lower-case 0x address → account. */
  alloc: Map<string, GenesisAccount>;
  /**
   * Proof of stake (the genesis' `staking` section): the staking contract's params and the
   * genesis validators. When present, `alloc` holds the contract at STAKING_ADDRESS and
   * `validators` is the contract's epoch-0 set (power = stake / powerUnit).
   */
  staking?: GenesisStaking;
};

export type GenesisStaking = { params: StakingParams; validators: GenesisValidator[] };

/** The forks a Meridian chain can run, in activation order. */
const FORK_ORDER: readonly string[] = [Hardfork.Cancun, Hardfork.Prague, Hardfork.Osaka];
const SUPPORTED_FORKS = new Set<string>(FORK_ORDER);
/** geth's genesis `config` key for each fork's activation timestamp. */
const FORK_TIME_KEYS: Record<string, string> = {
  [Hardfork.Prague]: "pragueTime",
  [Hardfork.Osaka]: "osakaTime",
};

/** The fork a block with timestamp `time` runs under the genesis' schedule. */
export function hardforkAt(spec: Pick<GenesisSpec, "hardfork" | "schedule">, time: bigint): string {
  let fork = spec.hardfork;
  for (const a of spec.schedule) if (time >= a.time) fork = a.hardfork;
  return fork;
}

export function parseGenesis(json: unknown, source = "genesis"): GenesisSpec {
  const { fail, quantity, data } = genesisFieldParsers(source);
  if (typeof json !== "object" || json === null || Array.isArray(json))
    fail("(root)", "expected a JSON object");
  const g = json as Record<string, unknown>;
  const timestamp = quantity("timestamp", g.timestamp, 0n);
  const config = g.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config))
    fail("config", "expected an object");
  // Activation times given in `config` (geth's pragueTime, osakaTime), in fork order.
  const times: { hardfork: string; key: string; time: bigint }[] = [];
  for (const fork of FORK_ORDER) {
    const key = FORK_TIME_KEYS[fork];
    const raw = key === undefined ? undefined : (config as Record<string, unknown>)[key];
    if (key === undefined || raw === undefined || raw === null) continue;
    const time = quantity(`config.${key}`, raw);
    const before = times.at(-1);
    if (before && time < before.time) fail(`config.${key}`, `must not be before config.${before.key}`);
    times.push({ hardfork: fork, key, time });
  }
  // The genesis fork: `hardfork` if given, else the last fork active at the genesis timestamp
  // (Prague when the schedule starts later or is absent, as before schedules existed).
  let hardfork: unknown = g.hardfork;
  if (hardfork === undefined) {
    hardfork = Hardfork.Prague;
    for (const t of times) if (t.time <= timestamp) hardfork = t.hardfork;
    const prague = times.find((t) => t.hardfork === Hardfork.Prague);
    if (prague && prague.time > timestamp) hardfork = Hardfork.Cancun;
  }
  if (typeof hardfork !== "string" || !SUPPORTED_FORKS.has(hardfork)) {
    fail("hardfork", `expected one of ${[...SUPPORTED_FORKS].join(", ")}, got ${JSON.stringify(hardfork)}`);
  }
  const genesisFork = FORK_ORDER.indexOf(hardfork as string);
  const schedule: ForkActivation[] = [];
  for (const t of times) {
    const later = FORK_ORDER.indexOf(t.hardfork) > genesisFork;
    if (later && t.time <= timestamp) {
      fail(
        `config.${t.key}`,
        `${t.time} is not after the genesis timestamp ${timestamp} but hardfork is ${hardfork}`,
      );
    }
    if (!later && t.time > timestamp) {
      fail(
        `config.${t.key}`,
        `${t.time} is after the genesis timestamp ${timestamp} but hardfork ${hardfork} includes it`,
      );
    }
    if (later) schedule.push({ hardfork: t.hardfork, time: t.time });
  }
  const params = parseChainParams(json, source);
  const validators = params.validators;

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
  let validatorSet = validators;
  let staking: GenesisStaking | undefined;
  const epochWithoutStaking =
    (g.staking === undefined || g.staking === null) &&
    typeof g.consensus === "object" &&
    g.consensus !== null &&
    (g.consensus as Record<string, unknown>).epoch_length !== undefined;
  if (epochWithoutStaking)
    fail("consensus.epoch_length", "epochs come from the staking section, which this genesis does not have");
  if (g.staking !== undefined && g.staking !== null) {
    staking = parseStaking(g.staking, g.consensus, quantity, data, fail);
    let account: ReturnType<typeof stakingGenesisAccount>;
    try {
      account = stakingGenesisAccount(staking.params, staking.validators);
    } catch (err) {
      return fail("staking", err instanceof Error ? err.message : String(err));
    }
    const key = STAKING_ADDRESS.slice(2).toLowerCase();
    if (alloc.has(key)) fail(`alloc.${STAKING_ADDRESS}`, "the staking section owns this account");
    const storage = new Map<string, Uint8Array>();
    for (const [slot, value] of Object.entries(account.storage)) storage.set(slot, hexToBytes(value));
    alloc.set(key, { balance: account.balance, nonce: 0n, code: hexToBytes(account.code), storage });
    // Power is stake / powerUnit and stake comes out of the supply: a unit so small that the
    // supply could stake past consensus's maximum total power is refused here, not at an epoch.
    let supply = 0n;
    for (const a of alloc.values()) supply += a.balance;
    const reachable = supply / staking.params.powerUnit;
    if (reachable > BigInt(MAX_TOTAL_VOTING_POWER))
      fail(
        "staking.powerUnit",
        `the genesis supply of ${supply} wei could stake to voting power ${reachable}, above the maximum ${MAX_TOTAL_VOTING_POWER}; raise powerUnit`,
      );
    const { maxValidators } = staking.params;
    const derived = selectActiveSet(staking.params, staking.validators).map((v) => ({
      address: hexToBytes(v.signer),
      power: BigInt(cappedVotingPower(v.power, maxValidators)),
    }));
    if (derived.length === 0) fail("staking.validators", "no validator has minStake: the set would be empty");
    // A `validators` list beside `staking` must be exactly the contract's set (same order).
    if (g.validators !== undefined) {
      const same =
        validators.length === derived.length &&
        validators.every(
          (v, i) =>
            v.power === derived[i]?.power &&
            Buffer.from(v.address).equals(Buffer.from(derived[i]?.address ?? new Uint8Array())),
        );
      if (!same)
        fail(
          "validators",
          "differs from the staking contract's epoch-0 set (stake-descending, power = stake / powerUnit); omit it or make it match",
        );
    }
    validatorSet = derived;
  }
  return {
    ...params,
    hardfork: hardfork as string,
    schedule,
    timestamp,
    gasLimit: quantity("gasLimit", g.gasLimit, 30_000_000n),
    baseFeePerGas: quantity("baseFeePerGas", g.baseFeePerGas, 1_000_000_000n),
    extraData: data("extraData", g.extraData, undefined, new Uint8Array(0)),
    mixHash: data("mixHash", g.mixHash, 32, new Uint8Array(32)),
    coinbase: data("coinbase", g.coinbase, 20, new Uint8Array(20)),
    validators: validatorSet,
    alloc,
    ...(staking ? { staking } : {}),
  };
}

/** Defaults for the staking params a genesis leaves out (the devnet's choices). */
const STAKING_DEFAULTS = {
  powerUnit: 10n ** 18n,
  issuancePerBlock: 0n,
  epochLength: 16n,
  unbondingEpochs: 2n,
  jailEpochs: 2n,
  downtimeWindow: 16n,
  maxValidators: 100n,
  downtimeMaxMissedBps: 5000n,
  slashFractionBps: 500n,
  proposerBonusBps: 1000n,
} as const;

/**
 * The epoch length: `staking.epochLength`, or `consensus.epoch_length` (CometBFT's spelling of a
 * consensus parameter); both may be given only if they agree.
 */
function epochLength(
  staking: Record<string, unknown>,
  consensus: unknown,
  quantity: (path: string, v: unknown, dflt?: bigint) => bigint,
  fail: (path: string, reason: string) => never,
): bigint {
  const c = consensus ?? {};
  if (typeof c !== "object" || c === null || Array.isArray(c)) return fail("consensus", "expected an object");
  const snake = (c as Record<string, unknown>).epoch_length;
  const fromStaking =
    staking.epochLength === undefined ? undefined : quantity("staking.epochLength", staking.epochLength);
  const fromConsensus = snake === undefined ? undefined : quantity("consensus.epoch_length", snake);
  if (fromStaking !== undefined && fromConsensus !== undefined && fromStaking !== fromConsensus)
    fail(
      "consensus.epoch_length",
      `${fromConsensus} differs from staking.epochLength ${fromStaking}; give one`,
    );
  const length = fromConsensus ?? fromStaking ?? STAKING_DEFAULTS.epochLength;
  if (length === 0n)
    fail(fromConsensus !== undefined ? "consensus.epoch_length" : "staking.epochLength", "must be positive");
  return length;
}

function parseStaking(
  raw: unknown,
  consensus: unknown,
  quantity: (path: string, v: unknown, dflt?: bigint) => bigint,
  data: (path: string, v: unknown, length?: number) => Uint8Array,
  fail: (path: string, reason: string) => never,
): GenesisStaking {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("staking", "expected an object");
  const s = raw as Record<string, unknown>;
  const q = (name: keyof typeof STAKING_DEFAULTS | "minStake") =>
    quantity(`staking.${name}`, s[name], name === "minStake" ? undefined : STAKING_DEFAULTS[name]);
  const small = (
    name: "maxValidators" | "downtimeMaxMissedBps" | "slashFractionBps" | "proposerBonusBps",
  ) => {
    const v = q(name);
    if (v > 0xffff_ffffn) fail(`staking.${name}`, "too large");
    return Number(v);
  };
  const params: StakingParams = {
    minStake: q("minStake"),
    powerUnit: q("powerUnit"),
    issuancePerBlock: q("issuancePerBlock"),
    epochLength: epochLength(s, consensus, quantity, fail),
    unbondingEpochs: q("unbondingEpochs"),
    jailEpochs: q("jailEpochs"),
    downtimeWindow: q("downtimeWindow"),
    maxValidators: small("maxValidators"),
    downtimeMaxMissedBps: small("downtimeMaxMissedBps"),
    slashFractionBps: small("slashFractionBps"),
    proposerBonusBps: small("proposerBonusBps"),
  };
  const list = s.validators;
  if (!Array.isArray(list) || list.length === 0) fail("staking.validators", "expected a non-empty array");
  const address = (path: string, v: unknown): `0x${string}` =>
    `0x${Buffer.from(data(path, v, 20)).toString("hex")}`;
  const validators = (list as unknown[]).map((v, i): GenesisValidator => {
    const p = `staking.validators[${i}]`;
    const o = (typeof v === "object" && v !== null ? v : fail(p, "expected an object")) as Record<
      string,
      unknown
    >;
    const signer = address(`${p}.signer`, o.signer);
    const commission = quantity(`${p}.commissionBps`, o.commissionBps, 0n);
    if (commission > 10_000n) fail(`${p}.commissionBps`, "expected 0..10000");
    return {
      owner: o.owner === undefined ? signer : address(`${p}.owner`, o.owner),
      signer,
      commissionBps: Number(commission),
      stake: quantity(`${p}.stake`, o.stake),
    };
  });
  return { params, validators };
}

/**
 * The chain's Common at one fork (the genesis fork unless `hardfork` says another), with the KZG of kzg.ts installed for EIP-4844 (point evaluation precompile
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
