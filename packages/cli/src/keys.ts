/**
 * `meridian keys new|list|import|export-signing-state|import-signing-state`. Key material
 * never reaches stdout, stderr or logs: only addresses, file paths and signing heights.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { bytesToHex, privateKeyToAddress, randomPrivateKey } from "@meridian/primitives";
import { cliError, parsePrivateKeyHex, toChecksumAddress } from "./common.ts";
import { loadNodeApi } from "./node-api.ts";
import { promptNewPassword } from "./prompt.ts";

export type KeysOptions = { datadir?: string; keystoreDir?: string; password?: string };

/** Test-only: cheap scrypt so tests do not spend seconds per key. Never set it for real keys. */
export const SCRYPT_N_ENV = "MERIDIAN_KEYSTORE_SCRYPT_N";

function scryptN(): number | undefined {
  const raw = process.env[SCRYPT_N_ENV];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 2 || (n & (n - 1)) !== 0)
    throw cliError(`${SCRYPT_N_ENV} must be a power of two, got "${raw}"`, "CONFIG_INVALID");
  return n;
}

async function keystoreDir(opts: KeysOptions): Promise<string> {
  if (opts.keystoreDir) return resolve(opts.keystoreDir);
  const node = await loadNodeApi();
  return resolve(opts.datadir ?? node.defaultConfig("node").datadir, "keystore");
}

/**
 * The data directory a keystore belongs to: <datadir>/keystore by default, or an explicit
 * --keystore-dir whose parent is a data directory (it has a chain database or a lock).
 */
function keystoreDatadir(dir: string, opts: KeysOptions): string | undefined {
  const parent = dirname(dir);
  if (!opts.keystoreDir) return parent;
  const isDatadir = existsSync(join(parent, "chaindata")) || existsSync(join(parent, "meridian.lock"));
  return basename(dir) === "keystore" && isDatadir ? parent : undefined;
}

async function newPassword(opts: KeysOptions): Promise<string> {
  const node = await loadNodeApi();
  return opts.password ? node.readPasswordFile(opts.password) : promptNewPassword();
}

async function store(key: Uint8Array, opts: KeysOptions): Promise<void> {
  const node = await loadNodeApi();
  const dir = await keystoreDir(opts);
  const password = await newPassword(opts);
  // A keystore inside a data dir is the data dir's: refused while a node runs on it.
  const datadir = keystoreDatadir(dir, opts);
  const lock =
    datadir === undefined
      ? undefined
      : await node.acquireDatadirLock(datadir, "meridian keys").catch((err: unknown) => {
          key.fill(0);
          throw err;
        });
  try {
    const address = toChecksumAddress(privateKeyToAddress(key));
    const lower = bytesToHex(privateKeyToAddress(key));
    const existing = (await node.listKeystores(dir)).find((e) => e.address === lower);
    if (existing) throw cliError(`${address} is already in ${existing.path}`, "KEYSTORE_EXISTS");
    const ks = await node.encryptKeystore(key, password, { scryptN: scryptN() });
    const path = await node.saveKeystore(dir, ks);
    process.stdout.write(`Address:  ${address}\nKeystore: ${path}\n`);
  } finally {
    key.fill(0);
    await lock?.release();
  }
}

export async function runKeysNew(opts: KeysOptions): Promise<void> {
  await store(randomPrivateKey(), opts);
}

export async function runKeysImport(file: string, opts: KeysOptions): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw cliError(`cannot read key file ${file}`, "KEY_INVALID", err);
  }
  await store(parsePrivateKeyHex(text, file), opts);
}

export async function runKeysList(opts: KeysOptions & { json?: boolean }): Promise<void> {
  const node = await loadNodeApi();
  const dir = await keystoreDir(opts);
  const entries = (await node.listKeystores(dir)).map((e) => ({
    address: toChecksumAddress(e.address),
    path: e.path,
  }));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(entries)}\n`);
    return;
  }
  if (entries.length === 0) {
    process.stderr.write(`No keystores in ${join(dir)}\n`);
    return;
  }
  for (const e of entries) process.stdout.write(`${e.address}  ${e.path}\n`);
}

export type SigningStateOptions = { datadir?: string; file?: string };

const STEP_NAMES: Record<number, string> = { 1: "propose", 2: "prevote", 3: "precommit" };

function describeHrs(s: { height: bigint | string; round: number; step: number }): string {
  return `height ${s.height} round ${s.round} step ${STEP_NAMES[s.step] ?? s.step}`;
}

/** Writes the validator's last signed state (JSON) to --file, or stdout. */
export async function runExportSigningState(opts: SigningStateOptions): Promise<void> {
  const node = await loadNodeApi();
  const datadir = resolve(opts.datadir ?? node.defaultConfig("node").datadir);
  const json = await node.exportValidatorSigningState(datadir);
  if (json === null)
    throw cliError(`no signing state in ${datadir} (the validator never signed)`, "SIGNER_STATE_MISSING");
  const state = JSON.parse(json) as { height: string; round: number; step: number };
  if (opts.file) {
    await writeFile(opts.file, `${json}\n`, { mode: 0o600 });
    process.stderr.write(`Exported signing state (${describeHrs(state)}) to ${opts.file}\n`);
  } else process.stdout.write(`${json}\n`);
}

/** Installs exported signing state into --datadir; refuses state older than what it holds. */
export async function runImportSigningState(opts: SigningStateOptions): Promise<void> {
  if (!opts.file) throw cliError("--file is required", "CONFIG_INVALID");
  const node = await loadNodeApi();
  const datadir = resolve(opts.datadir ?? node.defaultConfig("node").datadir);
  let json: string;
  try {
    json = await readFile(opts.file, "utf8");
  } catch (err) {
    throw cliError(`cannot read signing state file ${opts.file}`, "SIGNER_STATE_INVALID", err);
  }
  // A running validator holds its signing state in memory and would write over the import (or
  // sign from a state the file no longer says): refused while a node runs on the data dir.
  const lock = await node.acquireDatadirLock(datadir, "meridian keys import-signing-state");
  try {
    const state = await node.importValidatorSigningState(datadir, json);
    process.stdout.write(`Imported signing state: ${describeHrs(state)}\n`);
  } finally {
    await lock.release();
  }
}
