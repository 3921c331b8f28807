import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChainDatabase, StorageError } from "../src/index.ts";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "meridian-storage-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const hash = (b: number) => new Uint8Array(32).fill(b);

describe("ChainDatabase", () => {
  it("commits a batch atomically and reads it back after reopening", async () => {
    const path = join(await tempDir(), "db");
    const db = await ChainDatabase.open(path);
    expect(db.initialised).toBe(false);
    const batch = db.batch();
    ChainDatabase.initialise(batch, hash(1));
    batch.putCanonical(0n, hash(1));
    batch.putBlock(hash(1), Uint8Array.of(0xc0));
    batch.setHead({ number: 0n, hash: hash(1) });
    batch.putLogIndex(0n, [new Uint8Array(20).fill(7)]);
    await db.write(batch);
    await db.close();

    const again = await ChainDatabase.open(path);
    expect(again.initialised).toBe(true);
    expect(await again.head()).toEqual({ number: 0n, hash: hash(1) });
    expect(await again.canonicalHash(0n)).toEqual(hash(1));
    expect(await again.blockNumber(hash(1))).toBe(0n);
    expect(await again.genesisHash()).toEqual(hash(1));
    expect(await again.logBlocks(new Uint8Array(20).fill(7), 0n, 10n, 100)).toEqual([0n]);
    expect(await again.logBlocks(new Uint8Array(20).fill(8), 0n, 10n, 100)).toEqual([]);
    expect(await again.logBlocks(undefined, 0n, 10n, 100)).toEqual([0n]);
    await again.close();
  });

  it("iterates the storage of one account only", async () => {
    const db = await ChainDatabase.open(join(await tempDir(), "db"));
    const a = new Uint8Array(20).fill(1);
    const b = new Uint8Array(20).fill(2);
    const batch = db.batch();
    batch.putStorage(a, hash(1), Uint8Array.of(1));
    batch.putStorage(a, hash(2), Uint8Array.of(2));
    batch.putStorage(b, hash(1), Uint8Array.of(3));
    await db.write(batch);
    const entries = [];
    for await (const e of db.storageEntries(a)) entries.push(e);
    expect(entries).toEqual([
      [hash(1), Uint8Array.of(1)],
      [hash(2), Uint8Array.of(2)],
    ]);
    await db.close();
  });

  it("refuses a foreign directory without writing to it", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "notes.txt"), "hello");
    await expect(ChainDatabase.open(dir)).rejects.toMatchObject({ code: "DATADIR_FOREIGN" });
  });

  it("refuses a LevelDB written by something else", async () => {
    const path = join(await tempDir(), "db");
    const db = await ChainDatabase.open(path);
    const batch = db.batch();
    batch.put(Uint8Array.of(1, 2, 3), Uint8Array.of(4));
    await db.write(batch);
    await db.close();
    const err = await ChainDatabase.open(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe("DATADIR_FOREIGN");
  });

  it("refuses a schema version mismatch", async () => {
    const path = join(await tempDir(), "db");
    const db = await ChainDatabase.open(path);
    const batch = db.batch();
    ChainDatabase.initialise(batch, hash(1));
    // Overwrite the schema marker with a future version.
    batch.put(Uint8Array.of(0x6d, ...new TextEncoder().encode("schema")), Uint8Array.of(0, 0, 0, 99));
    await db.write(batch);
    await db.close();
    await expect(ChainDatabase.open(path)).rejects.toMatchObject({ code: "SCHEMA_MISMATCH" });
  });

  it("refuses a corrupt database", async () => {
    const path = join(await tempDir(), "db");
    const db = await ChainDatabase.open(path);
    await db.close();
    await writeFile(join(path, "CURRENT"), "garbage-manifest\n");
    await expect(ChainDatabase.open(path)).rejects.toMatchObject({ code: "DATADIR_CORRUPT" });
  });

  it("refuses a second opener of the same directory", async () => {
    const path = join(await tempDir(), "db");
    const db = await ChainDatabase.open(path);
    await expect(ChainDatabase.open(path)).rejects.toMatchObject({ code: "DATADIR_LOCKED" });
    await db.close();
  });
});
