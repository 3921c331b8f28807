import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToHex, hexToBytes, MeridianError } from "@meridian/primitives";
import { decryptKeystoreJson, encryptKeystoreJson, Wallet } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import {
  decryptKeystore,
  encryptKeystore,
  type KeystoreV3,
  keystoreAddress,
  keystoreFileName,
  listKeystores,
  loadKeystoreFile,
  readPasswordFile,
  saveKeystore,
  writeFileAtomic,
} from "../src/keystore.ts";

const KEY = hexToBytes("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const ADDRESS = "f39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const N = 4096; // small scrypt cost for tests only

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "meridian-keystore-"));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<MeridianError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MeridianError);
    expect((err as MeridianError).code).toBe(code);
    return err as MeridianError;
  }
  throw new Error(`expected rejection with ${code}`);
}

describe("encryptKeystore / decryptKeystore", () => {
  it("round-trips and writes the v3 shape", async () => {
    const ks = await encryptKeystore(KEY, "correct horse", { scryptN: N });
    expect(ks.version).toBe(3);
    expect(ks.address).toBe(ADDRESS);
    expect(ks.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ks.crypto.cipher).toBe("aes-128-ctr");
    expect(ks.crypto.kdf).toBe("scrypt");
    expect(ks.crypto.kdfparams).toMatchObject({ n: N, r: 8, p: 1, dklen: 32 });
    expect(ks.crypto.ciphertext).toMatch(/^[0-9a-f]{64}$/);
    expect(ks.crypto.mac).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(ks)).not.toContain(bytesToHex(KEY).slice(2));
    expect(await decryptKeystore(ks, "correct horse")).toEqual(KEY);
    expect(await decryptKeystore(JSON.stringify(ks), "correct horse")).toEqual(KEY);
  });

  it("uses fresh salt, iv and id each time", async () => {
    const [a, b] = await Promise.all([
      encryptKeystore(KEY, "pw", { scryptN: N }),
      encryptKeystore(KEY, "pw", { scryptN: N }),
    ]);
    expect(a.id).not.toBe(b.id);
    expect(a.crypto.cipherparams.iv).not.toBe(b.crypto.cipherparams.iv);
    expect(a.crypto.ciphertext).not.toBe(b.crypto.ciphertext);
  });

  it("defaults to geth's scrypt cost", async () => {
    const ks = await encryptKeystore(KEY, "pw");
    expect(ks.crypto.kdfparams).toMatchObject({ n: 262144, r: 8, p: 1 });
  });

  it("rejects invalid keys and scrypt costs", async () => {
    await rejectsWithCode(encryptKeystore(new Uint8Array(31), "pw", { scryptN: N }), "KEYSTORE_INVALID");
    await rejectsWithCode(encryptKeystore(new Uint8Array(32), "pw", { scryptN: N }), "KEYSTORE_INVALID");
    await rejectsWithCode(encryptKeystore(KEY, "pw", { scryptN: 1000 }), "KEYSTORE_INVALID");
  });

  it("wrong password → KEYSTORE_BAD_PASSWORD", async () => {
    const ks = await encryptKeystore(KEY, "pw", { scryptN: N });
    const err = await rejectsWithCode(decryptKeystore(ks, "hunter2-typo"), "KEYSTORE_BAD_PASSWORD");
    expect(err.message).not.toContain("hunter2");
  });

  it("tampered ciphertext fails the MAC", async () => {
    const ks = await encryptKeystore(KEY, "pw", { scryptN: N });
    const c = ks.crypto.ciphertext;
    const tampered = {
      ...ks,
      crypto: { ...ks.crypto, ciphertext: `${c[0] === "0" ? "1" : "0"}${c.slice(1)}` },
    };
    await rejectsWithCode(decryptKeystore(tampered, "pw"), "KEYSTORE_BAD_PASSWORD");
  });

  it("validates the shape", async () => {
    const ks = await encryptKeystore(KEY, "pw", { scryptN: N });
    const bad: unknown[] = [
      "not json",
      null,
      42,
      { ...ks, version: 2 },
      { ...ks, crypto: undefined },
      { ...ks, crypto: { ...ks.crypto, cipher: "aes-256-gcm" } },
      { ...ks, crypto: { ...ks.crypto, mac: "zz" } },
      { ...ks, crypto: { ...ks.crypto, ciphertext: "00" } },
      { ...ks, crypto: { ...ks.crypto, cipherparams: {} } },
      { ...ks, crypto: { ...ks.crypto, kdfparams: { ...ks.crypto.kdfparams, n: 1000 } } },
      // Would need 64 GiB: refused before deriving.
      { ...ks, crypto: { ...ks.crypto, kdfparams: { ...ks.crypto.kdfparams, n: 2 ** 26, r: 8 } } },
      { ...ks, address: "0000000000000000000000000000000000000000" },
    ];
    for (const input of bad) await rejectsWithCode(decryptKeystore(input, "pw"), "KEYSTORE_INVALID");
  });

  it("unknown kdf → KEYSTORE_UNSUPPORTED_KDF", async () => {
    const ks = await encryptKeystore(KEY, "pw", { scryptN: N });
    await rejectsWithCode(
      decryptKeystore({ ...ks, crypto: { ...ks.crypto, kdf: "argon2id" } }, "pw"),
      "KEYSTORE_UNSUPPORTED_KDF",
    );
    const pbkdf2Sha512 = {
      ...ks,
      crypto: { ...ks.crypto, kdf: "pbkdf2", kdfparams: { c: 2, dklen: 32, prf: "hmac-sha512", salt: "00" } },
    };
    await rejectsWithCode(decryptKeystore(pbkdf2Sha512, "pw"), "KEYSTORE_UNSUPPORTED_KDF");
  });

  it("decrypts the Web3 Secret Storage pbkdf2 test vector", async () => {
    const vector = {
      crypto: {
        cipher: "aes-128-ctr",
        cipherparams: { iv: "6087dab2f9fdbbfaddc31a909735c1e6" },
        ciphertext: "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        kdf: "pbkdf2",
        kdfparams: {
          c: 262144,
          dklen: 32,
          prf: "hmac-sha256",
          salt: "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        mac: "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
      },
      id: "3198bc9c-6672-5ab3-d995-4942343ae5b6",
      version: 3,
    };
    expect(bytesToHex(await decryptKeystore(vector, "testpassword"))).toBe(
      "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d",
    );
  });
});

describe("ethers interop", () => {
  it("decrypts a keystore written by ethers v6", async () => {
    const wallet = new Wallet(bytesToHex(KEY));
    const json = await encryptKeystoreJson(
      { address: wallet.address, privateKey: wallet.privateKey },
      "ethers pw",
      {
        scrypt: { N: 1024 },
      },
    );
    expect(JSON.parse(json)).toHaveProperty("Crypto"); // ethers' capitalisation
    expect(await decryptKeystore(json, "ethers pw")).toEqual(KEY);
    await rejectsWithCode(decryptKeystore(json, "nope"), "KEYSTORE_BAD_PASSWORD");
  });

  it("ethers decrypts ours", async () => {
    const ks = await encryptKeystore(KEY, "ours", { scryptN: N });
    const account = await decryptKeystoreJson(JSON.stringify(ks), "ours");
    expect(account.privateKey).toBe(bytesToHex(KEY));
    expect(account.address.toLowerCase()).toBe(`0x${ADDRESS}`);
  });

  it("accepts a non-ASCII password either way", async () => {
    // "ﬁ" (U+FB01) NFKC-normalises to "fi": ethers hashes the normalised form.
    const password = "ﬁsh-ünïcode";
    const wallet = new Wallet(bytesToHex(KEY));
    const json = await encryptKeystoreJson(
      { address: wallet.address, privateKey: wallet.privateKey },
      password,
      {
        scrypt: { N: 1024 },
      },
    );
    expect(await decryptKeystore(json, password)).toEqual(KEY);
    const ours = await encryptKeystore(KEY, password, { scryptN: N });
    expect(await decryptKeystore(ours, password)).toEqual(KEY);
  });
});

describe("readPasswordFile", () => {
  it("returns the first line without its line ending", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "a"), "secret\n");
    writeFileSync(join(dir, "b"), "win secret\r\nsecond line\r\n");
    writeFileSync(join(dir, "c"), " spaces kept ");
    expect(await readPasswordFile(join(dir, "a"))).toBe("secret");
    expect(await readPasswordFile(join(dir, "b"))).toBe("win secret");
    expect(await readPasswordFile(join(dir, "c"))).toBe(" spaces kept ");
  });

  it("missing or empty file → PASSWORD_MISSING", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "empty"), "");
    writeFileSync(join(dir, "newline"), "\nsecond");
    await rejectsWithCode(readPasswordFile(join(dir, "nope")), "PASSWORD_MISSING");
    await rejectsWithCode(readPasswordFile(join(dir, "empty")), "PASSWORD_MISSING");
    await rejectsWithCode(readPasswordFile(join(dir, "newline")), "PASSWORD_MISSING");
  });
});

describe("keystore files", () => {
  it("saves 0600 files under geth names and lists them", async () => {
    const dir = join(tmp(), "keystore");
    const ks = await encryptKeystore(KEY, "pw", { scryptN: N });
    const path = await saveKeystore(dir, ks);
    expect(path.startsWith(dir)).toBe(true);
    expect(path).toMatch(
      /UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266$/,
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    writeFileSync(join(dir, "README"), "not a keystore");
    expect(await listKeystores(dir)).toEqual([{ address: `0x${ADDRESS}`, path }]);
    expect(await loadKeystoreFile(path, "pw")).toEqual(KEY);
    // No temporary files left behind.
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("missing dir lists empty; missing file → KEYSTORE_NOT_FOUND", async () => {
    expect(await listKeystores(join(tmp(), "none"))).toEqual([]);
    await rejectsWithCode(loadKeystoreFile(join(tmp(), "none.json"), "pw"), "KEYSTORE_NOT_FOUND");
  });

  it("writeFileAtomic replaces content with the given mode", async () => {
    const dir = tmp();
    const file = join(dir, "f");
    await writeFileAtomic(file, "one");
    await writeFileAtomic(file, "two", 0o644);
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(file, "utf8")).toBe("two");
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(["f"]);
  });

  it("helpers read addresses without decrypting", () => {
    const ks = { address: ADDRESS } as KeystoreV3;
    expect(keystoreAddress(ks)).toBe(`0x${ADDRESS}`);
    expect(keystoreAddress({ address: `0x${ADDRESS.toUpperCase()}` })).toBe(`0x${ADDRESS}`);
    expect(keystoreAddress({})).toBeUndefined();
    expect(keystoreFileName(ks, new Date("2024-01-02T03:04:05.678Z"))).toBe(
      `UTC--2024-01-02T03-04-05.678Z--${ADDRESS}`,
    );
  });
});
