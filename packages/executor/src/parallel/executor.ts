/**
 * ParallelExecutor: builds blocks while discovering their access list, and
 * validates proposed blocks in parallel driven by that list. Same inputs and
 * outputs as SequentialExecutor (ExecutedBlock) plus the access list; the
 * results are identical to sequential execution or the block is rejected.
 *
 * Validation: the main thread walks the list in order, gives each batch of
 * transactions exactly the pre-state it reads (parent state plus earlier
 * writes named by the list) and applies the list's writes to the overlay;
 * workers re-execute the batches (sender recovery included) and report what
 * they read and wrote; the main thread requires both to equal the list, then
 * checks state root, receipts root, bloom, gas and requests against the header.
 *
 * Build: optimistic windows. A window of candidates is executed speculatively
 * on the workers against the state at the window start (same-sender chains in
 * one batch, in order); the main thread then commits in order, re-executing a
 * transaction itself when a value it read has changed since. A window with
 * many conflicts switches the next window to main-thread execution.
 */

import { availableParallelism } from "node:os";
import { type Block, createBlock, type HeaderData } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { TypedTransaction } from "@ethereumjs/tx";
import {
  type Account,
  Address,
  bytesToHex,
  equalsBytes,
  KECCAK256_NULL,
  KECCAK256_RLP,
} from "@ethereumjs/util";
import { type BlockBuilder, Bloom, buildBlock, createVM, type VM } from "@ethereumjs/vm";
import {
  DecodeError,
  keccak256,
  type Logger,
  OrderedTrie,
  orderedTrieRoot,
  rlpListBounds,
  silentLogger,
} from "@meridian/primitives";
import {
  computeShardedCommitment,
  dbNodeFetch,
  type EarlyShards,
  type FlatStateManager,
  runShardTask,
  type ShardResult,
  type ShardTask,
  startShardTasks,
  TrieNodeDB,
} from "@meridian/state";
import { transactionBytes } from "../block-rlp.ts";
import {
  type BuildRequest,
  type BuildWithdrawal,
  buildHeaderData,
  type ExecutedBlock,
  ExecutionError,
  effectiveGasPrice,
  type TxCandidate,
  txGasCapError,
} from "../executor.ts";
import {
  type BlockRules,
  BlockSizeBudget,
  checkExecutedHeader,
  checkHeaderRules,
  checkRequestSystemCalls,
  checkTransactionsRoot,
  executedFieldsOf,
} from "../header-rules.ts";
import { encodeConsensusReceipt, type StoredReceipt, ZERO_BLOOM } from "../receipts.ts";
import {
  runStakingEpilogue,
  runStakingPrologue,
  type StakingBlockCalls,
  stakingContextBlock,
} from "../staking-calls.ts";
import { useFastTries } from "../tries.ts";
import {
  type AccountWrite,
  accessListHash,
  type BlockAccessList,
  encodeAccessList,
  ReceivedAccessList,
  readsToAccess,
  sortWrites,
  type TxAccess,
} from "./access-list.ts";
import { BatchExecutor, type BatchRequest, type TxFacts, type TxResult } from "./exec-core.ts";
import { type FetchHandler, WorkerPool } from "./pool.ts";
import { nativeEcrecover } from "./secp.ts";
import { type AccountValue, accountKey, foldCoinbaseDelta, hex, type PreState, slotKey } from "./tx-state.ts";

export type ParallelExecutorOptions = {
  /** Worker threads; default os.availableParallelism(). 0 = execute on the main thread only. */
  workers?: number;
  /**
   * Batches per worker and block; default 4. More, smaller batches start the later workers
   * sooner (the main thread gathers batches one after another) and even out their finish.
   */
  batchesPerWorker?: number;
  /** Compute the state root shard by shard on the workers; default true. */
  shardedRoot?: boolean;
  /** Try the native secp256k1 addon for sender recovery; default true. */
  native?: boolean;
  /** Run plain value transfers without the EVM (see BatchExecutor.fastTransfers); default true. */
  fastTransfers?: boolean;
  logger?: Logger;
};

export type ParallelExecutedBlock = ExecutedBlock & { accessList: BlockAccessList };

/** Options of `ParallelExecutor.validate`; the defaults are Meridian's rules. */
export type ParallelValidateOptions = {
  /**
   * "meridian" (default): the gas limit must equal the parent's and the block has no
   * withdrawals. "ethereum": the Ethereum header and body rules of SequentialExecutor.execute
   * (see header-rules.ts), and the block's withdrawals are applied.
   */
  rules?: BlockRules;
  /** Canonical block hash by number for BLOCKHASH; without it BLOCKHASH yields zero. */
  blockHash?: (number: bigint) => Promise<Uint8Array | undefined>;
  /** On a proof-of-stake chain: the block's staking system calls (see staking-calls.ts). */
  staking?: StakingBlockCalls;
  /**
   * The list's bytes as received (see decodeProposal): its commitment is then hashed from
   * them instead of encoding the list again. Must be the encoding of the list passed.
   */
  accessListRlp?: Uint8Array;
};

/** Hashes of the (up to) 256 blocks before `number` that BLOCKHASH can see. */
async function recentHashes(
  lookup: ((number: bigint) => Promise<Uint8Array | undefined>) | undefined,
  number: bigint,
): Promise<Map<bigint, Uint8Array> | undefined> {
  if (!lookup) return undefined;
  const out = new Map<bigint, Uint8Array>();
  for (let n = number - 1n; n >= 0n && n >= number - 256n; n--) {
    const h = await lookup(n);
    if (h) out.set(n, h);
  }
  return out;
}

/** EIP-4844 blob gas of a transaction (0 for other types). */
function blobGasOf(common: Common, tx: TypedTransaction): bigint {
  if (tx.type !== 3) return 0n;
  const hashes = (tx as TypedTransaction & { blobVersionedHashes: Uint8Array[] }).blobVersionedHashes;
  return BigInt(hashes.length) * common.param("blobGasPerBlob");
}

/** The facts of a transaction the main thread has as an object (build). */
function factsOf(tx: TypedTransaction, baseFee: bigint): Pick<TxFacts, "type" | "gasPrice"> {
  return { type: tx.type, gasPrice: effectiveGasPrice(tx, baseFee) };
}

/** Counters of the last build, for tests and benchmarks. */
export type BuildStats = {
  windows: number;
  speculative: number;
  reexecuted: number;
  sequential: number;
  /** Senders the workers had to recover (candidates that came without a recovered key). */
  recoveredOnWorkers: number;
};

type BuilderInternals = {
  transactions: TypedTransaction[];
  transactionResults: { receipt: unknown; bloom: Bloom; totalGasSpent: bigint }[];
  gasUsed: bigint;
  blobGasUsed: bigint;
  headerData: HeaderData;
};

/** The builder's list-root hooks (see useFastTries), replaced here by roots computed earlier. */
type BuilderRoots = {
  transactionsTrie: () => Promise<Uint8Array>;
  receiptTrie: () => Promise<Uint8Array>;
};

const EMPTY = new Uint8Array(0);

function sameValue(a: AccountValue | Uint8Array, b: AccountValue | Uint8Array): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array)
    return a instanceof Uint8Array && b instanceof Uint8Array && equalsBytes(a, b);
  if (a === null || b === null) return a === b;
  return (
    a.nonce === b.nonce &&
    a.balance === b.balance &&
    equalsBytes(a.codeHash, b.codeHash) &&
    equalsBytes(a.storageRoot, b.storageRoot)
  );
}

/** The account at `addr` (unprefixed hex; `address`, its bytes, when the caller has them). */
async function readAccountValue(
  state: FlatStateManager,
  addr: string,
  address: Uint8Array = Buffer.from(addr, "hex"),
): Promise<AccountValue> {
  const a = await state.peekAccount(addr, address);
  if (!a) return null;
  const noCode = equalsBytes(a.codeHash, KECCAK256_NULL);
  return accountValue(a, noCode ? EMPTY : await state.codeByHash(a.codeHash));
}

/**
 * readAccountValue without a promise, when the state knows the account now (peekAccountNow)
 * and it has no code to read; undefined otherwise.
 */
function readAccountValueNow(state: FlatStateManager, addr: string): AccountValue | undefined {
  const a = state.peekAccountNow(addr);
  if (a === undefined) return undefined;
  if (a === null) return null;
  return equalsBytes(a.codeHash, KECCAK256_NULL) ? accountValue(a, EMPTY) : undefined;
}

function accountValue(a: Account, code: Uint8Array): AccountValue {
  // The empty-trie and empty-code hashes as shared constants: a message to a worker then
  // carries each of them once instead of once per account.
  return {
    nonce: a.nonce,
    balance: a.balance,
    storageRoot: equalsBytes(a.storageRoot, KECCAK256_RLP) ? KECCAK256_RLP : a.storageRoot,
    codeHash: equalsBytes(a.codeHash, KECCAK256_NULL) ? KECCAK256_NULL : a.codeHash,
    code,
  };
}

async function readKey(state: FlatStateManager, key: string): Promise<AccountValue | Uint8Array> {
  const addr = key.slice(1, 41);
  if (key[0] === "a") return readAccountValue(state, addr);
  return state.getStorage(new Address(Buffer.from(addr, "hex")), Buffer.from(key.slice(41), "hex"));
}

/** The balance and nonce writes applyWrite makes by key, done now when the account is known; false otherwise. */
function applyWriteNow(state: FlatStateManager, w: AccountWrite, addr: string): boolean {
  const fieldsOnly = !w.destroyed && !w.storageCleared && w.code === undefined && w.storage.length === 0;
  if (!fieldsOnly || (w.balance === undefined && w.nonce === undefined)) return false;
  return state.modifyAccountFieldsNow(addr, { balance: w.balance, nonce: w.nonce });
}

/**
 * Applies one list write to the overlay (the same end state sequential execution leaves);
 * `addr` is the unprefixed hex of its address when the caller has it.
 */
async function applyWrite(state: FlatStateManager, w: AccountWrite, addr = hex(w.address)): Promise<void> {
  // Balance and nonce, the bulk of a block's writes, go in by key; the rest takes the
  // StateManagerInterface path.
  const fieldsOnly = !w.destroyed && !w.storageCleared && w.code === undefined && w.storage.length === 0;
  if (fieldsOnly && (w.balance !== undefined || w.nonce !== undefined)) {
    await state.modifyAccountFieldsAt(addr, w.address, { balance: w.balance, nonce: w.nonce });
    return;
  }
  const address = new Address(w.address);
  if (w.destroyed) {
    await state.deleteAccount(address);
    return;
  }
  if (w.storageCleared) await state.clearStorage(address);
  if (w.balance !== undefined || w.nonce !== undefined || w.code !== undefined) {
    await state.modifyAccountFieldsAt(addr, w.address, { balance: w.balance, nonce: w.nonce });
    if (w.code !== undefined) await state.putCode(address, w.code);
  }
  for (const s of w.storage) await state.putStorage(address, s.slot, s.value);
}

function storedReceipt(
  tx: Pick<TxFacts, "type" | "gasPrice">,
  r: TxResult,
  cumulativeGasUsed: bigint,
): StoredReceipt {
  const rc = r.receipt as NonNullable<TxResult["receipt"]>;
  return {
    type: tx.type,
    status: rc.status,
    cumulativeGasUsed,
    gasUsed: rc.gasUsed,
    logs: rc.logs.map(([address, topics, data]) => ({ address, topics, data })),
    contractAddress: rc.createdAddress,
    effectiveGasPrice: tx.gasPrice,
    from: r.sender as Uint8Array,
    logsBloom: rc.bloom,
  };
}

/**
 * Adds a result to the builder; `tx` undefined when the block is only rebuilt for its header.
 * Then the builder needs only the results with logs: it reads results for the logs bloom and
 * the deposit requests (EIP-6110) alone, and a receipt without logs adds nothing to either.
 */
function pushResult(
  builder: BuilderInternals,
  tx: TypedTransaction | undefined,
  r: TxResult,
  cumulative: bigint,
  blobGas: bigint,
): void {
  const rc = r.receipt as NonNullable<TxResult["receipt"]>;
  builder.gasUsed = cumulative;
  builder.blobGasUsed += blobGas;
  if (tx) builder.transactions.push(tx);
  else if (rc.logs.length === 0) return;
  builder.transactionResults.push({
    receipt: { status: rc.status, cumulativeBlockGasUsed: cumulative, bitvector: rc.bloom, logs: rc.logs },
    bloom: new Bloom(rc.bloom),
    totalGasSpent: rc.gasUsed,
  });
}

export class ParallelExecutor {
  readonly common: Common;
  readonly workers: number;
  readonly lastBuild: BuildStats = {
    windows: 0,
    speculative: 0,
    reexecuted: 0,
    sequential: 0,
    recoveredOnWorkers: 0,
  };
  private readonly pool: WorkerPool | undefined;
  private readonly local: BatchExecutor;
  private readonly batchesPerWorker: number;
  private readonly shardedRoot: boolean;
  private readonly logger: Logger;

  constructor(common: Common, opts: ParallelExecutorOptions = {}) {
    this.common = common;
    this.workers = opts.workers ?? availableParallelism();
    this.batchesPerWorker = opts.batchesPerWorker ?? 4;
    this.shardedRoot = opts.shardedRoot ?? true;
    this.logger = opts.logger ?? silentLogger;
    const native = opts.native ?? true;
    if (this.workers > 0) {
      this.pool = new WorkerPool(this.workers, {
        chainId: Number(common.chainId()),
        hardfork: common.hardfork(),
        native,
        fastTransfers: opts.fastTransfers ?? true,
      });
    }
    this.local = new BatchExecutor(common, { fastTransfers: opts.fastTransfers ?? true });
    if (native) {
      const { ecrecover } = nativeEcrecover();
      if (ecrecover) common.customCrypto.ecrecover = ecrecover;
    }
  }

  /** Resolves once every worker is started (building and validating wait for it anyway). */
  async ready(): Promise<void> {
    await this.pool?.whenReady();
  }

  /** "native" when the secp256k1 addon loaded in the workers, else "noble". */
  get secpBackend(): "native" | "noble" {
    return this.pool?.backend ?? nativeEcrecover().backend;
  }

  /** Transactions run on the main thread so far, by path (fast transfer or EVM). */
  get mainThreadRuns(): { readonly fast: number; readonly evm: number } {
    return this.local.runs;
  }

  /** Test hook: kills one worker. */
  crashWorker(slot: number): void {
    this.pool?.crash(slot);
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  /**
   * Makes `state` compute its root shard by shard on the workers. The returned
   * function starts the shard tasks early, from the state as it is then; the
   * commitment reuses every shard whose input has not changed since.
   */
  private useShardedRoot(state: FlatStateManager): () => void {
    if (!this.shardedRoot) return () => {};
    const pool = this.pool;
    const fetch = dbNodeFetch(new TrieNodeDB(state.store.db));
    const run = async (task: ShardTask): Promise<ShardResult> => {
      if (pool) {
        try {
          return await pool.shard(task, fetch as FetchHandler);
        } catch (err) {
          this.logger.warn("shard task failed on a worker; computing it here", {
            error: (err as Error).message,
          });
        }
      }
      return runShardTask(task, fetch);
    };
    let early: EarlyShards | undefined;
    state.committer = (db, baseRoot, diff) => computeShardedCommitment(db, baseRoot, diff, run, early);
    return () => {
      if (pool) early = startShardTasks(state.baseRoot, state.diff(), run);
    };
  }

  /**
   * The BlockBuilder that runs the block's system calls and seals it, and the check of its
   * request system calls (see checkRequestSystemCalls) to verify once it is built.
   */
  private async newBuilder(
    parent: Block,
    state: FlatStateManager,
    headerData: HeaderData,
    withdrawals: BuildWithdrawal[] | undefined,
  ): Promise<{ builder: BlockBuilder; vm: VM; systemCalls: { verify(): Promise<void> } }> {
    const vm = await createVM({ common: this.common.copy(), stateManager: state });
    const systemCalls = checkRequestSystemCalls(vm, parent.header.number + 1n);
    const builder = useFastTries(
      await buildBlock(vm, {
        parentBlock: parent,
        headerData,
        withdrawals,
        blockOpts: { putBlockIntoBlockchain: false, common: vm.common },
      }),
    );
    return { builder, vm, systemCalls };
  }

  private contextHeader(builder: BlockBuilder): { header: HeaderData; key: string } {
    const hd = (builder as unknown as BuilderInternals).headerData;
    const ctx = createBlock({ header: hd }, { common: this.common, skipConsensusFormatValidation: true });
    const header = ctx.header.toJSON() as HeaderData;
    return { header, key: bytesToHex(keccak256(ctx.header.serialize())) };
  }

  /** Runs a batch on a worker; a crashed worker's batch runs again on the main thread. */
  private async runBatch(slot: number, req: BatchRequest, onFetch?: FetchHandler): Promise<TxResult[]> {
    if (this.pool) {
      try {
        return await this.pool.exec(slot, req, onFetch);
      } catch (err) {
        if ((err as { code?: string }).code !== "WORKER_CRASHED") throw err;
        this.logger.warn("parallel executor worker crashed; re-running its batch on the main thread", {
          error: (err as Error).message,
        });
      }
    }
    const fetcher = onFetch
      ? async (keys: string[]) => {
          for (const [k, v] of await onFetch(keys)) req.pre.set(k, v as AccountValue | Uint8Array);
        }
      : undefined;
    return this.exclusive(() => this.local.runBatch(req, fetcher));
  }

  /** keccak256 of `bytes` on the first idle worker (here when there is none, or it crashed). */
  private async keccakOnWorker(bytes: Uint8Array): Promise<Uint8Array> {
    if (this.pool) {
      try {
        return await this.pool.keccak(bytes);
      } catch (err) {
        if ((err as { code?: string }).code !== "WORKER_CRASHED") throw err;
      }
    }
    return keccak256(bytes);
  }

  /** orderedTrieRoot of `values`, on a worker when there is one. */
  private async orderedRoot(values: Uint8Array[], slot = 0): Promise<Uint8Array> {
    if (this.pool) {
      try {
        return await this.pool.orderedRoot(slot, values);
      } catch (err) {
        if ((err as { code?: string }).code !== "WORKER_CRASHED") throw err;
      }
    }
    return orderedTrieRoot(values);
  }

  /** Keys under which workers keep validated batches' receipts (BatchRequest.receiptsKey). */
  private receiptsKeys = 0;
  private localQueue: Promise<unknown> = Promise.resolve();
  /** The main-thread executor has one state manager: its batches run one at a time. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.localQueue.then(fn);
    this.localQueue = run.catch(() => {});
    return run;
  }

  // --- validation -------------------------------------------------------------------

  /** Validator path: re-executes `block` in parallel, driven by `accessList`, on top of `state`. */
  async validate(
    block: Block,
    accessList: BlockAccessList,
    parent: Block,
    state: FlatStateManager,
    opts: ParallelValidateOptions = {},
  ): Promise<ParallelExecutedBlock> {
    const h = block.header;
    const fail = (code: string, reason: string): never => {
      throw new ExecutionError(`invalid block ${h.number}: ${reason}`, { code });
    };
    const ethereum = opts.rules === "ethereum";
    // The header rules both executors share (the transactions root is checked below, once hashed).
    await checkHeaderRules(block, parent, opts.rules ?? "meridian");
    // The transactions as bytes: their objects are never needed here (see decodeProposal).
    const rawTxs = transactionBytes(block);
    const n = rawTxs.length;
    // A list as received is read entry by entry (see ReceivedAccessList), never decoded whole.
    const received = accessList instanceof ReceivedAccessList ? accessList : undefined;
    const entries = received ? received.length : accessList.txs.length;
    if (entries !== n) fail("BAL_TX_COUNT", `access list has ${entries} entries for ${n} transactions`);
    const startRootEarly = this.useShardedRoot(state);
    const withdrawals = ethereum ? block.withdrawals?.map((w) => w.toValue()) : [];
    const { builder, vm, systemCalls } = await this.newBuilder(
      parent,
      state,
      {
        timestamp: h.timestamp,
        coinbase: h.coinbase,
        gasLimit: h.gasLimit,
        mixHash: h.mixHash,
        parentBeaconBlockRoot: h.parentBeaconBlockRoot,
        extraData: h.extraData,
      },
      withdrawals,
    );
    // Staking calls run here before any transaction's pre-state is read from `state`.
    const stakingBlock = opts.staking && stakingContextBlock(vm.common, h);
    if (opts.staking && stakingBlock) await runStakingPrologue(vm, stakingBlock, opts.staking);
    const { header, key } = this.contextHeader(builder);
    const blockHashes = await recentHashes(opts.blockHash, h.number);
    const cb = h.coinbase.bytes;
    const cbHex = hex(cb);
    // The transactions root is hashed on the last worker while this thread gathers the first
    // batches (the last worker's first batch comes last). A single worker gets the first batch
    // at once, so then this thread hashes it, once the batches are sent.
    const txRootOnWorker = this.workers >= 2 ? this.orderedRoot(rawTxs, this.workers - 1) : undefined;
    txRootOnWorker?.catch(() => {});

    // The list as encoded: its commitment, and each batch's entries travel as one byte range.
    const listRlp = opts.accessListRlp ?? received?.bytes ?? encodeAccessList(accessList);
    const bounds = received && listRlp === received.bytes ? received.bounds : rlpListBounds(listRlp);
    if (bounds.length !== 2 * n) fail("BAL_TX_COUNT", `access list bytes have ${bounds.length / 2} entries`);

    // Pass 1 (main thread): pre-state per batch from the list, list writes onto the overlay.
    // Each batch goes to its worker as soon as it is complete.
    const slots = this.pool ? this.workers * this.batchesPerWorker : 1;
    const batchSize = Math.max(1, Math.ceil(n / slots));
    // The first batch is a quarter of the others: the workers start once it is gathered, so
    // a small one starts them sooner (the remainder makes a last batch of three quarters).
    const firstBatchSize = Math.max(1, Math.ceil(batchSize / 4));
    const pending: Promise<TxResult[]>[] = [];
    // With several workers each keeps its batches' receipts and hashes their receipts-trie leaves
    // once this thread tells it the gas before the batch (many cores wait on this thread); with
    // one, this thread hashes them in the gaps while it waits (it has a core of its own).
    const leavesOnWorkers = this.workers >= 2;
    const batchSlots: { slot: number; key: number | undefined }[] = [];
    let req: BatchRequest | undefined;
    // The batch's first transaction, and the fee recipient's value before it.
    let first = 0;
    let coinbaseAtFirst: AccountValue = null;
    let written = new Set<string>();
    let wiped = new Set<string>();
    const flush = () => {
      if (req && req.txs.length > 0) {
        const last = first + req.txs.length - 1;
        const from = bounds[2 * first] as number;
        const ends = new Uint32Array(req.txs.length);
        for (let k = 0; k < ends.length; k++) ends[k] = (bounds[2 * (first + k) + 1] as number) - from;
        req.expected = {
          entries: listRlp.slice(from, bounds[2 * last + 1]),
          ends,
          coinbase: coinbaseAtFirst,
        };
        if (leavesOnWorkers) req.receiptsKey = this.receiptsKeys++;
        batchSlots.push({ slot: pending.length, key: req.receiptsKey });
        const run = this.runBatch(pending.length, req);
        // Checked in order below; a failure found earlier must not leave this one unhandled.
        run.catch(() => {});
        pending.push(run);
      }
      req = undefined;
    };
    // The fee recipient's value, re-read only when needed after a list write touched it.
    let cbv: AccountValue | undefined;
    for (let i = 0; i < n; i++) {
      if (!req || req.txs.length >= (pending.length === 0 ? firstBatchSize : batchSize)) {
        flush();
        first = i;
        if (cbv === undefined) cbv = await readAccountValue(state, cbHex);
        coinbaseAtFirst = cbv;
        req = {
          header,
          headerKey: key,
          coinbase: cbHex,
          txs: [],
          pre: new Map(),
          coinbasePre: new Map(),
          fetch: false,
          blockHashes,
        };
        written = new Set();
        wiped = new Set();
      }
      const r = req as BatchRequest;
      let entry: TxAccess;
      try {
        entry = received ? received.entry(i) : (accessList.txs[i] as TxAccess);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        return fail("BAL_MALFORMED", err.message);
      }
      for (const read of entry.reads) {
        const a = hex(read.address);
        if (read.account) {
          if (a === cbHex) {
            if (cbv === undefined) cbv = await readAccountValue(state, cbHex);
            r.coinbasePre?.set(i, cbv);
          } else {
            const k = accountKey(a);
            if (!written.has(k) && !r.pre.has(k)) {
              const now = readAccountValueNow(state, a);
              r.pre.set(k, now !== undefined ? now : await readAccountValue(state, a, read.address));
            }
          }
        }
        for (const s of read.slots) {
          const k = slotKey(a, hex(s));
          if (!written.has(k) && !wiped.has(a) && !r.pre.has(k))
            r.pre.set(k, await state.getStorage(new Address(read.address), s));
        }
      }
      r.txs.push({ index: i, rlp: rawTxs[i] as Uint8Array });
      for (const w of entry.writes) {
        const a = hex(w.address);
        if (a === cbHex) cbv = undefined;
        written.add(accountKey(a));
        if (w.destroyed || w.storageCleared) wiped.add(a);
        for (const s of w.storage) written.add(slotKey(a, hex(s.slot)));
        if (!applyWriteNow(state, w, a)) await applyWrite(state, w, a);
      }
    }
    flush();
    // The list's commitment. With one worker this thread hashes it while the worker runs (it
    // has a core of its own then); with more, the first worker done with its batches does,
    // ahead of the shard tasks: on many cores this thread is what the block waits for. A
    // block whose list the header does not commit to is rejected as such, whatever failed first.
    const listHashOnWorker = this.workers >= 2 ? this.keccakOnWorker(listRlp) : undefined;
    listHashOnWorker?.catch(() => {});
    // The overlay now holds every write of the list: the state-root shards wait in the pool for
    // idle workers (only the end-of-block system calls can still change a shard).
    startRootEarly();
    const listHash = listHashOnWorker ?? Promise.resolve(keccak256(listRlp));
    const checkListHash = async () => {
      if (!equalsBytes(await listHash, h.extraData))
        fail("BAL_HASH_MISMATCH", "access list does not match the header commitment");
    };
    if (this.workers < 2) await checkListHash();
    try {
      const txRoot = txRootOnWorker ? await txRootOnWorker : orderedTrieRoot(rawTxs);
      checkTransactionsRoot(h, txRoot);
      const lists = builder as unknown as BuilderRoots;
      lists.transactionsTrie = async () => txRoot;

      // Pass 2, batch by batch as they come back: each result was compared with its list entry
      // where it ran; here the block-level limits, then the receipts.
      const b = builder as unknown as BuilderInternals;
      const receipts: StoredReceipt[] = [];
      // The receipts trie is hashed leaf by leaf as the batches come back, in the gaps while this
      // thread waits for the workers, rather than all at once after the last one.
      const receiptsTrie = new OrderedTrie(n);
      const receiptScratch = new Uint8Array(4096);
      const senders: Uint8Array[] = [];
      let gasUsed = 0n;
      // The VM's Common carries the block/tx parameters (blob gas schedule) the bare one lacks.
      const vmCommon = (builder as unknown as { vm: { common: Common } }).vm.common;
      const maxBlobGas = vmCommon.isActivatedEIP(4844)
        ? vmCommon.getBlobGasSchedule().maxBlobGasPerBlock
        : 0n;
      const blobGasPerBlob = vmCommon.isActivatedEIP(4844) ? vmCommon.param("blobGasPerBlob") : 0n;
      const setReceiptLeaf = (index: number, r: TxResult, cumulative: bigint) => {
        const rc = r.receipt as NonNullable<TxResult["receipt"]>;
        const type = (r.facts as TxFacts).type;
        receiptsTrie.set(
          index,
          encodeConsensusReceipt(type, rc.status, cumulative, rc.bloom, rc.logs, receiptScratch),
        );
      };
      let i = 0;
      const leafTasks: { batch: number; first: number; refs: Promise<Uint8Array> }[] = [];
      for (const [k, batch] of pending.entries()) {
        const first = i;
        const gasBefore = gasUsed;
        for (const r of await batch) {
          if (r.index !== i) fail("INTERNAL", "batch results out of order");
          if (r.receipt?.bloom.length === 0) r.receipt.bloom = ZERO_BLOOM;
          if (r.error) {
            if (r.error.code === "BAL_MISSING_READ") fail("BAL_MISSING_READ", `tx ${i}: ${r.error.message}`);
            fail("TX_INVALID", `tx ${i}: ${r.error.message}`);
          }
          const tx = r.facts;
          if (!tx) return fail("INTERNAL", `tx ${i}: result without transaction facts`);
          if (h.gasLimit < tx.gasLimit + gasUsed)
            fail("GAS_LIMIT_EXCEEDED", `tx ${i} exceeds the block gas limit`);
          if (r.listMismatch === "reads")
            fail("BAL_READS_MISMATCH", `tx ${i}: reads differ from the access list`);
          if (r.listMismatch === "writes")
            fail("BAL_WRITES_MISMATCH", `tx ${i}: writes differ from the access list`);
          const blobGas = BigInt(tx.blobs) * blobGasPerBlob;
          if (b.blobGasUsed + blobGas > maxBlobGas && blobGas > 0n)
            fail("BLOB_GAS_LIMIT_EXCEEDED", `tx ${i} exceeds the block blob gas limit`);
          gasUsed += r.receipt?.gasUsed ?? 0n;
          receipts.push(storedReceipt(tx, r, gasUsed));
          senders.push(r.sender as Uint8Array);
          pushResult(b, undefined, r, gasUsed, blobGas);
          if (!leavesOnWorkers) setReceiptLeaf(i, r, gasUsed);
          i++;
        }
        const { slot, key } = batchSlots[k] as { slot: number; key: number | undefined };
        if (this.pool && key !== undefined) {
          const refs = this.pool.receiptLeaves(slot, key, n, first, gasBefore);
          refs.catch(() => {});
          leafTasks.push({ batch: k, first, refs });
        }
      }
      if (i !== n) fail("INTERNAL", `${i} results for ${n} transactions`);
      for (const [k, t] of leafTasks.entries()) {
        const last = leafTasks[k + 1]?.first ?? n;
        try {
          const refs = await t.refs;
          if (refs.length !== 32 * (last - t.first)) throw new Error("wrong number of receipt leaves");
          for (let j = t.first; j < last; j++)
            receiptsTrie.setRef(j, refs.subarray(32 * (j - t.first), 32 * (j - t.first + 1)));
        } catch (err) {
          // The worker that ran the batch no longer has its receipts (it crashed, or the batch
          // ran here): hashed here from the batch's results instead.
          this.logger.warn("receipt leaves not hashed on a worker; hashing them here", {
            error: (err as Error).message,
          });
          const results = await pending[t.batch];
          for (const [j, r] of (results ?? []).entries()) {
            const index = t.first + j;
            setReceiptLeaf(index, r, (receipts[index] as StoredReceipt).cumulativeGasUsed);
          }
        }
      }
      const receiptsRoot = receiptsTrie.root();
      lists.receiptTrie = async () => receiptsRoot;
      // The rebuilt block has no transactions: its header is all that is compared.
      let rebuilt: Block;
      try {
        if (opts.staking && stakingBlock) await runStakingEpilogue(vm, stakingBlock, opts.staking);
        rebuilt = (await builder.build()).block;
      } catch (err) {
        if (err instanceof ExecutionError) throw err;
        return fail("INVALID_BLOCK", (err as Error).message);
      }
      await systemCalls.verify();
      // The comparisons both executors share (header-rules.ts), with their error codes.
      checkExecutedHeader(h, executedFieldsOf(rebuilt.header));
      await checkListHash();
      return { block, receipts, senders, state, rejected: [], accessList };
    } catch (err) {
      // A wrong list is reported as such (its hash is checked last with more than one worker).
      await checkListHash();
      throw err;
    }
  }

  // --- build ------------------------------------------------------------------------

  /** Proposer path: fills a block from `req.txs`, executing optimistically in parallel. */
  async build(req: BuildRequest): Promise<ParallelExecutedBlock> {
    const { parent, state } = req;
    this.useShardedRoot(state);
    const { headerData, withdrawals } = buildHeaderData(req);
    const { builder, vm, systemCalls } = await this.newBuilder(
      parent,
      state,
      { ...headerData, extraData: new Uint8Array(32) },
      withdrawals,
    );
    const stakingBlock =
      req.staking &&
      stakingContextBlock(vm.common, {
        number: parent.header.number + 1n,
        timestamp: req.timestamp,
        coinbase: req.coinbase,
        gasLimit: headerData.gasLimit as bigint,
      });
    if (req.staking && stakingBlock) await runStakingPrologue(vm, stakingBlock, req.staking);
    const b = builder as unknown as BuilderInternals;
    const { header, key } = this.contextHeader(builder);
    const ctxBlock = this.local.contextBlock(key, header);
    const blockHashes = await recentHashes(req.blockHash, parent.header.number + 1n);
    // The VM's Common carries the block/tx parameters (blob gas schedule) the bare one lacks.
    const vmCommon = (builder as unknown as { vm: { common: Common } }).vm.common;
    const maxBlobGas = vmCommon.isActivatedEIP(4844) ? vmCommon.getBlobGasSchedule().maxBlobGasPerBlock : 0n;
    const cb = req.coinbase;
    const cbHex = hex(cb);
    const baseFee = parent.header.calcNextBaseFee();
    const gasLimit = headerData.gasLimit as bigint;
    const sizeBudget = new BlockSizeBudget(vmCommon, gasLimit);
    const stats: BuildStats = {
      windows: 0,
      speculative: 0,
      reexecuted: 0,
      sequential: 0,
      recoveredOnWorkers: 0,
    };
    const receipts: StoredReceipt[] = [];
    const senders: Uint8Array[] = [];
    const rejected: { hash: Uint8Array; reason: string }[] = [];
    const list: TxAccess[] = [];
    const source = req.txs;
    let gasUsed = 0n;
    let window = 64;
    let parallel = this.pool !== undefined;
    // How many transactions run here after the next probe that finds mostly conflicts: it grows
    // with each such probe, so that a block of one hot slot runs nearly all on this thread
    // instead of every other window being a wasted probe; a probe that pays off resets it.
    let stretch = 64;
    const fetchFromState: FetchHandler = async (keys) =>
      Promise.all(
        keys.map(async (k): Promise<[string, AccountValue | Uint8Array]> => [k, await readKey(state, k)]),
      );

    while (source) {
      // 1. Take a window of candidates whose gas limits fit together in what is left.
      const cands: TxCandidate[] = [];
      let reserved = 0n;
      for (;;) {
        if (req.maxTxs !== undefined && receipts.length + cands.length >= req.maxTxs) break;
        if (req.deadlineMs !== undefined && Date.now() > req.deadlineMs) break;
        if (cands.length >= window) break;
        const left = gasLimit - gasUsed - reserved;
        if (left < 21_000n) break;
        const next = source.peek();
        if (!next) break;
        if (next.tx.gasLimit > gasLimit - gasUsed) {
          source.pop();
          continue;
        }
        const overCap = txGasCapError(vmCommon, next.tx) ?? sizeBudget.take(next.tx);
        if (overCap) {
          rejected.push({ hash: next.tx.hash(), reason: overCap });
          source.pop();
          continue;
        }
        if (next.tx.gasLimit > left) break;
        source.shift();
        cands.push(next);
        reserved += next.tx.gasLimit;
      }
      if (cands.length === 0) break;
      stats.windows++;

      // 2. Speculative execution on the workers against the state at the window start.
      let spec: (TxResult | undefined)[] = [];
      if (parallel && cands.length >= 4) {
        spec = await this.speculate(cands, header, key, cbHex, fetchFromState, blockHashes);
        stats.speculative += cands.length;
        for (const r of spec) if (r?.recovered) stats.recoveredOnWorkers++;
      } else {
        stats.sequential += cands.length;
      }

      // 3. Commit in order; re-execute on this thread whatever read a value that changed since.
      let conflicts = 0;
      for (const [i, cand] of cands.entries()) {
        const blobGas = blobGasOf(vmCommon, cand.tx);
        if (blobGas > 0n && req.allowBlobTxs !== true) {
          rejected.push({
            hash: cand.tx.hash(),
            reason: "blob transactions are not accepted (no blob pool)",
          });
          continue;
        }
        if (blobGas > 0n && b.blobGasUsed + blobGas > maxBlobGas) {
          rejected.push({ hash: cand.tx.hash(), reason: "block blob gas limit reached" });
          continue;
        }
        let r = spec[i];
        let valid = r !== undefined;
        if (r) {
          for (const [k, v] of r.reads) {
            if (!sameValue(v, await readKey(state, k))) {
              valid = false;
              break;
            }
          }
        }
        if (!valid || !r) {
          if (r) conflicts++;
          if (spec.length > 0) stats.reexecuted++;
          const sender = r?.sender ?? cand.sender;
          r = await this.exclusive(() => {
            this.local.sm.resetBatch(new Map(), cbHex, async (keys) => {
              for (const [k, v] of await fetchFromState(keys))
                this.local.sm.base.set(k, v as AccountValue | Uint8Array);
            });
            this.local.setBlockHashes(blockHashes);
            return this.local.runTx(cand.tx, receipts.length, ctxBlock, sender);
          });
        }
        if (r.error) {
          rejected.push({ hash: cand.tx.hash(), reason: r.error.message });
          continue;
        }
        const writes = [...r.writes];
        if (r.coinbaseDelta !== undefined) {
          const w = foldCoinbaseDelta(cb, await readAccountValue(state, cbHex), r.coinbaseDelta);
          if (w) writes.push(w);
        }
        sortWrites(writes);
        for (const w of writes) await applyWrite(state, w);
        list.push({ reads: readsToAccess(r.reads.keys()), writes });
        gasUsed += r.receipt?.gasUsed ?? 0n;
        r.index = receipts.length;
        receipts.push(storedReceipt(factsOf(cand.tx, baseFee), r, gasUsed));
        senders.push(r.sender as Uint8Array);
        pushResult(b, cand.tx, r, gasUsed, blobGas);
      }

      // 4. Adapt: many conflicts → the next window (of `stretch`) on this thread, then probe
      // again with a small one.
      if (spec.length > 0 && conflicts * 2 > cands.length) {
        parallel = false;
        window = stretch;
        stretch = Math.min(stretch * 4, 4096);
      } else if (!parallel && this.pool) {
        parallel = true;
        window = 64;
      } else {
        if (spec.length > 0) stretch = 64;
        window = Math.min(window * 4, 4096);
      }
    }
    Object.assign(this.lastBuild, stats);
    const accessList: BlockAccessList = { txs: list };
    b.headerData.extraData = accessListHash(accessList);
    if (req.staking && stakingBlock) await runStakingEpilogue(vm, stakingBlock, req.staking);
    const { block } = await builder.build();
    await systemCalls.verify();
    return { block, receipts, senders, state, rejected, accessList };
  }

  private async speculate(
    cands: TxCandidate[],
    header: HeaderData,
    key: string,
    cbHex: string,
    onFetch: FetchHandler,
    blockHashes: Map<bigint, Uint8Array> | undefined,
  ): Promise<(TxResult | undefined)[]> {
    // Same-sender transactions stay in one batch (in order); senders spread over the batches.
    const nBatches = Math.min(cands.length, (this.pool?.size ?? 1) * this.batchesPerWorker);
    const batches: BatchRequest[] = [];
    for (let i = 0; i < nBatches; i++)
      batches.push({
        header,
        headerKey: key,
        coinbase: cbHex,
        txs: [],
        pre: new Map(),
        fetch: true,
        blockHashes,
      });
    const bySender = new Map<string, BatchRequest>();
    let rr = 0;
    for (const [i, c] of cands.entries()) {
      const s = hex(c.sender);
      let batch = bySender.get(s);
      if (!batch) {
        batch = batches[rr++ % nBatches] as BatchRequest;
        bySender.set(s, batch);
      }
      // A key recovered at admission travels with the transaction (never recovered twice).
      const senderPubKey = (c.tx as unknown as { cache?: { senderPubKey?: Uint8Array } }).cache?.senderPubKey;
      batch.txs.push({ index: i, rlp: c.tx.serialize(), senderPubKey });
    }
    // Prefetch what every transaction reads first: its sender and its recipient.
    const pre: PreState = new Map();
    for (const c of cands) {
      for (const a of [hex(c.sender), c.tx.to ? hex(c.tx.to.bytes) : undefined]) {
        if (a === undefined || a === cbHex) continue;
        const k = accountKey(a);
        if (!pre.has(k)) pre.set(k, (await onFetch([k]))[0]?.[1] as AccountValue);
      }
    }
    const out: (TxResult | undefined)[] = new Array(cands.length);
    await Promise.all(
      batches
        .filter((bt) => bt.txs.length > 0)
        .map(async (bt, slot) => {
          for (const t of bt.txs) {
            const c = cands[t.index] as TxCandidate;
            for (const a of [hex(c.sender), c.tx.to ? hex(c.tx.to.bytes) : undefined]) {
              const k = a === undefined ? undefined : accountKey(a);
              if (k && pre.has(k)) bt.pre.set(k, pre.get(k) as AccountValue);
            }
          }
          try {
            for (const r of await this.runBatch(slot, bt, onFetch)) out[r.index] = r;
          } catch (err) {
            this.logger.warn("speculative batch failed; its transactions run on the main thread", {
              error: (err as Error).message,
            });
          }
        }),
    );
    return out;
  }
}
