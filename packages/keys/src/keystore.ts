/**
 * Web3 Secret Storage v3 keystores, the format geth, ethers and foundry read
 * and write: scrypt (or pbkdf2 on import) → aes-128-ctr, with
 * mac = keccak256(derivedKey[16:32] ++ ciphertext).
 */
import {
  createCipheriv,
  createDecipheriv,
  pbkdf2,
  randomBytes,
  randomUUID,
  scrypt,
  timingSafeEqual,
} from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  bytesToBigInt,
  bytesToHex,
  keccak256,
  MeridianError,
  privateKeyToAddress,
} from "@meridian/primitives";
import { z } from "zod";

export type ScryptKdfParams = { dklen: number; n: number; r: number; p: number; salt: string };
export type Pbkdf2KdfParams = { dklen: number; c: number; prf: "hmac-sha256"; salt: string };

export type KeystoreV3 = {
  version: 3;
  id: string;
  /** Lowercase hex without 0x. */
  address: string;
  crypto: {
    cipher: "aes-128-ctr";
    cipherparams: { iv: string };
    ciphertext: string;
    mac: string;
  } & ({ kdf: "scrypt"; kdfparams: ScryptKdfParams } | { kdf: "pbkdf2"; kdfparams: Pbkdf2KdfParams });
};

export type KeystoreErrorCode =
  | "KEYSTORE_INVALID"
  | "KEYSTORE_BAD_PASSWORD"
  | "KEYSTORE_UNSUPPORTED_KDF"
  | "KEYSTORE_NOT_FOUND"
  | "KEYSTORE_EXISTS"
  | "PASSWORD_MISSING";

export class KeystoreError extends MeridianError {
  override name = "KeystoreError";
  declare readonly code: KeystoreErrorCode;
  constructor(
    shortMessage: string,
    code: KeystoreErrorCode,
    opts: { cause?: unknown; details?: string } = {},
  ) {
    super(shortMessage, { ...opts, code });
  }
}

/** geth's "standard" scrypt cost. */
export const DEFAULT_SCRYPT_N = 262_144;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const DKLEN = 32;
/** Refuse kdf parameters that would take more than ~1 GiB or minutes: the file may be hostile. */
const MAX_SCRYPT_MEMORY = 1 << 30;
const MAX_PBKDF2_ROUNDS = 10_000_000;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export type EncryptKeystoreOptions = {
  /** scrypt cost, a power of two (default 262144 like geth; tests use small values). */
  scryptN?: number;
};

function assertPrivateKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new KeystoreError("private key must be 32 bytes", "KEYSTORE_INVALID");
  const k = bytesToBigInt(key);
  if (k === 0n || k >= SECP256K1_N)
    throw new KeystoreError("private key is not a valid secp256k1 scalar", "KEYSTORE_INVALID");
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0;
}

function scryptAsync(password: Uint8Array, salt: Uint8Array, p: Omit<ScryptKdfParams, "salt">) {
  return new Promise<Uint8Array>((resolve, reject) => {
    const maxmem = 128 * p.n * p.r * 2 + (16 << 20);
    scrypt(password, salt, p.dklen, { N: p.n, r: p.r, p: p.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
}

function pbkdf2Async(password: Uint8Array, salt: Uint8Array, p: { c: number; dklen: number }) {
  return new Promise<Uint8Array>((resolve, reject) => {
    pbkdf2(password, salt, p.c, p.dklen, "sha256", (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
}

function aes128ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array, encrypt: boolean): Uint8Array {
  const c = encrypt ? createCipheriv("aes-128-ctr", key, iv) : createDecipheriv("aes-128-ctr", key, iv);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

function mac(derivedKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const buf = new Uint8Array(16 + ciphertext.length);
  buf.set(derivedKey.subarray(16, 32));
  buf.set(ciphertext, 16);
  return keccak256(buf);
}

const hex = (b: Uint8Array) => bytesToHex(b).slice(2);
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

export async function encryptKeystore(
  privateKey: Uint8Array,
  password: string,
  opts: EncryptKeystoreOptions = {},
): Promise<KeystoreV3> {
  assertPrivateKey(privateKey);
  const n = opts.scryptN ?? DEFAULT_SCRYPT_N;
  if (!isPowerOfTwo(n) || 128 * n * SCRYPT_R > MAX_SCRYPT_MEMORY)
    throw new KeystoreError(`scrypt N must be a power of two up to 2^20, got ${n}`, "KEYSTORE_INVALID");
  const salt = new Uint8Array(randomBytes(32));
  const iv = new Uint8Array(randomBytes(16));
  const kdfparams = { dklen: DKLEN, n, r: SCRYPT_R, p: SCRYPT_P, salt: hex(salt) };
  const derived = await scryptAsync(utf8(password), salt, kdfparams);
  const ciphertext = aes128ctr(derived.subarray(0, 16), iv, privateKey, true);
  const ks: KeystoreV3 = {
    version: 3,
    id: randomUUID(),
    address: hex(privateKeyToAddress(privateKey)),
    crypto: {
      cipher: "aes-128-ctr",
      cipherparams: { iv: hex(iv) },
      ciphertext: hex(ciphertext),
      kdf: "scrypt",
      kdfparams,
      mac: hex(mac(derived, ciphertext)),
    },
  };
  derived.fill(0);
  return ks;
}

// Lenient on input (optional 0x, `Crypto` as ethers writes it), strict on what matters.
const hexField = (bytes?: number) =>
  z
    .string()
    .regex(/^(0x)?([0-9a-fA-F]{2})+$/, { error: "expected hex" })
    .transform((s) => new Uint8Array(Buffer.from(s.replace(/^0x/, ""), "hex")))
    .refine((b) => bytes === undefined || b.length === bytes, {
      error: `expected ${bytes} bytes`,
    });
const posInt = (max: number) => z.number().int().min(1).max(max);

const scryptParams = z.object({
  dklen: z.number().int().min(32).max(64),
  n: z.number().refine(isPowerOfTwo, { error: "n must be a power of two" }),
  r: posInt(64),
  p: posInt(16),
  salt: hexField(),
});
const pbkdf2Params = z.object({
  dklen: z.number().int().min(32).max(64),
  c: posInt(MAX_PBKDF2_ROUNDS),
  prf: z.string(),
  salt: hexField(),
});
const cryptoSection = z.object({
  cipher: z.string(),
  cipherparams: z.object({ iv: hexField(16) }),
  ciphertext: hexField(32),
  kdf: z.string(),
  kdfparams: z.record(z.string(), z.unknown()),
  mac: hexField(32),
});
const keystoreShape = z.object({
  version: z.literal(3, { error: "expected version 3" }),
  address: z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{40}$/)
    .optional(),
  crypto: cryptoSection.optional(),
  Crypto: cryptoSection.optional(),
});

function invalid(what: string, cause?: unknown): KeystoreError {
  return new KeystoreError(`invalid keystore: ${what}`, "KEYSTORE_INVALID", { cause });
}

function issuePath(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "malformed";
}

async function deriveKey(kdf: string, params: Record<string, unknown>, password: Uint8Array) {
  if (kdf === "scrypt") {
    const r = scryptParams.safeParse(params);
    if (!r.success) throw invalid(`kdfparams.${issuePath(r.error)}`);
    if (128 * r.data.n * r.data.r * r.data.p > MAX_SCRYPT_MEMORY)
      throw invalid("scrypt parameters exceed the memory limit");
    return scryptAsync(password, r.data.salt, r.data);
  }
  if (kdf === "pbkdf2") {
    const r = pbkdf2Params.safeParse(params);
    if (!r.success) throw invalid(`kdfparams.${issuePath(r.error)}`);
    if (r.data.prf !== "hmac-sha256")
      throw new KeystoreError(`unsupported pbkdf2 prf "${r.data.prf}"`, "KEYSTORE_UNSUPPORTED_KDF");
    return pbkdf2Async(password, r.data.salt, r.data);
  }
  throw new KeystoreError(`unsupported key derivation function "${kdf}"`, "KEYSTORE_UNSUPPORTED_KDF");
}

/** Decrypts a v3 keystore (object or JSON text). Wrong password → KEYSTORE_BAD_PASSWORD. */
export async function decryptKeystore(json: unknown, password: string): Promise<Uint8Array> {
  let input = json;
  if (typeof input === "string") {
    try {
      input = JSON.parse(input);
    } catch (err) {
      throw invalid("not JSON", err);
    }
  }
  const parsed = keystoreShape.safeParse(input);
  if (!parsed.success) throw invalid(issuePath(parsed.error));
  const c = parsed.data.crypto ?? parsed.data.Crypto;
  if (!c) throw invalid("missing crypto section");
  if (c.cipher !== "aes-128-ctr") throw invalid(`unsupported cipher "${c.cipher}"`);

  // geth hashes the raw UTF-8 bytes, ethers NFKC-normalises first: accept both.
  const candidates = [password];
  if (password.normalize("NFKC") !== password) candidates.push(password.normalize("NFKC"));
  for (const pw of candidates) {
    const derived = await deriveKey(c.kdf, c.kdfparams, utf8(pw));
    const ok = timingSafeEqual(mac(derived, c.ciphertext), c.mac);
    if (!ok) {
      derived.fill(0);
      continue;
    }
    const key = aes128ctr(derived.subarray(0, 16), c.cipherparams.iv, c.ciphertext, false);
    derived.fill(0);
    assertPrivateKey(key);
    const address = parsed.data.address?.replace(/^0x/, "").toLowerCase();
    if (address !== undefined && address !== hex(privateKeyToAddress(key)))
      throw invalid("decrypted key does not match the keystore address");
    return key;
  }
  throw new KeystoreError("wrong keystore password (MAC mismatch)", "KEYSTORE_BAD_PASSWORD");
}

/** The address of a keystore without decrypting it (lowercase, 0x-prefixed), or undefined. */
export function keystoreAddress(json: unknown): string | undefined {
  const a = (json as { address?: unknown } | null)?.address;
  return typeof a === "string" && /^(0x)?[0-9a-fA-F]{40}$/.test(a)
    ? `0x${a.replace(/^0x/, "").toLowerCase()}`
    : undefined;
}

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** First line of a password file, line ending stripped. Missing or empty → PASSWORD_MISSING. */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new KeystoreError(`cannot read password file ${path} (${errno(err) ?? err})`, "PASSWORD_MISSING", {
      cause: err,
    });
  }
  const first = text.split("\n")[0]?.replace(/\r$/, "") ?? "";
  if (first === "") throw new KeystoreError(`password file ${path} is empty`, "PASSWORD_MISSING");
  return first;
}

/**
 * Writes a file so that readers see either the old or the complete new
 * content, never a torn one: tmp file (mode 0600) → fsync → rename → fsync dir.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // umask may have narrowed or the fs ignored the open mode
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } catch {
    // Some filesystems (and Windows) refuse fsync on directories; the rename is still done.
  } finally {
    await dh.close();
  }
}

/** geth's file name: UTC--<ISO time with - for :>--<address>. */
export function keystoreFileName(ks: Pick<KeystoreV3, "address">, date = new Date()): string {
  return `UTC--${date.toISOString().replaceAll(":", "-")}--${ks.address.replace(/^0x/, "").toLowerCase()}`;
}

/** Saves `ks` into `dir` (created 0700) under its geth-style name; returns the path. */
export async function saveKeystore(dir: string, ks: KeystoreV3): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, keystoreFileName(ks));
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) throw new KeystoreError(`keystore file ${path} already exists`, "KEYSTORE_EXISTS");
  await writeFileAtomic(path, `${JSON.stringify(ks, null, 2)}\n`, 0o600);
  return path;
}

export type KeystoreEntry = { address: string; path: string };

/** Keystores in `dir` (address from the file, 0x-prefixed), sorted by file name. Missing dir → []. */
export async function listKeystores(dir: string): Promise<KeystoreEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errno(err) === "ENOENT") return [];
    throw err;
  }
  const out: KeystoreEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith(".")) continue;
    const path = join(dir, name);
    try {
      if (!(await stat(path)).isFile()) continue;
      const address = keystoreAddress(JSON.parse(await readFile(path, "utf8")));
      if (address) out.push({ address, path });
    } catch {
      // Not a keystore (editor backups, READMEs): skip, as geth does.
    }
  }
  return out;
}

/** Reads and decrypts a keystore file. */
export async function loadKeystoreFile(path: string, password: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new KeystoreError(`cannot read keystore ${path} (${errno(err) ?? err})`, "KEYSTORE_NOT_FOUND", {
      cause: err,
    });
  }
  return decryptKeystore(text, password);
}
