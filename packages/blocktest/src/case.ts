/**
 * Runs one BlockchainTests case through Meridian's own storage, state and
 * executor: pre-state into a fresh FlatStateManager over a fresh
 * classic-level ChainDatabase, each block decoded, re-executed and committed
 * like the node commits, then the chain head and the persisted state compared
 * with the fixture's expectations.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Block, createBlockFromRLP } from "@ethereumjs/block";
import { Common, Mainnet } from "@ethereumjs/common";
import { Account, Address, KECCAK256_RLP, type KZG } from "@ethereumjs/util";
import { encodeReceipts, type StoredReceipt } from "@meridian/executor";
import {
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  hexToBytes,
  keccak256,
  type RlpDecoded,
  rlpDecode,
} from "@meridian/primitives";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { rejectionCategory, rejectionMatches } from "./exceptions.ts";
import type { BlockExecutor, ExecutorFactory } from "./executors.ts";
import {
  type CaseRef,
  caseId,
  type FixtureAccount,
  type FixtureCase,
  networkHardfork,
  scheduleHardfork,
} from "./fixtures.ts";

/** One difference between what the fixture expects and what Meridian produced. */
export type Diff = { path: string; expected: string; actual: string };

export type CaseResult =
  | { status: "passed"; id: string; file: string; name: string; ms: number }
  | { status: "skipped"; id: string; file: string; name: string; reason: string }
  | {
      status: "failed";
      id: string;
      file: string;
      name: string;
      ms: number;
      /** One line: the first difference, or the runner error. */
      reason: string;
      diffs: Diff[];
    };

const MAX_DIFFS = 50;
const EMPTY_ROOT = bytesToHex(KECCAK256_RLP);

const quantity = (v: string | undefined): bigint => (v === undefined || v === "0x" ? 0n : BigInt(v));
const slotKey = (k: string): string => quantity(k).toString(16).padStart(64, "0");
const hexQ = (v: bigint): string => `0x${v.toString(16)}`;
const oneLine = (s: string): string => {
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
};

function describeCode(code: Uint8Array): string {
  if (code.length <= 32) return bytesToHex(code);
  return `${code.length} bytes, keccak ${bytesToHex(keccak256(code))}`;
}

async function putAccounts(state: FlatStateManager, accounts: Record<string, FixtureAccount>): Promise<void> {
  for (const [addr, a] of Object.entries(accounts)) {
    const address = new Address(hexToBytes(addr));
    await state.putAccount(address, new Account(quantity(a.nonce), quantity(a.balance)));
    const code = hexToBytes(a.code ?? "0x");
    if (code.length > 0) await state.putCode(address, code);
    for (const [k, v] of Object.entries(a.storage ?? {})) {
      const value = quantity(v);
      if (value === 0n) continue;
      await state.putStorage(address, hexToBytes(`0x${slotKey(k)}`), bigIntToBytes(value));
    }
  }
}

type Outcome =
  | { ok: true; receipts: StoredReceipt[]; state: FlatStateManager; root: string }
  | { ok: false; reason: string };

/** Commits an executed block exactly as the node's Chain.commit does (state, block, canonical, receipts, head). */
async function commitBlock(
  db: ChainDatabase,
  store: FlatStateStore,
  block: Block,
  state: FlatStateManager,
  receipts: StoredReceipt[],
): Promise<void> {
  const batch = db.batch();
  const { cacheUpdate } = await state.writeTo(batch);
  const hash = block.hash();
  batch.putBlock(hash, block.serialize());
  batch.putCanonical(block.header.number, hash);
  batch.putReceipts(hash, encodeReceipts(receipts));
  batch.setHead({ number: block.header.number, hash });
  await db.write(batch);
  store.applyCommitted(cacheUpdate);
}

/** Compares the persisted state (read back through a fresh flat store) with the fixture's postState. */
async function comparePostState(
  db: ChainDatabase,
  root: Uint8Array,
  expected: Record<string, FixtureAccount>,
  touched: Set<string>,
  diffs: Diff[],
): Promise<void> {
  const state = new FlatStateManager(new FlatStateStore(db), root);
  const expectedAddrs = new Set<string>();
  for (const [addrHex, want] of Object.entries(expected)) {
    const addrBytes = hexToBytes(addrHex);
    const addr = bytesToHex(addrBytes);
    expectedAddrs.add(addr);
    const address = new Address(addrBytes);
    const got = await state.getAccount(address);
    if (!got) {
      diffs.push({
        path: `account ${addr}`,
        expected: `balance ${hexQ(quantity(want.balance))}, nonce ${quantity(want.nonce)}`,
        actual: "missing",
      });
      continue;
    }
    if (got.balance !== quantity(want.balance)) {
      diffs.push({
        path: `account ${addr} balance`,
        expected: `${hexQ(quantity(want.balance))} (${quantity(want.balance)})`,
        actual: `${hexQ(got.balance)} (${got.balance})`,
      });
    }
    if (got.nonce !== quantity(want.nonce)) {
      diffs.push({
        path: `account ${addr} nonce`,
        expected: `${quantity(want.nonce)}`,
        actual: `${got.nonce}`,
      });
    }
    const code = await state.getCode(address);
    const wantCode = hexToBytes(want.code ?? "0x");
    if (bytesToHex(code) !== bytesToHex(wantCode)) {
      diffs.push({
        path: `account ${addr} code`,
        expected: describeCode(wantCode),
        actual: describeCode(code),
      });
    }
    const slots = new Map<string, bigint>();
    for await (const [slot, value] of db.storageEntries(addrBytes)) {
      slots.set(Buffer.from(slot).toString("hex"), bytesToBigInt(value));
    }
    const wantSlots = new Map<string, bigint>();
    for (const [k, v] of Object.entries(want.storage ?? {})) {
      const value = quantity(v);
      if (value !== 0n) wantSlots.set(slotKey(k), value);
    }
    for (const slot of new Set([...wantSlots.keys(), ...slots.keys()])) {
      const w = wantSlots.get(slot) ?? 0n;
      const g = slots.get(slot) ?? 0n;
      if (w !== g) {
        diffs.push({
          path: `account ${addr} storage[0x${slot.replace(/^0+(?=.)/, "")}]`,
          expected: hexQ(w),
          actual: hexQ(g),
        });
      }
    }
  }
  for (const addr of touched) {
    if (expectedAddrs.has(addr)) continue;
    const got = await state.getAccount(new Address(hexToBytes(addr)));
    if (got) {
      diffs.push({
        path: `account ${addr}`,
        expected: "absent",
        actual: `present (balance ${hexQ(got.balance)}, nonce ${got.nonce})`,
      });
    }
  }
}

export type RunCaseOptions = {
  factory: ExecutorFactory;
  /** KZG for EIP-4844 (blob transactions, point evaluation precompile): @meridian/executor's `kzg`. */
  kzg: KZG;
  /** Directory under which each case gets its own temporary database. */
  tmpRoot: string;
};

export async function runCase(ref: CaseRef, fixture: FixtureCase, opts: RunCaseOptions): Promise<CaseResult> {
  const id = caseId(ref);
  const base = { id, file: ref.rel, name: ref.name };
  const schedule = networkHardfork(fixture.network);
  if ("skip" in schedule) return { ...base, status: "skipped", reason: schedule.skip };
  const started = performance.now();
  const diffs: Diff[] = [];
  let error: string | undefined;
  const dir = await mkdtemp(join(opts.tmpRoot, "case-"));
  // One Common (fixed at its fork) and one executor set per fork of the schedule, made on first use.
  const forks = new Map<string, { common: Common; executors: BlockExecutor[] }>();
  const forkAt = (time: bigint) => {
    const hardfork = scheduleHardfork(schedule, time);
    let f = forks.get(hardfork);
    if (!f) {
      const common = new Common({ chain: Mainnet, hardfork, customCrypto: { kzg: opts.kzg } });
      f = { common, executors: opts.factory(common) };
      forks.set(hardfork, f);
    }
    return f;
  };
  const chain: ChainContext = { dir, opened: 0, fixture, forkAt };
  try {
    await runBlocks(chain, diffs);
  } catch (err) {
    error = `runner error: ${oneLine((err as Error).stack ?? String(err))}`;
  } finally {
    for (const f of forks.values()) for (const e of f.executors) await e.close?.();
    await chain.db?.close();
    await rm(dir, { recursive: true, force: true });
  }
  const ms = performance.now() - started;
  if (error === undefined && diffs.length === 0) return { ...base, status: "passed", ms };
  const first = diffs[0];
  const reason =
    error ?? (first ? `${first.path}: expected ${first.expected}, got ${first.actual}` : "failed");
  return { ...base, status: "failed", ms, reason, diffs: diffs.slice(0, MAX_DIFFS) };
}

/** The case's database: one per branch of the block tree the case switches to. */
type ChainContext = {
  dir: string;
  opened: number;
  fixture: FixtureCase;
  /** The Common and executors of the fork a block with this timestamp runs at. */
  forkAt: (time: bigint) => { common: Common; executors: BlockExecutor[] };
  db?: ChainDatabase;
  store?: FlatStateStore;
};

/**
 * Opens a fresh database holding the fixture's pre-state as genesis, the way
 * the node writes its genesis batch. Returns the differences found in the
 * genesis (state root, hash); on any, the case stops there.
 */
async function openGenesis(chain: ChainContext, diffs: Diff[]): Promise<Block | undefined> {
  await chain.db?.close();
  const db = await ChainDatabase.open(join(chain.dir, `chaindata-${chain.opened++}`));
  const store = new FlatStateStore(db);
  chain.db = db;
  chain.store = store;
  const { fixture } = chain;
  const { common } = chain.forkAt(blockTimestamp(hexToBytes(fixture.genesisRLP)));
  const pre = new FlatStateManager(store, KECCAK256_RLP);
  await putAccounts(pre, fixture.pre);
  const preRoot = bytesToHex(await pre.getStateRoot());
  const wantGenesisRoot = fixture.genesisBlockHeader.stateRoot.toLowerCase();
  if (preRoot !== wantGenesisRoot) {
    diffs.push({ path: "genesis stateRoot", expected: wantGenesisRoot, actual: preRoot });
    return undefined;
  }
  const genesis = createBlockFromRLP(hexToBytes(fixture.genesisRLP), { common, setHardfork: false });
  const genesisHash = bytesToHex(genesis.hash());
  if (genesisHash !== fixture.genesisBlockHeader.hash.toLowerCase()) {
    diffs.push({ path: "genesis hash", expected: fixture.genesisBlockHeader.hash, actual: genesisHash });
    return undefined;
  }
  const batch = db.batch();
  ChainDatabase.initialise(batch, genesis.hash());
  const { cacheUpdate } = await pre.writeTo(batch);
  batch.putBlock(genesis.hash(), genesis.serialize());
  batch.putCanonical(0n, genesis.hash());
  batch.putReceipts(genesis.hash(), encodeReceipts([]));
  batch.setHead({ number: 0n, hash: genesis.hash() });
  await db.write(batch);
  store.applyCommitted(cacheUpdate);
  return genesis;
}

/** A block's timestamp (header field 11), read before decoding so the block decodes at its fork. */
function blockTimestamp(rlp: Uint8Array): bigint {
  const block = rlpDecode(rlp) as RlpDecoded[];
  const header = block[0];
  const time = Array.isArray(header) ? header[11] : undefined;
  if (!(time instanceof Uint8Array)) throw new Error("block RLP has no header timestamp");
  return bytesToBigInt(time);
}

async function runBlocks(chain: ChainContext, diffs: Diff[]): Promise<void> {
  const { fixture } = chain;
  const genesis = await openGenesis(chain, diffs);
  if (!genesis) return;
  let head = genesis;
  const known = new Map<string, Block>([[bytesToHex(genesis.hash()), genesis]]);
  const touched = new Set<string>(Object.keys(fixture.pre).map((a) => bytesToHex(hexToBytes(a))));
  const blockHash = (n: bigint) => (chain.db as ChainDatabase).canonicalHash(n);
  const referenceAt = (b: Block) => chain.forkAt(b.header.timestamp).executors[0] as BlockExecutor;
  const freshAt = (parent: Block) => () =>
    new FlatStateManager(chain.store as FlatStateStore, parent.header.stateRoot);

  /**
   * Makes `parent` the head. The flat state only exists at the head, so a
   * block on another branch is executed by rebuilding the chain from genesis
   * along that branch (every block on it was already validated).
   */
  const switchTo = async (parent: Block): Promise<void> => {
    const branch: Block[] = [];
    for (let b = parent; b !== genesis; b = known.get(bytesToHex(b.header.parentHash)) as Block)
      branch.unshift(b);
    await openGenesis(chain, diffs);
    let tip = genesis;
    for (const b of branch) {
      const fresh = freshAt(tip);
      const r = await referenceAt(b).execute(b, tip, fresh(), {
        rules: "ethereum",
        blockHash,
        freshState: fresh,
      });
      await commitBlock(chain.db as ChainDatabase, chain.store as FlatStateStore, b, r.state, r.receipts);
      tip = b;
    }
    head = parent;
  };

  for (const [i, fb] of fixture.blocks.entries()) {
    const label = `block[${i}]${fb.blocknumber ? ` (number ${fb.blocknumber})` : ""}`;
    const expectInvalid = fb.expectException !== undefined;
    let block: Block | undefined;
    const outcomes: { name: string; outcome: Outcome }[] = [];
    let rejected: string | undefined;
    const previousHead = head;
    let executors: BlockExecutor[] = [];
    try {
      const rlp = hexToBytes(fb.rlp);
      const fork = chain.forkAt(blockTimestamp(rlp));
      executors = fork.executors;
      block = createBlockFromRLP(rlp, { common: fork.common, setHardfork: false });
    } catch (err) {
      rejected = `decode: ${oneLine((err as Error).message)}`;
    }
    if (block) {
      const parent = known.get(bytesToHex(block.header.parentHash));
      if (!parent) rejected = "unknown parent";
      else {
        if (parent !== head) await switchTo(parent);
        for (const ex of executors) {
          const fresh = freshAt(parent);
          try {
            const r = await ex.execute(block, parent, fresh(), {
              rules: "ethereum",
              blockHash,
              freshState: fresh,
            });
            const root = bytesToHex(await r.state.getStateRoot());
            outcomes.push({
              name: ex.name,
              outcome: { ok: true, receipts: r.receipts, state: r.state, root },
            });
          } catch (err) {
            outcomes.push({
              name: ex.name,
              outcome: {
                ok: false,
                reason: oneLine(
                  process.env.MERIDIAN_DEBUG ? String((err as Error).stack) : (err as Error).message,
                ),
              },
            });
          }
        }
        compareExecutors(label, outcomes, diffs);
        const ref = outcomes[0]?.outcome;
        if (ref && !ref.ok) rejected = ref.reason;
      }
    }
    const notImported = rejected !== undefined || expectInvalid;
    // A block that does not go in leaves the chain at the last valid block.
    if (notImported && head !== previousHead) await switchTo(previousHead);
    if (rejected !== undefined) {
      if (!expectInvalid) {
        diffs.push({
          path: `${label} import`,
          expected: "valid block accepted",
          actual: `rejected: ${rejected}`,
        });
      } else if (!rejectionMatches(fb.expectException as string, rejected)) {
        diffs.push({
          path: `${label} rejection category`,
          expected: `${fb.expectException}`,
          actual: `${rejectionCategory(rejected)} rejection: ${rejected}`,
        });
      }
      continue;
    }
    const ref = outcomes[0]?.outcome;
    if (!block || !ref?.ok) continue;
    if (expectInvalid) {
      diffs.push({
        path: `${label} import`,
        expected: `rejected (${fb.expectException})`,
        actual: "accepted",
      });
      continue;
    }
    for (const [addr, a] of ref.state.diff().accounts) if (a !== null) touched.add(`0x${addr}`);
    await commitBlock(
      chain.db as ChainDatabase,
      chain.store as FlatStateStore,
      block,
      ref.state,
      ref.receipts,
    );
    // Proof-of-stake fixtures: the last valid block imported is the head.
    head = block;
    known.set(bytesToHex(block.hash()), block);
  }

  // --- expectations -------------------------------------------------------------
  const db = chain.db as ChainDatabase;
  const headHash = bytesToHex(head.hash());
  const stored = await db.head();
  if (!stored || bytesToHex(stored.hash) !== headHash) {
    diffs.push({
      path: "database head",
      expected: headHash,
      actual: stored ? bytesToHex(stored.hash) : "none",
    });
  }
  if (headHash !== fixture.lastblockhash.toLowerCase()) {
    diffs.push({ path: "lastblockhash", expected: fixture.lastblockhash.toLowerCase(), actual: headHash });
  }
  const root = head.header.stateRoot;
  const rootHex = bytesToHex(root);
  if (rootHex !== EMPTY_ROOT && !(await db.trieNode(root))) {
    diffs.push({
      path: "state trie",
      expected: `root node ${rootHex} persisted`,
      actual: "missing from the database",
    });
  }
  if (fixture.postState) await comparePostState(db, root, fixture.postState, touched, diffs);
  else if (fixture.postStateHash && rootHex !== fixture.postStateHash.toLowerCase()) {
    diffs.push({ path: "postStateHash", expected: fixture.postStateHash.toLowerCase(), actual: rootHex });
  }
}

/** With more than one executor (--executor both) every executor must agree with the first. */
function compareExecutors(
  label: string,
  outcomes: { name: string; outcome: Outcome }[],
  diffs: Diff[],
): void {
  const [ref, ...others] = outcomes;
  if (!ref) return;
  const r = ref.outcome;
  for (const o of others) {
    const x = o.outcome;
    const path = `${label} ${o.name} vs ${ref.name}`;
    if (r.ok !== x.ok) {
      diffs.push({
        path: `${path}: verdict`,
        expected: r.ok ? "accepted" : `rejected (${r.reason})`,
        actual: x.ok ? "accepted" : `rejected (${x.reason})`,
      });
    } else if (r.ok && x.ok) {
      if (r.root !== x.root) diffs.push({ path: `${path}: state root`, expected: r.root, actual: x.root });
      if (r.receipts.length !== x.receipts.length) {
        diffs.push({
          path: `${path}: receipts`,
          expected: `${r.receipts.length}`,
          actual: `${x.receipts.length}`,
        });
      }
      r.receipts.forEach((a, i) => {
        const b = x.receipts[i];
        if (!b) return;
        if (a.status !== b.status)
          diffs.push({ path: `${path}: tx ${i} status`, expected: `${a.status}`, actual: `${b.status}` });
        if (a.cumulativeGasUsed !== b.cumulativeGasUsed) {
          diffs.push({
            path: `${path}: tx ${i} cumulativeGasUsed`,
            expected: `${a.cumulativeGasUsed}`,
            actual: `${b.cumulativeGasUsed}`,
          });
        }
        if (a.logs.length !== b.logs.length) {
          diffs.push({
            path: `${path}: tx ${i} logs`,
            expected: `${a.logs.length}`,
            actual: `${b.logs.length}`,
          });
        }
      });
    }
  }
}
