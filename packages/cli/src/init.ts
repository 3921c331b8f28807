/** `meridian init`: a data dir with a documented config.toml and a copy of the genesis. */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { cliError, DEVNET_GENESIS } from "./common.ts";
import { loadNodeApi } from "./node-api.ts";

export type InitOptions = { datadir?: string; genesis?: string; force?: boolean };

export async function runInit(opts: InitOptions): Promise<void> {
  const node = await loadNodeApi();
  const datadir = resolve(opts.datadir ?? node.defaultConfig("node").datadir);
  const configFile = join(datadir, "config.toml");
  const genesisFile = join(datadir, "genesis.json");
  const source = resolve(opts.genesis ?? DEVNET_GENESIS);
  // The node's own loader: the same GENESIS_MISSING / GENESIS_INVALID errors (with the bad field) `start` would give.
  await node.loadGenesis(source);
  const genesisText = await readFile(source, "utf8");

  // Refused while a node runs on the directory, --force or not.
  const lock = await node.acquireDatadirLock(datadir, "meridian init");
  try {
    const existing = [configFile, genesisFile].filter((f) => existsSync(f));
    if (existing.length > 0 && !opts.force)
      throw cliError(
        `${existing.join(" and ")} ${existing.length > 1 ? "exist" : "exists"} already; pass --force to overwrite`,
        "INIT_EXISTS",
      );
    const toml = node.renderConfigToml(node.defaultConfig("node"), {
      datadir: ".",
      header: `# Meridian node configuration, written by \`meridian init\` (${new Date().toISOString()}).`,
    });
    await node.writeFileAtomic(configFile, toml, 0o644);
    await node.writeFileAtomic(genesisFile, genesisText, 0o644);
  } finally {
    await lock.release();
  }
  process.stdout.write(
    [
      `Initialised ${datadir}`,
      `  config   ${configFile}`,
      `  genesis  ${genesisFile} (from ${source})`,
      `Start the node with: meridian start --datadir ${opts.datadir ?? datadir}`,
      "",
    ].join("\n"),
  );
}
