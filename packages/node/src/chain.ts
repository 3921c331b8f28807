/**
 * The chain: committed blocks, receipts and state on disk, and the
 * application interface consensus drives (prepare / process / finalise /
 * commit). One writer: every block lands in one atomic batch in `commit`.
 */
import { EventEmitter } from "node:events";
import { type Block, createBlockFromRLP } from "@ethereumjs/block";
import type { Common, StateManagerInterface } from "@ethereumjs/common";
import {
  blockBytes,
  buildGenesis,
  chainCommon,
  decodeProposal,
  decodeReceipts,
  type ExecutedBlock,
  encodeProposal,
  encodeReceipts,
  type GenesisSpec,
  ParallelExecutor,
  SequentialExecutor,
  type StoredReceipt,
  type TxSource,
  transactionCount,
  transactionHashes,
} from "@meridian/executor";
import {
  type Application,
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  type CommitInfo,
  equalBytes,
  expectBytes,
  expectList,
  type FinalizedBlock,
  hexKey as hex,
  type Logger,
  MeridianError,
  type PrepareProposalRequest,
  type ProcessProposalResult,
  type ProposalBytes,
  rlpDecode,
  rlpEncode,
} from "@meridian/primitives";
import { FlatStateManager, FlatStateStore, historicalState } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";

/** Canonical hashes Chain keeps in memory: the BLOCKHASH window (256) with room to spare. */
const MAX_RECENT_HASHES = 512;

export type CommittedBlock = {
  block: Block;
  receipts: StoredReceipt[];
  senders: Uint8Array[];
  commit: CommitInfo;
};

export type ChainEvents = { committed: [CommittedBlock] };

/** Small LRU for decoded blocks and receipts; recent blocks are what RPC asks for most. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

export function encodeCommitInfo(c: CommitInfo): Uint8Array {
  return rlpEncode([
    bigIntToBytes(c.height),
    bigIntToBytes(BigInt(c.round)),
    c.proposer,
    c.signatures.map((s) => [s.validator, s.signature, bigIntToBytes(BigInt(s.timestampMs))]),
  ]);
}

export function decodeCommitInfo(bytes: Uint8Array): CommitInfo {
  const [h, r, p, sigs] = expectList(rlpDecode(bytes), "commit info", 4);
  return {
    height: bytesToBigInt(expectBytes(h, "height")),
    round: Number(bytesToBigInt(expectBytes(r, "round"))),
    proposer: expectBytes(p, "proposer"),
    signatures: expectList(sigs as never, "signatures").map((s) => {
      const [v, sig, ts] = expectList(s, "signature", 3);
      return {
        validator: expectBytes(v, "validator"),
        signature: expectBytes(sig, "signature"),
        timestampMs: Number(bytesToBigInt(expectBytes(ts, "timestamp"))),
      };
    }),
  };
}

export type ChainOptions = {
  datadir: string;
  genesis: GenesisSpec;
  logger: Logger;
  /** The block builder's transaction source for a given base fee (the mempool). */
  txSource?: (baseFee: bigint) => TxSource;
  /** Parallel executor worker threads; 0 = main thread only; default: number of cores. */
  workers?: number;
};

export class Chain extends EventEmitter<ChainEvents> implements Application {
  readonly db: ChainDatabase;
  readonly store: FlatStateStore;
  readonly common: Common;
  /** Reference executor: eth_call, gas estimation, traces. */
  readonly executor: SequentialExecutor;
  /** Builds and validates blocks, driven by block access lists. */
  readonly parallel: ParallelExecutor;
  readonly spec: GenesisSpec;
  readonly genesisHash: Uint8Array;
  private headBlock: Block;
  private readonly logger: Logger;
  private readonly blocks = new Lru<Block>(256);
  private readonly receipts = new Lru<StoredReceipt[]>(256);
  /**
   * Canonical hashes of recent heights (BLOCKHASH reads the 256 before every block); a
   * committed height's hash never changes, so entries stay valid.
   */
  private readonly recentHashes = new Map<bigint, Uint8Array>();
  /** Executed but not yet committed proposals, by block hash. */
  private readonly executed = new Map<string, ExecutedBlock>();
  private finalized: { exec: ExecutedBlock; commit: CommitInfo } | undefined;
  txSource: ((baseFee: bigint) => TxSource) | undefined;

  private constructor(
    db: ChainDatabase,
    spec: GenesisSpec,
    head: Block,
    genesisHash: Uint8Array,
    opts: ChainOptions,
  ) {
    super();
    this.db = db;
    this.store = new FlatStateStore(db);
    this.spec = spec;
    this.common = head.common;
    this.executor = new SequentialExecutor(this.common);
    const workers = opts.workers;
    this.parallel = new ParallelExecutor(this.common, {
      ...(workers === undefined ? {} : { workers }),
      logger: opts.logger.child({ module: "executor" }),
    });
    this.headBlock = head;
    this.genesisHash = genesisHash;
    this.logger = opts.logger;
    this.txSource = opts.txSource;
  }

  /**
   * Opens the chain database under `datadir/chaindata`; writes genesis on
   * first use and refuses a database made from another genesis.
   */
  static async open(opts: ChainOptions): Promise<Chain> {
    const db = await ChainDatabase.open(`${opts.datadir}/chaindata`);
    try {
      const common = chainCommon(opts.genesis);
      const store = new FlatStateStore(db);
      const genesis = await buildGenesis(opts.genesis, store, common);
      const genesisHash = genesis.block.hash();
      if (!db.initialised) {
        const batch = db.batch();
        ChainDatabase.initialise(batch, genesisHash);
        ChainDatabase.putMeta(batch, "chain", chainIdentity(opts.genesis));
        await genesis.state.writeTo(batch);
        batch.putBlock(genesisHash, genesis.block.serialize());
        batch.putCanonical(0n, genesisHash);
        batch.putReceipts(genesisHash, encodeReceipts([]));
        batch.setHead({ number: 0n, hash: genesisHash });
        await db.write(batch);
        opts.logger.info("wrote genesis", { hash: bytesToHex(genesisHash), chainId: opts.genesis.chainId });
        return new Chain(db, opts.genesis, genesis.block, genesisHash, opts);
      }
      const stored = await db.genesisHash();
      const identity = await db.meta("chain");
      if (
        !stored ||
        !equalBytes(stored, genesisHash) ||
        !identity ||
        !equalBytes(identity, chainIdentity(opts.genesis))
      ) {
        throw new MeridianError("the data directory was initialised from a different genesis", {
          code: "GENESIS_MISMATCH",
          details: `database genesis ${stored ? bytesToHex(stored) : "(none)"}, genesis file ${bytesToHex(genesisHash)}; use the original genesis file or a new data directory`,
        });
      }
      const head = await db.head();
      const headRlp = head && (await db.blockRlp(head.hash));
      if (!head || !headRlp) {
        throw new MeridianError("the database has no head block", { code: "DATADIR_CORRUPT" });
      }
      const headBlock = createBlockFromRLP(headRlp, { common, setHardfork: false });
      return new Chain(db, opts.genesis, headBlock, genesisHash, opts);
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  get head(): Block {
    return this.headBlock;
  }

  lastCommittedHeight(): bigint {
    return this.headBlock.header.number;
  }

  /** A fresh overlay on the committed head state. */
  headState(): FlatStateManager {
    return new FlatStateManager(this.store, this.headBlock.header.stateRoot);
  }

  /** State after `block`: flat for the head, trie-backed for older blocks. */
  stateAfter(block: Block): StateManagerInterface {
    if (equalBytes(block.hash(), this.headBlock.hash())) return this.headState();
    return historicalState(this.db, block.header.stateRoot);
  }

  async blockByHash(hash: Uint8Array): Promise<Block | undefined> {
    const k = hex(hash);
    const hit = this.blocks.get(k);
    if (hit) return hit;
    const rlp = await this.db.blockRlp(hash);
    if (!rlp) return undefined;
    const block = createBlockFromRLP(rlp, { common: this.common, setHardfork: false });
    this.blocks.set(k, block);
    return block;
  }

  async blockByNumber(n: bigint): Promise<Block | undefined> {
    if (n === this.headBlock.header.number) return this.headBlock;
    if (n > this.headBlock.header.number || n < 0n) return undefined;
    const hash = await this.db.canonicalHash(n);
    return hash ? this.blockByHash(hash) : undefined;
  }

  /** The canonical hash at height `n`; undefined above the head. */
  async canonicalHash(n: bigint): Promise<Uint8Array | undefined> {
    if (n < 0n || n > this.headBlock.header.number) return undefined;
    const hit = this.recentHashes.get(n);
    if (hit) return hit;
    const hash = await this.db.canonicalHash(n);
    if (hash) this.rememberHash(n, hash);
    return hash;
  }

  private rememberHash(n: bigint, hash: Uint8Array): void {
    this.recentHashes.set(n, hash);
    // Enough for the 256-block window around the head; the oldest entries go first.
    if (this.recentHashes.size > MAX_RECENT_HASHES) {
      const lowest = this.headBlock.header.number - BigInt(MAX_RECENT_HASHES);
      for (const k of this.recentHashes.keys()) if (k <= lowest) this.recentHashes.delete(k);
      if (this.recentHashes.size > MAX_RECENT_HASHES) this.recentHashes.clear();
    }
  }

  /**
   * BLOCKHASH's source for executing at height `number` (the block built or validated on the
   * head, or the block an eth_call or trace runs in): the canonical hash of each of the 256
   * blocks before `number`, and undefined (BLOCKHASH 0) for `number` itself, later heights
   * and anything more than 256 back, as Ethereum defines BLOCKHASH. Pass it as `blockHash`
   * to the executors (build, validate, execute, call paths).
   */
  blockHashLookup(number: bigint): (n: bigint) => Promise<Uint8Array | undefined> {
    return async (n) => (n >= number || n < number - 256n ? undefined : this.canonicalHash(n));
  }

  async isCanonical(block: Block): Promise<boolean> {
    const h = await this.db.canonicalHash(block.header.number);
    return h !== undefined && equalBytes(h, block.hash());
  }

  async receiptsOf(blockHash: Uint8Array): Promise<StoredReceipt[] | undefined> {
    const k = hex(blockHash);
    const hit = this.receipts.get(k);
    if (hit) return hit;
    const rlp = await this.db.receiptsRlp(blockHash);
    if (!rlp) return undefined;
    const r = decodeReceipts(rlp);
    this.receipts.set(k, r);
    return r;
  }

  async txLocation(txHash: Uint8Array): Promise<{ blockHash: Uint8Array; index: number } | undefined> {
    const v = await this.db.txLocation(txHash);
    if (!v) return undefined;
    const [h, i] = expectList(rlpDecode(v), "tx location", 2);
    return { blockHash: expectBytes(h, "block hash"), index: Number(bytesToBigInt(expectBytes(i, "index"))) };
  }

  async commitInfo(n: bigint): Promise<CommitInfo | undefined> {
    const v = await this.db.commitRlp(n);
    return v ? decodeCommitInfo(v) : undefined;
  }

  /**
   * Builds (and discards) an empty block on the head so the first real block
   * does not pay for loading and compiling the EVM in the executor's threads.
   */
  async warmUp(): Promise<void> {
    await this.parallel.ready();
    const head = this.headBlock;
    await this.parallel.build({
      parent: head,
      state: this.headState(),
      timestamp: head.header.timestamp + 1n,
      coinbase: new Uint8Array(20),
      blockHash: this.blockHashLookup(head.header.number + 1n),
    });
  }

  // --- Application -------------------------------------------------------------

  async prepareProposal(req: PrepareProposalRequest): Promise<ProposalBytes> {
    this.expectNextHeight(req.height);
    const parent = this.headBlock;
    const seconds = BigInt(Math.floor(req.timestampMs / 1000));
    // Timestamps strictly increase even with sub-second block times.
    const timestamp = seconds > parent.header.timestamp ? seconds : parent.header.timestamp + 1n;
    const exec = await this.parallel.build({
      parent,
      state: this.headState(),
      timestamp,
      coinbase: req.proposer,
      txs: this.txSource?.(parent.header.calcNextBaseFee()),
      deadlineMs: Date.now() + 500,
      blockHash: this.blockHashLookup(parent.header.number + 1n),
    });
    for (const r of exec.rejected)
      this.logger.debug("builder dropped tx", { hash: bytesToHex(r.hash), reason: r.reason });
    const bytes = encodeProposal(exec.block, exec.accessList);
    if (bytes.length > req.maxBytes) {
      throw new MeridianError(`proposal of ${bytes.length} bytes exceeds ${req.maxBytes}`, {
        code: "PROPOSAL_TOO_LARGE",
      });
    }
    this.executed.set(hex(exec.block.hash()), exec);
    return bytes;
  }

  async processProposal(height: bigint, proposal: ProposalBytes): Promise<ProcessProposalResult> {
    try {
      this.expectNextHeight(height);
      const exec = await this.executeProposal(proposal);
      return { accept: true, blockHash: exec.block.hash() };
    } catch (err) {
      return { accept: false, reason: (err as Error).message };
    }
  }

  private async executeProposal(proposal: ProposalBytes): Promise<ExecutedBlock> {
    let decoded: ReturnType<typeof decodeProposal>;
    try {
      decoded = decodeProposal(proposal, this.common);
    } catch (err) {
      throw new MeridianError("malformed proposal", { code: "INVALID_BLOCK", cause: err });
    }
    const { block, accessList, accessListRlp } = decoded;
    const known = this.executed.get(hex(block.hash()));
    if (known) return known;
    const parent = this.headBlock;
    const exec = await this.parallel.validate(block, accessList, parent, this.headState(), {
      accessListRlp,
      blockHash: this.blockHashLookup(parent.header.number + 1n),
    });
    this.executed.set(hex(block.hash()), exec);
    return exec;
  }

  async finalizeBlock(height: bigint, proposal: ProposalBytes, commit: CommitInfo): Promise<FinalizedBlock> {
    this.expectNextHeight(height);
    const exec = await this.executeProposal(proposal);
    this.finalized = { exec, commit };
    return summary(exec);
  }

  async commit(): Promise<FinalizedBlock> {
    const f = this.finalized;
    if (!f) throw new MeridianError("commit without a finalised block", { code: "NOTHING_TO_COMMIT" });
    const { exec, commit } = f;
    const block = exec.block;
    const hash = block.hash();
    const number = block.header.number;
    const batch = this.db.batch();
    const { cacheUpdate } = await exec.state.writeTo(batch);
    // Bytes and hashes from the block as received: a validated proposal's transaction objects
    // are built only if something asks for them (see decodeProposal).
    batch.putBlock(hash, blockBytes(block));
    batch.putCanonical(number, hash);
    batch.putReceipts(hash, encodeReceipts(exec.receipts));
    const logKeys = new Map<string, Uint8Array>();
    transactionHashes(block).forEach((txHash, i) => {
      batch.putTxLocation(txHash, rlpEncode([hash, bigIntToBytes(BigInt(i))]));
    });
    for (const r of exec.receipts) {
      for (const log of r.logs) {
        logKeys.set(hex(log.address), log.address);
        for (const t of log.topics) logKeys.set(hex(t), t);
      }
    }
    if (logKeys.size > 0) batch.putLogIndex(number, logKeys.values());
    batch.putCommit(number, encodeCommitInfo(commit));
    batch.setHead({ number, hash });
    await this.db.write(batch);
    // Only after the batch is durable do memory views move to the new block.
    this.store.applyCommitted(cacheUpdate);
    this.headBlock = block;
    this.rememberHash(number, hash);
    this.blocks.set(hex(hash), block);
    this.receipts.set(hex(hash), exec.receipts);
    this.executed.clear();
    this.finalized = undefined;
    this.emit("committed", { block, receipts: exec.receipts, senders: exec.senders, commit });
    return summary(exec);
  }

  private expectNextHeight(height: bigint): void {
    const want = this.headBlock.header.number + 1n;
    if (height !== want) {
      throw new MeridianError(`height ${height} is not the next height ${want}`, { code: "WRONG_HEIGHT" });
    }
  }

  async close(): Promise<void> {
    await this.parallel.close();
    await this.db.close();
  }
}

/** What the genesis header does not commit to but consensus depends on: chain id, fork, validators. */
function chainIdentity(spec: GenesisSpec): Uint8Array {
  return rlpEncode([
    bigIntToBytes(spec.chainId),
    spec.hardfork,
    spec.validators.map((v) => [v.address, bigIntToBytes(v.power)]),
  ]);
}

function summary(exec: ExecutedBlock): FinalizedBlock {
  return {
    height: exec.block.header.number,
    hash: exec.block.hash(),
    txCount: transactionCount(exec.block),
    gasUsed: exec.block.header.gasUsed,
  };
}
