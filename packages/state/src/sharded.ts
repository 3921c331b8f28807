/**
 * Sharded state commitment: the block's state diff is split into 16 shards by
 * the first nibble of keccak(address). Each shard (its accounts and their
 * storage tries) is applied to its own copy of the account trie, so shards are
 * independent and can run on worker threads; the new root is the base root's
 * branch node with child i taken from shard i's result. When the root is not
 * a branch before or after (tiny tries), the sequential `computeCommitment`
 * runs instead, so the result always equals it.
 */
import { RLP } from "@ethereumjs/rlp";
import { type Account, type BatchDBOp, createAccountFromRLP, type DB } from "@ethereumjs/util";
import { EMPTY_TRIE_ROOT, equalBytes, hexKey as hex, keccak256, rlpEncode } from "@meridian/primitives";
import type { ChainDatabase } from "@meridian/storage";
import { type NodeBatchReader, prefetchPaths, type TrieUpdate, trieGet, updateTrie } from "./batch-trie.ts";
import {
  accountRlp,
  type Commitment,
  commitAccount,
  computeCommitment,
  type StateDiff,
  type TrieAccess,
} from "./state-manager.ts";
import { TrieNodeDB } from "./trie-db.ts";

export type ShardAccount = {
  addr: string;
  /** keccak256 of the address: the account's key in the trie. */
  key: Uint8Array;
  /** Overlay account RLP (nonce, balance, codeHash); null = deleted; undefined = only storage changed. */
  account: Uint8Array | null | undefined;
  wiped: boolean;
  /** Slot hex → value (unpadded, empty = delete); undefined when no slot was written. */
  slots: [string, Uint8Array][] | undefined;
};

export type ShardTask = { shard: number; baseRoot: Uint8Array; accounts: ShardAccount[] };

export type ShardResult = {
  shard: number;
  /** RLP of the shard trie's root node. */
  rootNode: Uint8Array;
  accounts: [string, Uint8Array | null][];
  nodes: [string, Uint8Array][];
};

/** Trie node reader: hex key → node (undefined when absent). */
export type NodeFetch = (keys: string[]) => Promise<[string, Uint8Array | undefined][]>;

/** Trie DB over a node fetcher with a process-wide, content-addressed cache. */
class FetchDB implements DB<string, string | Uint8Array> {
  static cache = new Map<string, Uint8Array>();
  static readonly MAX = 500_000;
  readonly pending = new Map<string, Uint8Array>();
  private readonly fetch: NodeFetch;
  constructor(fetch: NodeFetch) {
    this.fetch = fetch;
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    const hit = this.pending.get(key) ?? FetchDB.cache.get(key);
    if (hit) return hit;
    const [[, v] = [key, undefined]] = await this.fetch([key]);
    if (v) FetchDB.remember(key, v);
    return v;
  }
  /** Many nodes in one fetch (what neither `pending` nor the cache has). */
  readonly getMany: NodeBatchReader = async (hashes) => {
    const keys = hashes.map((h) => hex(h));
    const out = keys.map((k) => this.pending.get(k) ?? FetchDB.cache.get(k));
    const ask = keys.filter((_, i) => out[i] === undefined);
    if (ask.length === 0) return out;
    const got = new Map(await this.fetch(ask));
    return keys.map((k, i) => {
      const v = out[i] ?? got.get(k);
      if (v && out[i] === undefined) FetchDB.remember(k, v);
      return v;
    });
  };
  static remember(key: string, v: Uint8Array): void {
    if (FetchDB.cache.size >= FetchDB.MAX) FetchDB.cache.clear();
    FetchDB.cache.set(key, v);
  }
  async put(key: string, value: string | Uint8Array): Promise<void> {
    const v = typeof value === "string" ? Buffer.from(value, "hex") : value;
    this.pending.set(key, v);
  }
  async del(_key: string): Promise<void> {}
  async batch(ops: BatchDBOp<string, string | Uint8Array>[]): Promise<void> {
    for (const op of ops) if (op.type === "put") await this.put(op.key, op.value);
  }
  shallowCopy(): DB<string, string | Uint8Array> {
    return this;
  }
  async open(): Promise<void> {}
}

/** Applies one shard's changes to a copy of the account trie (same steps as computeCommitment). */
export async function runShardTask(task: ShardTask, fetch: NodeFetch): Promise<ShardResult> {
  const db = new FetchDB(fetch);
  const read = (hash: Uint8Array) => db.get(hex(hash));
  const write = (hash: Uint8Array, node: Uint8Array) => void db.pending.set(hex(hash), node);
  const trie: TrieAccess = { read, write, decoded: new Map() };
  const accounts: [string, Uint8Array | null][] = [];
  const updates: TrieUpdate[] = [];
  // The nodes on every account's path, a trie level per fetch (a cold worker would otherwise
  // ask the main thread for them one at a time, account after account).
  await prefetchPaths(
    task.baseRoot,
    task.accounts.map((a) => a.key),
    db.getMany,
    trie.decoded,
  );
  await Promise.all(task.accounts.map((a) => prefetchStorage(task.baseRoot, a, db, trie)));
  for (const a of task.accounts) {
    const overlay = a.account === undefined ? undefined : a.account && createAccountFromRLP(a.account);
    const rlp = await commitAccount(task.baseRoot, a.key, overlay, a.wiped, a.slots, trie);
    updates.push({ key: a.key, value: rlp });
    accounts.push([a.addr, rlp]);
  }
  const rootHex = hex(await updateTrie(task.baseRoot, updates, read, write, trie.decoded));
  const rootNode = (await db.get(rootHex)) as Uint8Array;
  const nodes: [string, Uint8Array][] = [];
  for (const [k, v] of db.pending) {
    FetchDB.remember(k, v);
    if (k !== rootHex) nodes.push([k, v]);
  }
  return { shard: task.shard, rootNode, accounts, nodes };
}

/**
 * Prefetches (prefetchPaths) the storage trie of an account whose slots change, when its root
 * node is not cached yet: a warm worker skips it, as hashing the slot keys twice would cost
 * more than it saves.
 */
async function prefetchStorage(
  baseRoot: Uint8Array,
  a: ShardAccount,
  db: FetchDB,
  trie: TrieAccess,
): Promise<void> {
  if (!a.slots || a.wiped) return;
  const committed = await trieGet(baseRoot, a.key, trie.read, trie.decoded);
  if (!committed) return;
  const root = createAccountFromRLP(committed).storageRoot;
  const rootKey = hex(root);
  if (
    equalBytes(root, EMPTY_TRIE_ROOT) ||
    trie.decoded.has(rootKey) ||
    db.pending.has(rootKey) ||
    FetchDB.cache.has(rootKey)
  )
    return;
  const keys = a.slots.map(([slot]) => keccak256(Buffer.from(slot, "hex")));
  await prefetchPaths(root, keys, db.getMany, trie.decoded);
}

/** keccak256 of each address, kept across the calls of one block. */
export type AddressHashes = Map<string, Uint8Array>;

/** Splits a diff into per-shard tasks (addresses sorted, as computeCommitment orders them). */
export function shardTasks(
  baseRoot: Uint8Array,
  diff: StateDiff,
  hashes: AddressHashes = new Map(),
  encoded?: WeakMap<Account, Uint8Array>,
): ShardTask[] {
  const touched = new Set<string>([...diff.accounts.keys(), ...diff.storage.keys(), ...diff.wiped]);
  const tasks: ShardTask[] = [];
  for (const addr of [...touched].sort()) {
    let key = hashes.get(addr);
    if (!key) {
      key = keccak256(Buffer.from(addr, "hex"));
      hashes.set(addr, key);
    }
    const shard = (key[0] as number) >> 4;
    let t = tasks[shard];
    if (!t) {
      t = { shard, baseRoot, accounts: [] };
      tasks[shard] = t;
    }
    const overlay = diff.accounts.get(addr);
    const slots = diff.storage.get(addr);
    t.accounts.push({
      addr,
      key,
      account: overlay === undefined ? undefined : overlay === null ? null : encode(overlay, encoded),
      wiped: diff.wiped.has(addr),
      slots: slots ? [...slots.keys()].sort().map((s) => [s, slots.get(s) as Uint8Array]) : undefined,
    });
  }
  return tasks.filter((t) => t !== undefined);
}

/** Account RLP; overlay accounts are replaced, never mutated, on change, so one encoding per object holds. */
function encode(account: Account, cache: WeakMap<Account, Uint8Array> | undefined): Uint8Array {
  let rlp = cache?.get(account);
  if (!rlp) {
    rlp = accountRlp(account);
    cache?.set(account, rlp);
  }
  return rlp;
}

function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (a === b) return true;
  return !!a && !!b && equalBytes(a, b);
}

/** True when two tasks have the same input (so the same result). */
function sameTask(a: ShardTask, b: ShardTask): boolean {
  if (a.accounts.length !== b.accounts.length || !sameBytes(a.baseRoot, b.baseRoot)) return false;
  for (let i = 0; i < a.accounts.length; i++) {
    const x = a.accounts[i] as ShardAccount;
    const y = b.accounts[i] as ShardAccount;
    if (x.addr !== y.addr || x.wiped !== y.wiped || !sameBytes(x.account, y.account)) return false;
    if (!x.slots || !y.slots) {
      if (x.slots !== y.slots) return false;
      continue;
    }
    if (x.slots.length !== y.slots.length) return false;
    for (let j = 0; j < x.slots.length; j++) {
      const [ks, vs] = x.slots[j] as [string, Uint8Array];
      const [kt, vt] = y.slots[j] as [string, Uint8Array];
      if (ks !== kt || !sameBytes(vs, vt)) return false;
    }
  }
  return true;
}

/**
 * Shard tasks started before the block's state is final (the parallel validator
 * knows every write from the access list before the end-of-block system calls
 * run). At commitment time a shard whose input has not changed since reuses its
 * early result; the others run again.
 */
export type EarlyShards = {
  hashes: AddressHashes;
  encoded: WeakMap<Account, Uint8Array>;
  started: Map<number, { task: ShardTask; result: Promise<ShardResult> }>;
};

/** Starts every shard task of `diff` as it is now (the diff may still change afterwards). */
export function startShardTasks(baseRoot: Uint8Array, diff: StateDiff, run: ShardRunner): EarlyShards {
  const hashes: AddressHashes = new Map();
  const encoded = new WeakMap<Account, Uint8Array>();
  const started = new Map<number, { task: ShardTask; result: Promise<ShardResult> }>();
  for (const task of shardTasks(baseRoot, diff, hashes, encoded)) {
    const result = run(task);
    // Awaited only if reused; a failure then surfaces there.
    result.catch(() => {});
    started.set(task.shard, { task, result });
  }
  return { hashes, encoded, started };
}

export type ShardRunner = (task: ShardTask) => Promise<ShardResult>;

/** A node fetcher over the chain database (plus not yet flushed nodes). */
export function dbNodeFetch(nodes: TrieNodeDB): NodeFetch {
  return async (keys) =>
    Promise.all(keys.map(async (k): Promise<[string, Uint8Array | undefined]> => [k, await nodes.get(k)]));
}

function isBranch(node: unknown): node is Uint8Array[] {
  return Array.isArray(node) && node.length === 17;
}

/**
 * Same result as `computeCommitment(db, baseRoot, diff)`, computed shard by
 * shard with `run` (in-process by default; the parallel executor runs shards
 * on its worker threads).
 */
export async function computeShardedCommitment(
  db: ChainDatabase,
  baseRoot: Uint8Array,
  diff: StateDiff,
  run?: ShardRunner,
  early?: EarlyShards,
): Promise<Commitment> {
  const nodes = new TrieNodeDB(db);
  const baseNode = await nodes.get(Buffer.from(baseRoot).toString("hex"));
  const base = baseNode ? (RLP.decode(baseNode) as unknown) : undefined;
  const tasks = shardTasks(baseRoot, diff, early?.hashes, early?.encoded);
  if (!isBranch(base) || tasks.length === 0) return computeCommitment(db, baseRoot, diff);
  const runner = run ?? ((t: ShardTask) => runShardTask(t, dbNodeFetch(nodes)));
  const results = await Promise.all(
    tasks.map((t) => {
      const e = early?.started.get(t.shard);
      return e && sameTask(e.task, t) ? e.result : runner(t);
    }),
  );
  const children = [...base] as unknown[];
  for (const r of results) {
    const node = RLP.decode(r.rootNode) as unknown;
    if (!isBranch(node)) return computeCommitment(db, baseRoot, diff);
    children[r.shard] = node[r.shard];
  }
  const nonEmpty = children.slice(0, 16).filter((c) => !(c instanceof Uint8Array && c.length === 0)).length;
  if (nonEmpty < 2) return computeCommitment(db, baseRoot, diff);
  const rootNode = rlpEncode(children as Uint8Array[]);
  const stateRoot = keccak256(rootNode);
  await nodes.put(Buffer.from(stateRoot).toString("hex"), rootNode);
  const accounts = new Map<string, Uint8Array | null>();
  for (const r of results) {
    for (const [k, v] of r.nodes) await nodes.put(k, v);
    for (const [a, rlp] of r.accounts) accounts.set(a, rlp);
  }
  for (const [hash, code] of diff.code) await nodes.put(`63${hash}`, code);
  return { stateRoot, accounts, nodes };
}
