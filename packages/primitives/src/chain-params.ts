/**
 * The chain and consensus parameters of a genesis file (chain id, `validators`, `meridian.*`),
 * parsed here so consensus and the node read them without importing the executor, which parses
 * the rest of the file (forks, alloc, header fields) with the same field parsers.
 */
import { MAX_TOTAL_VOTING_POWER } from "./application.ts";
import { hexToBytes, isHex } from "./bytes.ts";
import { MeridianError } from "./errors.ts";

export class GenesisError extends MeridianError {
  override name = "GenesisError";
  constructor(source: string, path: string, reason: string) {
    super(`${source}: ${path}: ${reason}`, { code: "GENESIS_INVALID" });
  }
}

/** A validator of the genesis set. */
export type GenesisValidator = { address: Uint8Array; power: bigint };

export type ChainParams = {
  chainId: bigint;
  validators: GenesisValidator[];
  /** The block time target: consensus' commit timeout (`meridian.blockTimeMs`, default 1000). */
  blockTimeMs: number;
  /** False: a proposer waits for a transaction (`meridian.emptyBlocks`, default true). */
  emptyBlocks: boolean;
  /**
   * Round timeouts every validator of the chain uses (`meridian.timeouts`): for each step, the
   * first round's wait and its increase per round, in ms. A step left out keeps consensus's
   * default. Local clocks may differ; these only need to be the same order everywhere.
   */
  timeouts: Partial<Record<RoundTimeoutStep, RoundTimeout>>;
};

export type RoundTimeoutStep = "propose" | "prevote" | "precommit";
export type RoundTimeout = { baseMs: number; deltaMs: number };
const ROUND_TIMEOUT_STEPS: readonly RoundTimeoutStep[] = ["propose", "prevote", "precommit"];

/** Strict parsers of genesis fields; a bad field throws GenesisError naming its path. */
export function genesisFieldParsers(source: string) {
  const fail = (path: string, reason: string): never => {
    throw new GenesisError(source, path, reason);
  };
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
  return { fail, quantity, data };
}

/** Chain id, validators, block time and empty-block policy of a genesis JSON object. */
export function parseChainParams(json: unknown, source = "genesis"): ChainParams {
  const { fail, quantity, data } = genesisFieldParsers(source);
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return fail("(root)", "expected a JSON object");
  const g = json as Record<string, unknown>;
  const chainId = quantity("chainId", g.chainId);
  if (chainId === 0n) fail("chainId", "must not be 0");
  // A proof-of-stake genesis may leave `validators` out: parseGenesis derives the set from the
  // stakes of its `staking` section.
  const staking = g.staking !== undefined && g.staking !== null;
  const validatorsRaw = g.validators ?? [];
  if (!Array.isArray(validatorsRaw) || (validatorsRaw.length === 0 && !staking))
    fail("validators", "expected a non-empty array");
  const validators = (validatorsRaw as unknown[]).map((v, i) => {
    const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
    const power = quantity(`validators[${i}].power`, o.power);
    if (power === 0n) fail(`validators[${i}].power`, "must be positive");
    return { address: data(`validators[${i}].address`, o.address, 20), power };
  });
  const totalPower = validators.reduce((sum, v) => sum + v.power, 0n);
  if (totalPower > BigInt(MAX_TOTAL_VOTING_POWER))
    fail("validators", `total power ${totalPower} exceeds the maximum ${MAX_TOTAL_VOTING_POWER}`);
  const meridian = (g.meridian ?? {}) as Record<string, unknown>;
  const blockTimeMs = Number(quantity("meridian.blockTimeMs", meridian.blockTimeMs, 1000n));
  if (blockTimeMs < 10 || blockTimeMs > 600_000)
    fail("meridian.blockTimeMs", "expected 10..600000 milliseconds");
  const emptyBlocks = meridian.emptyBlocks ?? true;
  if (typeof emptyBlocks !== "boolean") fail("meridian.emptyBlocks", "expected true or false");
  const timeoutsRaw = meridian.timeouts ?? {};
  if (typeof timeoutsRaw !== "object" || timeoutsRaw === null || Array.isArray(timeoutsRaw))
    fail("meridian.timeouts", "expected an object");
  const t = timeoutsRaw as Record<string, unknown>;
  for (const key of Object.keys(t))
    if (!ROUND_TIMEOUT_STEPS.some((step) => key === `${step}Ms` || key === `${step}DeltaMs`))
      fail(
        `meridian.timeouts.${key}`,
        "unknown; expected proposeMs, proposeDeltaMs, prevoteMs, prevoteDeltaMs, precommitMs or precommitDeltaMs",
      );
  const timeouts: ChainParams["timeouts"] = {};
  for (const step of ROUND_TIMEOUT_STEPS) {
    const base = t[`${step}Ms`];
    const delta = t[`${step}DeltaMs`];
    if (base === undefined && delta === undefined) continue;
    if (base === undefined || delta === undefined)
      fail(
        `meridian.timeouts.${step}${base === undefined ? "Ms" : "DeltaMs"}`,
        `give both ${step}Ms and ${step}DeltaMs`,
      );
    const ms = (path: string, v: unknown): number => {
      const n = Number(quantity(path, v));
      if (n > 600_000) fail(path, "expected at most 600000 milliseconds");
      return n;
    };
    const baseMs = ms(`meridian.timeouts.${step}Ms`, base);
    if (baseMs < 10) fail(`meridian.timeouts.${step}Ms`, "expected at least 10 milliseconds");
    timeouts[step] = { baseMs, deltaMs: ms(`meridian.timeouts.${step}DeltaMs`, delta) };
  }
  return { chainId, validators, blockTimeMs, emptyBlocks: emptyBlocks as boolean, timeouts };
}
