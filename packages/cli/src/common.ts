/** Output, errors and small helpers shared by the commands. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bytesToHex, hexToBytes, keccak256, MeridianError, utf8ToBytes } from "@meridian/primitives";

/** The monorepo root, found relative to this file (packages/cli/src). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The devnet genesis shipped with the repository. */
export const DEVNET_GENESIS = fileURLToPath(new URL("../../../genesis/devnet.json", import.meta.url));

export function cliError(message: string, code: string, cause?: unknown): MeridianError {
  return new MeridianError(message, { code, cause });
}

/** One line per error (plus config issue lines); stack and causes only when debugging. */
export function formatError(err: unknown, debug: boolean): string {
  const lines: string[] = [];
  if (err instanceof MeridianError) {
    lines.push(`error: ${err.shortMessage} [${err.code}]`);
    if (err.metaMessages.length > 0) lines.push(...err.metaMessages.map((m) => `  ${m}`));
  } else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    lines.push(`error: ${err.message}${typeof code === "string" ? ` [${code}]` : ""}`);
  } else {
    lines.push(`error: ${String(err)}`);
  }
  if (debug) {
    let e: unknown = err;
    while (e instanceof Error) {
      if (e.stack) lines.push(e.stack);
      e = e.cause;
    }
  }
  return lines.join("\n");
}

/** `--log.level debug|trace` anywhere on the command line turns on stacks in error output. */
export function wantsDebug(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = a === "--log.level" ? argv[i + 1] : a?.startsWith("--log.level=") ? a.slice(12) : undefined;
    if (value === "debug" || value === "trace") return true;
  }
  return false;
}

/** EIP-55 mixed-case address. */
export function toChecksumAddress(address: string | Uint8Array): string {
  const lower = (typeof address === "string" ? address : bytesToHex(address))
    .replace(/^0x/, "")
    .toLowerCase();
  const hash = bytesToHex(keccak256(utf8ToBytes(lower))).slice(2);
  let out = "0x";
  for (let i = 0; i < lower.length; i++)
    out += Number.parseInt(hash[i] ?? "0", 16) >= 8 ? lower[i]?.toUpperCase() : lower[i];
  return out;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** A 32-byte private key from hex text (0x optional, surrounding whitespace ignored). */
export function parsePrivateKeyHex(text: string, source: string): Uint8Array {
  const hex = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw cliError(`${source} does not hold a 32-byte hex private key`, "KEY_INVALID");
  const k = BigInt(`0x${hex}`);
  if (k === 0n || k >= SECP256K1_N)
    throw cliError(`${source}: not a valid secp256k1 private key`, "KEY_INVALID");
  return hexToBytes(`0x${hex}`);
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "0.0.0";
}

/** Integers from flags stay strings when malformed, so config validation names flag and value. */
export function intArg(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}
