/** Node flags shared by `start` and `devnet`, and their mapping onto config overrides. */
import { type Command, Option } from "commander";
import { intArg } from "./common.ts";

/**
 * Defaults shown in --help. They mirror defaultConfig() in @meridian/node
 * (a test keeps them equal) so that --help does not load the node.
 */
export const HELP_DEFAULTS = {
  datadir: { devnet: "./.meridian/devnet", node: "./.meridian/node" },
  httpAddr: "127.0.0.1",
  httpPort: 8545,
  metricsAddr: "127.0.0.1",
  metricsPort: 9545,
  logLevel: "info",
  logFormat: "auto",
} as const;

export const LOG_LEVEL_CHOICES = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
export const LOG_FORMAT_CHOICES = ["pretty", "json", "auto"];

/**
 * Flag values carry no commander defaults: a default would hide the config
 * file's value. Defaults appear in the descriptions instead.
 */
export function addNodeOptions(cmd: Command, kind: "devnet" | "node"): Command {
  const d = HELP_DEFAULTS;
  return cmd
    .option("--datadir <dir>", `data directory (default: ${d.datadir[kind]})`)
    .option("--config <file>", "TOML config file (default: <datadir>/config.toml when present)")
    .option(
      "--genesis <file>",
      kind === "devnet"
        ? "genesis JSON (default: repo genesis/devnet.json, copied into the datadir on first run)"
        : "genesis JSON (default: <datadir>/genesis.json)",
    )
    .option("--http.addr <addr>", `JSON-RPC listen address (default: ${d.httpAddr})`)
    .option("--http.port <port>", `JSON-RPC listen port, 0 = any free port (default: ${d.httpPort})`, intArg)
    .option("--http.cors <origins>", 'comma-separated allowed CORS origins, "*" = any (default: none)')
    .option(
      "--http.vhosts <hosts>",
      'comma-separated Host header names served (DNS-rebinding guard), "*" = any; IP addresses always (default: localhost)',
    )
    .option(
      "--ws.origins <origins>",
      'comma-separated browser origins allowed to open a WebSocket, "*" = any (default: http://localhost and this hostname)',
    )
    .option("--ws", "accept WebSocket connections on the JSON-RPC port (default)")
    .option("--no-ws", "do not accept WebSocket connections")
    .option("--metrics.addr <addr>", `metrics listen address (default: ${d.metricsAddr})`)
    .option(
      "--metrics.port <port>",
      `metrics listen port, 0 = any free port (default: ${d.metricsPort})`,
      intArg,
    )
    .option("--no-metrics", "disable the Prometheus /metrics and /health server")
    .option(
      "--rpc.allow-unprotected-txs",
      "accept pre-EIP-155 (not replay-protected) transactions over RPC (default: refused)",
    )
    .option(
      "--executor.workers <n>",
      "worker threads of the parallel executor, 0 = execute on the main thread (default: number of cores)",
      intArg,
    )
    .addOption(
      new Option("--log.level <level>", `log level (default: ${d.logLevel})`).choices(LOG_LEVEL_CHOICES),
    )
    .addOption(
      new Option(
        "--log.format <format>",
        `log format; auto = pretty on a terminal, else JSON (default: ${d.logFormat})`,
      ).choices(LOG_FORMAT_CHOICES),
    );
}

/** Overrides from flags the user actually gave (commander's value source "cli"). */
export function nodeOverrides(cmd: Command): Record<string, unknown> {
  const opts = cmd.opts<Record<string, unknown>>();
  const given = (key: string): unknown => (cmd.getOptionValueSource(key) === "cli" ? opts[key] : undefined);
  const list = (value: unknown): string[] | undefined =>
    typeof value === "string"
      ? value
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined;
  const cors = given("http.cors");
  return {
    datadir: given("datadir"),
    genesis: given("genesis"),
    http: {
      addr: given("http.addr"),
      port: given("http.port"),
      cors:
        typeof cors === "string"
          ? cors
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
      ws: given("ws"),
      vhosts: list(given("http.vhosts")),
    },
    ws: { origins: list(given("ws.origins")) },
    metrics: { enabled: given("metrics"), addr: given("metrics.addr"), port: given("metrics.port") },
    log: { level: given("log.level"), format: given("log.format") },
    rpc: { allowUnprotectedTxs: given("rpc.allowUnprotectedTxs") },
    executor: { workers: given("executor.workers") },
    producer: {
      enabled: given("produce"),
      blockTimeMs: given("blockTime"),
      emptyBlocks: given("emptyBlocks"),
    },
    validator: { keystore: given("keystore"), passwordFile: given("password") },
  };
}
