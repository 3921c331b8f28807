/**
 * The chain database: one classic-level (LevelDB) instance, typed reads, and
 * one atomic write batch per block. Nothing else in Meridian opens LevelDB.
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { concatBytes, MeridianError } from "@meridian/primitives";
import { ClassicLevel } from "classic-level";
import { key, metaKey, numberKey, Prefix, prefixEnd, readNumberKey } from "./keys.ts";

/** Bumped whenever the key layout or a stored encoding changes. */
export const SCHEMA_VERSION = 1;

export type StorageErrorCode =
  | "DATADIR_FOREIGN"
  | "DATADIR_CORRUPT"
  | "DATADIR_LOCKED"
  | "SCHEMA_MISMATCH"
  | "DATABASE_CLOSED";

export class StorageError extends MeridianError {
  override name = "StorageError";
  constructor(
    code: StorageErrorCode,
    shortMessage: string,
    opts: { cause?: unknown; details?: string } = {},
  ) {
    super(shortMessage, { ...opts, code });
  }
}

/** LevelDB hands back Buffers; expose plain Uint8Array views (no copy) so callers compare bytes, not classes. */
function view<T extends Uint8Array | undefined>(b: T): T {
  if (b === undefined || b.constructor === Uint8Array) return b;
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength) as T;
}

export type Head = { number: bigint; hash: Uint8Array };

type Op = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

const EMPTY = new Uint8Array(0);
const ENC = { keyEncoding: "view", valueEncoding: "view" } as const;

/** Writes collected for one block; applied with `ChainDatabase.write` all at once or not at all. */
export class WriteBatch {
  readonly ops: Op[] = [];

  put(k: Uint8Array, v: Uint8Array): void {
    this.ops.push({ type: "put", key: k, value: v });
  }
  del(k: Uint8Array): void {
    this.ops.push({ type: "del", key: k });
  }

  putCanonical(number: bigint, hash: Uint8Array): void {
    this.put(key(Prefix.canonical, numberKey(number)), hash);
    this.put(key(Prefix.blockNumber, hash), numberKey(number));
  }
  putBlock(hash: Uint8Array, rlp: Uint8Array): void {
    this.put(key(Prefix.block, hash), rlp);
  }
  putReceipts(blockHash: Uint8Array, rlp: Uint8Array): void {
    this.put(key(Prefix.receipts, blockHash), rlp);
  }
  putTxLocation(txHash: Uint8Array, location: Uint8Array): void {
    this.put(key(Prefix.txLocation, txHash), location);
  }
  putCommit(number: bigint, rlp: Uint8Array): void {
    this.put(key(Prefix.commit, numberKey(number)), rlp);
  }
  /** Indexes a block under each log address and topic it contains (deduplicated by the caller). */
  putLogIndex(number: bigint, addressesAndTopics: Iterable<Uint8Array>): void {
    const n = numberKey(number);
    this.put(key(Prefix.logBlocks, n), EMPTY);
    for (const item of addressesAndTopics) this.put(key(Prefix.logIndex, item, n), EMPTY);
  }
  putAccount(address: Uint8Array, rlp: Uint8Array): void {
    this.put(key(Prefix.account, address), rlp);
  }
  delAccount(address: Uint8Array): void {
    this.del(key(Prefix.account, address));
  }
  putStorage(address: Uint8Array, slot: Uint8Array, value: Uint8Array): void {
    this.put(key(Prefix.storage, address, slot), value);
  }
  delStorage(address: Uint8Array, slot: Uint8Array): void {
    this.del(key(Prefix.storage, address, slot));
  }
  putCode(codeHash: Uint8Array, code: Uint8Array): void {
    this.put(key(Prefix.code, codeHash), code);
  }
  putTrieNode(hash: Uint8Array, node: Uint8Array): void {
    this.put(key(Prefix.trieNode, hash), node);
  }
  setHead(head: Head): void {
    this.put(metaKey("head"), concatBytes(numberKey(head.number), head.hash));
  }
  get size(): number {
    return this.ops.length;
  }
}

export type OpenOptions = {
  /** Open read-only style: never create a missing database. */
  mustExist?: boolean;
};

export class ChainDatabase {
  private closed = false;

  readonly path: string;
  private readonly db: ClassicLevel<Uint8Array, Uint8Array>;
  /** False for a database that has never committed genesis. */
  readonly initialised: boolean;

  private constructor(path: string, db: ClassicLevel<Uint8Array, Uint8Array>, initialised: boolean) {
    this.path = path;
    this.db = db;
    this.initialised = initialised;
  }

  /**
   * Opens (or creates) the database at `path`. A directory that holds something
   * other than a Meridian database, a corrupt database, or another schema
   * version is refused with a clear error and left untouched.
   */
  static async open(path: string, opts: OpenOptions = {}): Promise<ChainDatabase> {
    if (existsSync(path)) {
      const entries = readdirSync(path);
      if (entries.length > 0 && !entries.includes("CURRENT")) {
        throw new StorageError("DATADIR_FOREIGN", `${path} is not a Meridian database`, {
          details: `it holds ${entries.slice(0, 5).join(", ")}${entries.length > 5 ? ", ..." : ""}; choose an empty or new directory`,
        });
      }
    } else if (opts.mustExist) {
      throw new StorageError("DATADIR_FOREIGN", `${path} does not exist`);
    } else {
      await mkdir(path, { recursive: true });
    }
    const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { ...ENC, createIfMissing: !opts.mustExist });
    try {
      await db.open();
    } catch (err) {
      const code =
        (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
      if (code === "LEVEL_LOCKED") {
        throw new StorageError("DATADIR_LOCKED", `${path} is in use by another process`, { cause: err });
      }
      throw new StorageError("DATADIR_CORRUPT", `cannot open the database at ${path}`, {
        cause: err,
        details: String((err as Error).cause ?? (err as Error).message),
      });
    }
    const schema = await db.get(metaKey("schema"));
    if (schema === undefined) {
      // A database without our schema marker is only acceptable when it is empty.
      for await (const _ of db.keys({ limit: 1 })) {
        await db.close();
        throw new StorageError("DATADIR_FOREIGN", `${path} holds a LevelDB that is not a Meridian database`);
      }
      return new ChainDatabase(path, db, false);
    }
    const version = schema.length === 4 ? new DataView(schema.buffer, schema.byteOffset).getUint32(0) : -1;
    if (version !== SCHEMA_VERSION) {
      await db.close();
      throw new StorageError(
        "SCHEMA_MISMATCH",
        `${path} has database schema version ${version}; this build of Meridian reads version ${SCHEMA_VERSION}`,
        { details: "resync into a new data directory, or run a Meridian release that matches this schema" },
      );
    }
    return new ChainDatabase(path, db, true);
  }

  /** Marks a batch as the one that initialises the database (schema version + genesis hash). */
  static initialise(batch: WriteBatch, genesisHash: Uint8Array): void {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, SCHEMA_VERSION);
    batch.put(metaKey("schema"), v);
    batch.put(metaKey("genesis"), genesisHash);
  }

  /** Writes a named metadata entry (chain config and the like) in `batch`. */
  static putMeta(batch: WriteBatch, name: string, value: Uint8Array): void {
    batch.put(metaKey(name), value);
  }

  meta(name: string): Promise<Uint8Array | undefined> {
    return this.get(metaKey(name));
  }

  batch(): WriteBatch {
    return new WriteBatch();
  }

  /** Applies every op of the batch atomically and durably (fsync'd write-ahead log). */
  async write(batch: WriteBatch): Promise<void> {
    this.assertOpen();
    await this.db.batch(batch.ops, { sync: true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError("DATABASE_CLOSED", "the database is closed");
  }

  async get(k: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    return view(await this.db.get(k));
  }

  async getMany(keys: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    this.assertOpen();
    return (await this.db.getMany(keys)).map(view);
  }

  // --- meta -----------------------------------------------------------------

  async genesisHash(): Promise<Uint8Array | undefined> {
    return this.get(metaKey("genesis"));
  }

  async head(): Promise<Head | undefined> {
    const v = await this.get(metaKey("head"));
    if (!v) return undefined;
    return { number: readNumberKey(v), hash: v.slice(8) };
  }

  // --- blocks ---------------------------------------------------------------

  canonicalHash(number: bigint): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.canonical, numberKey(number)));
  }
  async blockNumber(hash: Uint8Array): Promise<bigint | undefined> {
    const v = await this.get(key(Prefix.blockNumber, hash));
    return v ? readNumberKey(v) : undefined;
  }
  blockRlp(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.block, hash));
  }
  receiptsRlp(blockHash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.receipts, blockHash));
  }
  txLocation(txHash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.txLocation, txHash));
  }
  commitRlp(number: bigint): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.commit, numberKey(number)));
  }

  // --- state ----------------------------------------------------------------

  account(address: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.account, address));
  }
  storage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.storage, address, slot));
  }
  code(codeHash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.code, codeHash));
  }
  trieNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(key(Prefix.trieNode, hash));
  }

  /** Every stored slot of `address` (slot → value), in key order. */
  async *storageEntries(address: Uint8Array): AsyncGenerator<[Uint8Array, Uint8Array]> {
    this.assertOpen();
    const gte = key(Prefix.storage, address);
    for await (const [k, v] of this.db.iterator({ gte, lt: prefixEnd(gte) })) {
      yield [view(k).subarray(21), view(v)];
    }
  }

  // --- logs -----------------------------------------------------------------

  /**
   * Block numbers in [from, to] that may hold a log matching `item` (an address
   * or a topic), or that hold any log when `item` is undefined. Exact: the
   * index is built from the logs themselves, not a probabilistic bloom.
   */
  async logBlocks(item: Uint8Array | undefined, from: bigint, to: bigint, limit: number): Promise<bigint[]> {
    this.assertOpen();
    const base = item ? key(Prefix.logIndex, item) : Uint8Array.of(Prefix.logBlocks);
    const out: bigint[] = [];
    const it = this.db.keys({
      gte: concatBytes(base, numberKey(from)),
      lte: concatBytes(base, numberKey(to)),
      limit,
    });
    for await (const k of it) out.push(readNumberKey(k, base.length));
    return out;
  }
}
