/** `meridian start` and `meridian devnet`: load config, start the node, stop it on a signal. */
import { existsSync } from "node:fs";
import { copyFile, readdir, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import type { DatadirLock, NodeConfig, RootLogger, RunningNode } from "@meridian/node";
import { hexToBytes, privateKeyToAddress } from "@meridian/primitives";
import type { Command } from "commander";
import { cliError, DEVNET_GENESIS, toChecksumAddress } from "./common.ts";
import {
  DEV_ACCOUNTS,
  DEV_DERIVATION_PATH,
  DEV_MNEMONIC,
  DEVNET_VALIDATOR,
  DEVNET_VALIDATOR_INDEX,
  type DevAccount,
} from "./dev-accounts.ts";
import { loadNodeApi } from "./node-api.ts";
import { nodeOverrides } from "./options.ts";
import { readHidden } from "./prompt.ts";

/** How long close() may take after SIGINT/SIGTERM before the process exits anyway. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

type NodeHandle = Pick<RunningNode, "rpcUrl" | "wsUrl" | "metricsUrl" | "chainId" | "close">;

async function buildConfig(kind: "devnet" | "node", cmd: Command): Promise<NodeConfig> {
  const node = await loadNodeApi();
  const overrides = node.validateOverrides(nodeOverrides(cmd));
  const datadir = resolve(overrides.datadir ?? node.defaultConfig(kind).datadir);
  let configPath = cmd.opts<{ config?: string }>().config;
  // `meridian init` writes <datadir>/config.toml: pick it up without --config.
  if (configPath === undefined && existsSync(join(datadir, "config.toml")))
    configPath = join(datadir, "config.toml");
  return node.loadConfig({ kind, configPath, overrides });
}

/** Refuses paths whose deletion would be a disaster rather than a reset. */
function assertSafeToDelete(dir: string): void {
  const abs = resolve(dir);
  const cwd = process.cwd();
  const isAncestorOfCwd = abs === cwd || !relative(abs, cwd).startsWith("..");
  if (abs === resolve(sep) || abs === homedir() || isAncestorOfCwd)
    throw cliError(`refusing to delete ${abs} (--reset); choose a dedicated --datadir`, "RESET_REFUSED");
}

function devnetBanner(
  config: NodeConfig,
  handle: NodeHandle,
  validator: DevAccount,
  staking: boolean,
): string {
  const rows: [string, string][] = [
    ["Chain ID", handle.chainId.toString()],
    ["RPC", handle.rpcUrl ?? "(disabled)"],
    ["WS", handle.wsUrl ?? "(disabled)"],
  ];
  if (handle.metricsUrl) rows.push(["Metrics", `${handle.metricsUrl}/metrics`]);
  const origin =
    validator === DEVNET_VALIDATOR
      ? `${DEV_DERIVATION_PATH}/${DEVNET_VALIDATOR_INDEX}, not a dev account`
      : "dev account 0: this chain's genesis names it";
  rows.push(
    ["Datadir", config.datadir],
    [
      "Validator",
      staking
        ? `${validator.address} (block producer, staked; fees go to the staking contract 0x…1000; ${origin})`
        : `${validator.address} (block producer and fee recipient; ${origin})`,
    ],
  );
  const lines = ["", "Meridian devnet", "", ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`), ""];
  lines.push("Available accounts", "==================");
  DEV_ACCOUNTS.forEach((a, i) => {
    lines.push(`(${i}) ${a.address}`);
  });
  lines.push("", "Private keys (public test keys: never use them on a real network)", "============");
  DEV_ACCOUNTS.forEach((a, i) => {
    lines.push(`(${i}) ${a.privateKey}`);
  });
  lines.push("", `Mnemonic:        ${DEV_MNEMONIC}`, `Derivation path: ${DEV_DERIVATION_PATH}/<index>`, "");
  return `${lines.join("\n")}\n`;
}

async function validatorKey(config: NodeConfig): Promise<Uint8Array | undefined> {
  const keystore = config.validator.keystore;
  if (keystore === undefined) return undefined;
  const node = await loadNodeApi();
  const password = config.validator.passwordFile
    ? await node.readPasswordFile(config.validator.passwordFile)
    : await readHidden(`Password for ${keystore}: `);
  return node.loadKeystoreFile(keystore, password);
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // A second signal while closing means "now".
      const force = () => {
        process.stderr.write("second signal: exiting without a clean shutdown\n");
        process.exit(130);
      };
      process.once("SIGINT", force);
      process.once("SIGTERM", force);
      resolveSignal(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

async function runUntilSignal(
  config: NodeConfig,
  logger: RootLogger,
  banner?: (h: NodeHandle) => string,
  lock?: DatadirLock,
) {
  const node = await loadNodeApi();
  const metrics = node.createMetrics();
  // Listen before starting so a signal during a slow start still closes cleanly.
  const signal = waitForSignal();
  let handle: NodeHandle;
  try {
    handle = await node.startNode(config, lock ? { logger, metrics, lock } : { logger, metrics });
  } catch (err) {
    logger.flush();
    throw err;
  }
  if (banner) process.stderr.write(banner(handle));
  const sig = await signal;
  logger.info("shutting down", { signal: sig });
  const deadline = setTimeout(() => {
    logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
    logger.flush();
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  try {
    await handle.close();
  } finally {
    clearTimeout(deadline);
  }
  logger.info("stopped");
  logger.flush();
}

export async function runStart(cmd: Command): Promise<void> {
  const node = await loadNodeApi();
  const config = await buildConfig("node", cmd);
  const genesis = node.genesisPath(config);
  if (!existsSync(genesis))
    throw cliError(`no genesis at ${genesis}: run \`meridian init\` or pass --genesis`, "GENESIS_MISSING");
  const key = await validatorKey(config);
  if (key) config.validator.privateKey = key;
  const logger = node.createLogger(config.log);
  logger.info("starting node", {
    datadir: config.datadir,
    genesis,
    validator: key ? toChecksumAddress(privateKeyToAddress(key)) : undefined,
  });
  await runUntilSignal(config, logger);
}

export async function runDevnet(cmd: Command): Promise<void> {
  const node = await loadNodeApi();
  const opts = cmd.opts<{ reset?: boolean }>();
  const config = await buildConfig("devnet", cmd);
  if (opts.reset) assertSafeToDelete(config.datadir);
  // The lock comes first: a datadir a node is running on is refused before anything in it is touched.
  const lock = await node.acquireDatadirLock(config.datadir, "meridian devnet");
  try {
    if (opts.reset) {
      process.stderr.write(`Deleting the contents of ${config.datadir} (--reset)\n`);
      // Everything but the lock we hold, so nobody can take the directory while it is emptied.
      for (const entry of await readdir(config.datadir))
        if (entry !== node.DATADIR_LOCK_FILE)
          await rm(join(config.datadir, entry), { recursive: true, force: true });
    }
    if (config.genesis === undefined) {
      // Copy once so the data dir stays consistent with the chain it holds.
      const target = node.genesisPath(config);
      if (!existsSync(target)) {
        if (!existsSync(DEVNET_GENESIS))
          throw cliError(`devnet genesis ${DEVNET_GENESIS} is missing`, "GENESIS_MISSING");
        await copyFile(DEVNET_GENESIS, target);
      }
    }
    const { validator, staking } = await devnetValidator(node.genesisPath(config));
    config.validator.privateKey = hexToBytes(validator.privateKey);
    const logger = node.createLogger(config.log);
    await runUntilSignal(config, logger, (h) => devnetBanner(config, h, validator, staking), lock);
  } finally {
    // startNode releases it on close; this covers failures before the node owned it.
    await lock.release();
  }
}

/**
 * The devnet validator key, unless the data dir holds a chain whose genesis
 * names dev account 0 (the devnet's validator before it had its own key):
 * such a chain keeps running as it was instead of refusing to start.
 */
async function devnetValidator(genesisFile: string): Promise<{ validator: DevAccount; staking: boolean }> {
  const node = await loadNodeApi();
  const genesis = await node.loadGenesis(genesisFile);
  const staking = genesis.staking !== undefined;
  const names = (account: DevAccount | undefined) =>
    account !== undefined &&
    genesis.validators.some((v) => toChecksumAddress(v.address) === toChecksumAddress(account.address));
  const legacy = DEV_ACCOUNTS[0];
  if (!names(DEVNET_VALIDATOR) && legacy && names(legacy)) {
    process.stderr.write(
      `warning: ${genesisFile} names dev account 0 as validator, so it earns the priority fees; ` +
        "`--reset` starts a chain with the separate devnet validator\n",
    );
    return { validator: legacy, staking };
  }
  return { validator: DEVNET_VALIDATOR, staking };
}
