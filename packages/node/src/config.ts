/**
 * Node configuration: typed defaults, a strict TOML schema and the
 * defaults ← file ← command line merge. TOML keys are the snake_case form of
 * the NodeConfig field names (`[rpc] gas_cap` ↔ `config.rpc.gasCap`); see configs/*.toml.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { MeridianError } from "@meridian/primitives";
import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export const LOG_FORMATS = ["pretty", "json", "auto"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

export type NodeConfig = {
  /** Data directory (chain database, keystore, copied genesis). */
  datadir: string;
  /** Genesis JSON; absent → `<datadir>/genesis.json` (see genesisPath). */
  genesis?: string;
  http: {
    enabled: boolean;
    addr: string;
    port: number;
    cors: string[];
    batchLimit: number;
    bodyLimit: number;
    ws: boolean;
    /** Host header names served (geth --http.vhosts); "*" = any. IP-address hosts are always served. */
    vhosts: string[];
  };
  /** WebSocket (served on the HTTP port when http.ws is on). */
  ws: {
    /** Browser origins allowed to connect (geth --ws.origins); "*" = any; [] = localhost and this host. */
    origins: string[];
    /** Subscriptions one connection may hold. */
    maxSubscriptions: number;
    /** Unsent bytes a client may leave queued before it is disconnected. */
    maxQueuedBytes: number;
  };
  metrics: { enabled: boolean; addr: string; port: number };
  log: { level: LogLevel; format: LogFormat };
  rpc: {
    gasCap: bigint;
    evmTimeoutMs: number;
    /** Worker threads that run eth_call / eth_estimateGas / eth_createAccessList / debug_traceTransaction. */
    executionWorkers: number;
    /** Largest debug_trace* result (JSON bytes; a block trace is one); a larger trace stops with an error. */
    maxResponseBytes: number;
    logsMaxRange: number;
    logsMaxResults: number;
    filterTimeoutMs: number;
    txFeeCap: bigint;
    /** Live poll filters in all, and per creating connection. */
    maxFilters: number;
    maxFiltersPerConnection: number;
    /** Unpolled changes one filter keeps (the newest). */
    filterMaxItems: number;
    /** Storage keys of one eth_getProof. */
    proofMaxKeys: number;
    /** Admit pre-EIP-155 (unprotected) legacy transactions over RPC, as geth's --rpc.allow-unprotected-txs. */
    allowUnprotectedTxs: boolean;
  };
  txpool: {
    priceLimit: bigint;
    priceBump: number;
    accountSlots: number;
    globalSlots: number;
    accountQueue: number;
    globalQueue: number;
    /** Journal admitted transactions to <datadir>/txpool/transactions.rlp and re-admit them on start. */
    journal: boolean;
    /** How often the journal is rewritten with the pool's current transactions, in ms. */
    rejournalMs: number;
  };
  /** Parallel executor: worker threads (0 = main thread only; undefined = number of cores). */
  executor: { workers?: number };
  /** blockTimeMs / emptyBlocks undefined = take them from genesis. */
  producer: { enabled: boolean; blockTimeMs?: number; emptyBlocks?: boolean };
  /** privateKey is set by the CLI only (devnet key or decrypted keystore), never read from files. */
  validator: { keystore?: string; passwordFile?: string; privateKey?: Uint8Array };
};

export type ConfigKind = "devnet" | "node";

type Leaf = string | number | bigint | boolean | Uint8Array | readonly unknown[];
export type DeepPartial<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends Leaf ? T[K] : DeepPartial<NonNullable<T[K]>>;
};

/** What a config file may set: everything except the private key. */
export type NodeConfigInput = DeepPartial<Omit<NodeConfig, "validator">> & {
  validator?: { keystore?: string; passwordFile?: string };
};
export type NodeConfigOverrides = DeepPartial<NodeConfig>;

export class ConfigError extends MeridianError {
  override name = "ConfigError";
  /** Every problem found, one `source: key.path: reason` line each. */
  readonly issues: readonly string[];
  constructor(issues: readonly string[], opts: { code?: string; cause?: unknown } = {}) {
    const first = issues[0] ?? "invalid configuration";
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    super(`${first}${more}`, {
      code: opts.code ?? "CONFIG_INVALID",
      cause: opts.cause,
      metaMessages: issues.length > 1 ? issues : undefined,
    });
    this.issues = issues;
  }
}

const ETHER = 10n ** 18n;

export function defaultConfig(kind: ConfigKind): NodeConfig {
  return {
    datadir: kind === "devnet" ? "./.meridian/devnet" : "./.meridian/node",
    http: {
      enabled: true,
      addr: "127.0.0.1",
      port: 8545,
      cors: [],
      batchLimit: 1000,
      bodyLimit: 5_242_880,
      ws: true,
      vhosts: ["localhost"],
    },
    ws: { origins: [], maxSubscriptions: 1000, maxQueuedBytes: 16_777_216 },
    metrics: { enabled: true, addr: "127.0.0.1", port: 9545 },
    log: { level: "info", format: "auto" },
    rpc: {
      gasCap: 50_000_000n,
      evmTimeoutMs: 5000,
      executionWorkers: 2,
      maxResponseBytes: 25 * 1024 * 1024,
      logsMaxRange: 10_000,
      logsMaxResults: 10_000,
      filterTimeoutMs: 300_000,
      txFeeCap: ETHER,
      maxFilters: 10_000,
      maxFiltersPerConnection: 1000,
      filterMaxItems: 10_000,
      proofMaxKeys: 1024,
      allowUnprotectedTxs: false,
    },
    txpool: {
      priceLimit: 1n,
      priceBump: 10,
      accountSlots: 16,
      globalSlots: 5120,
      accountQueue: 64,
      globalQueue: 1024,
      journal: true,
      rejournalMs: 3_600_000,
    },
    executor: {},
    producer: { enabled: true },
    validator: {},
  };
}

/** `config.genesis`, or the copy `meridian init` writes into the data dir. */
export function genesisPath(config: Pick<NodeConfig, "datadir" | "genesis">): string {
  return config.genesis ?? join(config.datadir, "genesis.json");
}

// ---------------------------------------------------------------------------
// Schema. One camelCase spec drives both the TOML schema (snake_case keys)
// and the override schema, so the two cannot drift apart.

function int(min: number, max: number) {
  const error = `expected integer ${min}..${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function uint256(min: bigint) {
  return z.unknown().transform((value, ctx): bigint => {
    const n = toBigint(value);
    if (n === undefined || n < min || n >= 2n ** 256n) {
      ctx.issues.push({
        code: "custom",
        message: `expected integer >= ${min} (a TOML integer or a decimal string)`,
        input: value,
      });
      return z.NEVER;
    }
    return n;
  });
}

function toBigint(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  // Decimal strings carry values above 2^53 exactly; underscores as in TOML integers.
  if (typeof value === "string" && /^[0-9][0-9_]*$/.test(value) && !value.endsWith("_"))
    return BigInt(value.replaceAll("_", ""));
  return undefined;
}

const bool = z.boolean({ error: "expected true or false" });
const nonEmpty = z.string({ error: "expected a string" }).min(1, { error: "expected a non-empty string" });
const host = nonEmpty.regex(/^[^\s/]+$/, { error: "expected a host name or IP address" });
const origins = z.array(nonEmpty, { error: "expected an array of strings" });
const ms = (min: number) => int(min, 86_400_000);

const spec = {
  datadir: nonEmpty,
  genesis: nonEmpty,
  http: {
    enabled: bool,
    addr: host,
    port: int(0, 65535),
    cors: origins,
    batchLimit: int(1, 100_000),
    bodyLimit: int(1024, 1 << 30),
    ws: bool,
    vhosts: origins,
  },
  ws: { origins, maxSubscriptions: int(1, 1_000_000), maxQueuedBytes: int(65_536, 1 << 30) },
  metrics: { enabled: bool, addr: host, port: int(0, 65535) },
  log: {
    level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(", ")}` }),
    format: z.enum(LOG_FORMATS, { error: `expected one of ${LOG_FORMATS.join(", ")}` }),
  },
  rpc: {
    gasCap: uint256(1n),
    evmTimeoutMs: ms(1),
    executionWorkers: int(1, 256),
    maxResponseBytes: int(1024, 1 << 30),
    logsMaxRange: int(1, 1_000_000_000),
    logsMaxResults: int(1, 1_000_000_000),
    filterTimeoutMs: ms(1000),
    txFeeCap: uint256(0n),
    maxFilters: int(1, 10_000_000),
    maxFiltersPerConnection: int(1, 10_000_000),
    filterMaxItems: int(1, 10_000_000),
    proofMaxKeys: int(1, 1_000_000),
    allowUnprotectedTxs: bool,
  },
  txpool: {
    priceLimit: uint256(0n),
    priceBump: int(0, 1000),
    accountSlots: int(1, 1_000_000),
    globalSlots: int(1, 1_000_000),
    accountQueue: int(1, 1_000_000),
    globalQueue: int(1, 1_000_000),
    journal: bool,
    rejournalMs: ms(1000),
  },
  executor: { workers: int(0, 256) },
  producer: { enabled: bool, blockTimeMs: ms(1), emptyBlocks: bool },
  validator: { keystore: nonEmpty, passwordFile: nonEmpty },
} as const;

type Spec = { [key: string]: z.ZodType | Spec };

function buildSchema(s: Spec, keyName: (k: string) => string): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(s))
    shape[keyName(k)] = v instanceof z.ZodType ? v : buildSchema(v, keyName);
  return z.strictObject(shape).partial();
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const tomlSchema = buildSchema(spec, snake);
const privateKey = z
  .instanceof(Uint8Array, { error: "expected 32 bytes" })
  .refine((b) => b.length === 32, { error: "expected 32 bytes" });
const overridesSchema = z
  .strictObject({
    ...buildSchema(spec, (k) => k).shape,
    validator: z.strictObject({ ...buildSchema(spec.validator, (k) => k).shape, privateKey }).partial(),
  })
  .partial();

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === "object" && value !== null) return "a table";
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], source: string): string[] {
  return issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => {
        const full = [...path, key].join(".");
        if (/private_?key/i.test(key))
          return `${source}: ${full}: private keys are not accepted here; use validator.keystore`;
        return `${source}: ${full}: unknown key`;
      });
    }
    const where = path.length ? path.join(".") : "(root)";
    const got = "input" in issue ? `, got ${describe(issue.input)}` : "";
    return [`${source}: ${where}: ${issue.message}${got}`];
  });
}

function camelizeKeys(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array)
    return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelizeKeys(v)]));
}

/** TOML text → validated partial config (snake_case keys, unknown keys rejected). Paths are returned as written. */
export function parseConfigToml(text: string, source: string): NodeConfigInput {
  let raw: unknown;
  try {
    raw = parseToml(text, { integersAsBigInt: "asNeeded" });
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.split("\n")[0]?.replace(/^Invalid TOML document: /, "") ?? "syntax error";
      throw new ConfigError([`${source}:${err.line}:${err.column}: TOML syntax error: ${reason}`], {
        cause: err,
      });
    }
    throw err;
  }
  const result = tomlSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, source));
  return camelizeKeys(result.data) as NodeConfigInput;
}

/** Validates command-line (or programmatic) overrides; camelCase keys as in NodeConfig. */
export function validateOverrides(input: unknown, source = "command line"): NodeConfigOverrides {
  const result = overridesSchema.safeParse(stripUndefined(input), { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues, source));
  return result.data as NodeConfigOverrides;
}

function stripUndefined(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function merge<T>(base: T, patch: unknown): T {
  if (!isPlainObject(patch) || !isPlainObject(base)) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? merge(out[k], v) : Array.isArray(v) ? [...v] : v;
  }
  return out as T;
}

function resolvePath(p: string, baseDir: string): string {
  if (p === "~" || p.startsWith("~/")) return join(homedir(), p.slice(1));
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** Resolves every path field against `baseDir` (the config file's directory, or the cwd). */
function resolvePaths<T extends NodeConfigOverrides>(c: T, baseDir: string): T {
  const out = { ...c, validator: c.validator ? { ...c.validator } : undefined };
  if (out.datadir !== undefined) out.datadir = resolvePath(out.datadir, baseDir);
  if (out.genesis !== undefined) out.genesis = resolvePath(out.genesis, baseDir);
  if (out.validator?.keystore !== undefined)
    out.validator.keystore = resolvePath(out.validator.keystore, baseDir);
  if (out.validator?.passwordFile !== undefined)
    out.validator.passwordFile = resolvePath(out.validator.passwordFile, baseDir);
  if (out.validator === undefined) delete out.validator;
  return out;
}

export type LoadConfigOptions = {
  kind: ConfigKind;
  /** TOML file; relative paths inside it resolve against its own directory. */
  configPath?: string;
  /** Command-line values; relative paths resolve against the cwd. Undefined leaves are ignored. */
  overrides?: NodeConfigOverrides;
  /** Directory for relative paths in defaults and overrides (default: process.cwd()). */
  cwd?: string;
};

/** defaults ← config file ← overrides, validated; all paths absolute. */
export function loadConfig(opts: LoadConfigOptions): NodeConfig {
  const cwd = opts.cwd ?? process.cwd();
  let config = resolvePaths(defaultConfig(opts.kind), cwd);
  if (opts.configPath !== undefined) {
    const file = resolvePath(opts.configPath, cwd);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError([`${opts.configPath}: cannot read config file (${errnoCode(err)})`], {
        code: "CONFIG_NOT_FOUND",
        cause: err,
      });
    }
    config = merge(config, resolvePaths(parseConfigToml(text, opts.configPath), dirname(file)));
  }
  if (opts.overrides !== undefined)
    config = merge(config, resolvePaths(validateOverrides(opts.overrides), cwd));
  return config;
}

function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String(err);
}

// ---------------------------------------------------------------------------
// Rendering: `meridian init` writes a fully commented config.toml.

function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? v.toString() : `"${v}"`;
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  return String(v);
}

/**
 * A documented TOML rendering of `config` that parseConfigToml accepts.
 * `datadir` is written as given in `opts.datadir` (e.g. "." for a config inside the data dir).
 */
export function renderConfigToml(
  config: NodeConfig,
  opts: { datadir?: string; header?: string } = {},
): string {
  const c = config;
  const kv = (key: string, value: unknown, doc: string, example?: unknown) =>
    value === undefined
      ? `# ${doc}\n# ${key} = ${tomlValue(example)}\n`
      : `# ${doc}\n${key} = ${tomlValue(value)}\n`;
  const lines = [
    opts.header ?? "# Meridian node configuration.",
    "# Keys are snake_case; relative paths are resolved against the directory of this file.",
    "# Command-line flags override values here (e.g. --http.port overrides [http] port).",
    "",
    kv("datadir", opts.datadir ?? c.datadir, "Data directory: chain database, keystore, genesis copy."),
    c.genesis === undefined
      ? '# Genesis JSON. Absent: <datadir>/genesis.json (written by `meridian init`).\n# genesis = "genesis.json"\n'
      : kv("genesis", c.genesis, "Genesis JSON."),
    "[http]",
    kv("enabled", c.http.enabled, "Serve JSON-RPC over HTTP."),
    kv("addr", c.http.addr, "Listen address. Use 0.0.0.0 only behind a firewall or proxy."),
    kv("port", c.http.port, "Listen port (0 = any free port)."),
    kv("cors", c.http.cors, 'Allowed browser origins (CORS); ["*"] allows any.'),
    kv("batch_limit", c.http.batchLimit, "Maximum requests in one JSON-RPC batch."),
    kv("body_limit", c.http.bodyLimit, "Maximum request body in bytes."),
    kv("ws", c.http.ws, "Accept WebSocket upgrades on the same port (eth_subscribe)."),
    kv(
      "vhosts",
      c.http.vhosts,
      'Host header names served (DNS-rebinding guard, as geth --http.vhosts); ["*"] = any. Requests by IP address are always served.',
    ),
    "[ws]",
    kv(
      "origins",
      c.ws.origins,
      'Browser origins allowed to open a WebSocket (geth --ws.origins); ["*"] = any; [] = http://localhost and http://<hostname>, any port.',
    ),
    kv("max_subscriptions", c.ws.maxSubscriptions, "Subscriptions one WebSocket connection may hold."),
    kv(
      "max_queued_bytes",
      c.ws.maxQueuedBytes,
      "Unsent bytes a WebSocket client may leave queued; past this it is disconnected.",
    ),
    "[metrics]",
    kv("enabled", c.metrics.enabled, "Serve Prometheus metrics at /metrics and a health check at /health."),
    kv("addr", c.metrics.addr, "Listen address."),
    kv("port", c.metrics.port, "Listen port (0 = any free port)."),
    "[log]",
    kv("level", c.log.level, "trace | debug | info | warn | error | fatal | silent"),
    kv("format", c.log.format, "pretty | json | auto (pretty on a terminal, JSON lines otherwise)"),
    "[rpc]",
    kv("gas_cap", c.rpc.gasCap, "Gas limit for eth_call / eth_estimateGas."),
    kv(
      "evm_timeout_ms",
      c.rpc.evmTimeoutMs,
      "Hard time limit for one eth_call / eth_estimateGas / eth_createAccessList, in ms.",
    ),
    kv(
      "execution_workers",
      c.rpc.executionWorkers,
      "Worker threads running calls, estimates, access lists and traces off the main thread.",
    ),
    kv(
      "max_response_bytes",
      c.rpc.maxResponseBytes,
      "Largest debug_trace* result (a block trace is one), in bytes.",
    ),
    kv("logs_max_range", c.rpc.logsMaxRange, "Maximum block range of one eth_getLogs query."),
    kv("logs_max_results", c.rpc.logsMaxResults, "Maximum logs one eth_getLogs query returns."),
    kv("filter_timeout_ms", c.rpc.filterTimeoutMs, "Filters not polled for this long are removed, in ms."),
    kv("max_filters", c.rpc.maxFilters, "Live poll filters (eth_newFilter & co.) in all."),
    kv(
      "max_filters_per_connection",
      c.rpc.maxFiltersPerConnection,
      "Live poll filters created over one connection.",
    ),
    kv(
      "filter_max_items",
      c.rpc.filterMaxItems,
      "Unpolled changes one filter keeps; older ones are dropped when it is full.",
    ),
    kv("proof_max_keys", c.rpc.proofMaxKeys, "Storage keys one eth_getProof may ask for (geth: 1024)."),
    kv(
      "tx_fee_cap",
      c.rpc.txFeeCap,
      "Fee cap in wei for transactions sent through RPC (0 = no cap). Big values as decimal strings.",
    ),
    kv(
      "allow_unprotected_txs",
      c.rpc.allowUnprotectedTxs,
      "Accept pre-EIP-155 transactions (no chain id, replayable on any chain) over RPC.",
    ),
    "[txpool]",
    kv(
      "price_limit",
      c.txpool.priceLimit,
      "Minimum gas price / priority fee in wei to accept a transaction.",
    ),
    kv("price_bump", c.txpool.priceBump, "Percentage a replacement transaction must raise the price by."),
    kv("account_slots", c.txpool.accountSlots, "Executable transactions guaranteed per account."),
    kv("global_slots", c.txpool.globalSlots, "Executable transactions in the whole pool."),
    kv("account_queue", c.txpool.accountQueue, "Non-executable (future nonce) transactions per account."),
    kv("global_queue", c.txpool.globalQueue, "Non-executable transactions in the whole pool."),
    kv(
      "journal",
      c.txpool.journal,
      "Journal admitted transactions to <datadir>/txpool/transactions.rlp; re-admitted on start.",
    ),
    kv(
      "rejournal_ms",
      c.txpool.rejournalMs,
      "Interval of the journal's rewrite (drops mined transactions), in ms.",
    ),
    "[executor]",
    kv(
      "workers",
      c.executor.workers,
      "Worker threads of the parallel executor; 0 = main thread only. Absent: number of cores.",
      2,
    ),
    "[producer]",
    kv(
      "enabled",
      c.producer.enabled,
      "Run the consensus validator when this node holds a key of the genesis validator set.",
    ),
    kv("block_time_ms", c.producer.blockTimeMs, "Block interval in ms. Absent: from genesis.", 2000),
    kv(
      "empty_blocks",
      c.producer.emptyBlocks,
      "Produce blocks without transactions. Absent: from genesis.",
      true,
    ),
    "[validator]",
    "# Private keys are never read from config files: use an encrypted keystore.",
    kv(
      "keystore",
      c.validator.keystore,
      "Web3 Secret Storage (v3) keystore file of the validator key.",
      "keystore/validator.json",
    ),
    kv(
      "password_file",
      c.validator.passwordFile,
      "File whose first line is the keystore password. Absent: prompt on a terminal.",
      "password.txt",
    ),
  ];
  return lines.join("\n");
}
