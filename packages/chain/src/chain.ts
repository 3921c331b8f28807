/**
 * The chain: committed blocks, receipts and state on disk, and the
 * application interface consensus drives (prepare / process / finalise /
 * commit). One writer: every block lands in one atomic batch in `commit`.
 */
import { EventEmitter } from "node:events";
import { type Block, type BlockHeader, paramsBlock } from "@ethereumjs/block";
import type { Common, StateManagerInterface } from "@ethereumjs/common";
import { Address } from "@ethereumjs/util";
import {
  EpochValidatorSets,
  evidenceKey,
  ValidatorSet,
  type ValidatorUpdate,
  verifyCommit,
} from "@meridian/consensus";
import {
  blockBytes,
  buildGenesis,
  chainCommon,
  decodeBlock,
  decodeProposal,
  decodeReceipts,
  type ExecutedBlock,
  encodeProposal,
  encodeReceipts,
  type GenesisSpec,
  hardforkAt,
  ParallelExecutor,
  SequentialExecutor,
  type StakingBlockCalls,
  type StoredReceipt,
  type TxSource,
  transactionCount,
  transactionHashes,
} from "@meridian/executor";
import {
  type AppInfo,
  type Application,
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  type CommitInfo,
  cappedVotingPower,
  type DuplicateVoteMisbehavior,
  equalBytes,
  expectBytes,
  expectList,
  type FinalizeBlockRequest,
  type FinalizeBlockResult,
  type FinalizedBlock,
  hexKey as hex,
  type Logger,
  MeridianError,
  type PrepareProposalRequest,
  type ProcessProposalRequest,
  type ProposalBytes,
  type RlpDecoded,
  type RlpInput,
  rlpDecode,
  rlpEncode,
  type SignedVoteData,
} from "@meridian/primitives";
import { arrayDataSlot, mappingSlot, STAKING_ADDRESS, stakingStorageLayout } from "@meridian/staking";
import { FlatStateManager, FlatStateStore, historicalState } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import type { ChainReader, ChainValidator } from "./reader.ts";

/** Canonical hashes Chain keeps in memory: the BLOCKHASH window (256) with room to spare. */
const MAX_RECENT_HASHES = 512;

export type CommittedBlock = {
  block: Block;
  receipts: StoredReceipt[];
  senders: Uint8Array[];
  commit: CommitInfo;
  /** From the first build or validation of this height's block to its commit being durable. */
  seconds: number;
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

/** A signed vote inside stored misbehaviour: [type, height, round, valueId ("" = nil), validator, signature]. */
function encodeVoteData(v: SignedVoteData): RlpInput {
  return [
    bigIntToBytes(BigInt(v.type)),
    bigIntToBytes(v.height),
    bigIntToBytes(BigInt(v.round)),
    v.valueId ?? new Uint8Array(0),
    v.validator,
    v.signature,
  ];
}

function decodeVoteData(item: RlpDecoded): SignedVoteData {
  const [t, h, r, id, validator, signature] = expectList(item, "vote", 6);
  const type = Number(bytesToBigInt(expectBytes(t, "type")));
  if (type !== 1 && type !== 2) throw new MeridianError(`stored vote type ${type}`, { code: "CORRUPT_DB" });
  const valueId = expectBytes(id, "valueId");
  return {
    type,
    height: bytesToBigInt(expectBytes(h, "height")),
    round: Number(bytesToBigInt(expectBytes(r, "round"))),
    valueId: valueId.length === 0 ? null : valueId,
    validator: expectBytes(validator, "validator"),
    signature: expectBytes(signature, "signature"),
  };
}

/**
 * RLP([height, round, proposer, [[validator, signature, 0]…], valueId?, [[voteA, voteB]…]?]).
 * The signature's third field (a timestamp, always 0) keeps the format blocks were first
 * stored with; blocks from before consensus have only the first four fields.
 */
export function encodeCommitInfo(c: CommitInfo): Uint8Array {
  const misbehavior = c.misbehavior ?? [];
  const tail: RlpInput[] = [];
  if (c.valueId !== undefined || misbehavior.length > 0) tail.push(c.valueId ?? new Uint8Array(0));
  if (misbehavior.length > 0)
    tail.push(misbehavior.map((m) => [encodeVoteData(m.voteA), encodeVoteData(m.voteB)]));
  return rlpEncode([
    bigIntToBytes(c.height),
    bigIntToBytes(BigInt(c.round)),
    c.proposer,
    c.signatures.map((s) => [s.validator, s.signature, new Uint8Array(0)]),
    ...tail,
  ]);
}

export function decodeCommitInfo(bytes: Uint8Array): CommitInfo {
  const fields = expectList(rlpDecode(bytes), "commit info");
  if (fields.length < 4 || fields.length > 6)
    throw new MeridianError(`commit info: expected 4 to 6 fields, got ${fields.length}`, {
      code: "CORRUPT_DB",
    });
  const [h, r, p, sigs, valueIdField, misbehaviorField] = fields;
  const info: CommitInfo = {
    height: bytesToBigInt(expectBytes(h, "height")),
    round: Number(bytesToBigInt(expectBytes(r, "round"))),
    proposer: expectBytes(p, "proposer"),
    signatures: expectList(sigs as RlpDecoded, "signatures").map((s) => {
      const [v, sig] = expectList(s, "signature", 3);
      return { validator: expectBytes(v, "validator"), signature: expectBytes(sig, "signature") };
    }),
  };
  if (valueIdField !== undefined) {
    const valueId = expectBytes(valueIdField, "valueId");
    if (valueId.length > 0) info.valueId = valueId;
  }
  if (misbehaviorField !== undefined)
    info.misbehavior = expectList(misbehaviorField, "misbehavior").map((m) => {
      const [a, b] = expectList(m, "evidence", 2);
      return { voteA: decodeVoteData(a as RlpDecoded), voteB: decodeVoteData(b as RlpDecoded) };
    });
  return info;
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

/** What a staking chain's Chain needs beside a proposal's bytes (which carry the last commit). */
export type StakingProposalInputs = {
  /** Verified equivocations the consensus value carries (its validator layer checked them). */
  misbehavior?: readonly DuplicateVoteMisbehavior[];
};

const STAKING_ADDRESS_BYTES = Buffer.from(STAKING_ADDRESS.slice(2), "hex");
/** Meta key of the validator-set updates epochs made (EpochValidatorSets.encode). */
const VALIDATOR_UPDATES_META = "validatorUpdates";

const layoutSlot = (label: string): bigint => {
  const entry = stakingStorageLayout.storage.find((e) => e.label === label);
  if (!entry) throw new MeridianError(`staking storage layout has no ${label}`, { code: "INTERNAL" });
  return BigInt(entry.slot);
};
/** A storage slot as the 32-byte key the state manager takes. */
const slotBytes = (slot: bigint): Uint8Array => Buffer.from(slot.toString(16).padStart(64, "0"), "hex");

/**
 * The staking contract's active set as getValidators() returns it (signers in order, power),
 * read from storage: the post-state of a block not yet committed cannot run a call without
 * changing it, and the layout is the artifact's. Each power is capped (cappedVotingPower) so the
 * set stays within what consensus weighs exactly however much is staked later: issuance adds to
 * the supply the genesis check saw.
 */
async function readActiveSet(
  state: StateManagerInterface,
  maxValidators: number,
): Promise<ValidatorUpdate[]> {
  const contract = new Address(STAKING_ADDRESS_BYTES);
  const word = async (slot: bigint) => bytesToBigInt(await state.getStorage(contract, slotBytes(slot)));
  const signersSlot = layoutSlot("_activeSigners");
  const powerSlot = layoutSlot("activePower");
  const length = await word(signersSlot);
  const data = arrayDataSlot(signersSlot);
  const out: ValidatorUpdate[] = [];
  for (let i = 0n; i < length; i++) {
    const signer = await word(data + i);
    const address = Buffer.from(signer.toString(16).padStart(40, "0"), "hex");
    out.push({
      address,
      power: cappedVotingPower(await word(mappingSlot(signer, powerSlot)), maxValidators),
    });
  }
  return out;
}

/** How long before a scheduled fork its executor threads are started. */
const NEXT_FORK_WARM_UP_S = 120n;

/** EIP-7825's per-transaction gas cap (Osaka). */
const MAX_TX_GAS_EIP7825 = 2n ** 24n;

/** What the chain needs of one fork: its Common and its executors (made when first needed). */
type ForkRules = {
  hardfork: string;
  common: Common;
  executor: SequentialExecutor;
  parallel?: ParallelExecutor;
};

/** The reference executor's calls, each run by the executor of its block's fork. */
export type ForkedExecutor = Pick<SequentialExecutor, "call" | "estimateGas" | "replay">;

export class Chain extends EventEmitter<ChainEvents> implements Application, ChainReader {
  readonly db: ChainDatabase;
  readonly store: FlatStateStore;
  /** Reference executor: eth_call, gas estimation, traces, each at its block's fork. */
  readonly executor: ForkedExecutor;
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
  /** The staking system-call inputs of those proposals (persisted at commit, for traces). */
  private readonly stakingByBlock = new Map<string, StakingBlockCalls>();
  private finalized:
    | { exec: ExecutedBlock; commit: CommitInfo; validatorUpdates: readonly ValidatorUpdate[] }
    | undefined;
  /** performance.now() when the next height's first proposal was built or validated. */
  private heightStartedMs: number | undefined;
  txSource: ((baseFee: bigint) => TxSource) | undefined;
  /** Per fork of the schedule: its Common and executors. */
  private readonly forks = new Map<string, ForkRules>();
  private readonly parallelOptions: ConstructorParameters<typeof ParallelExecutor>[1];
  /** Decodes stored and proposed blocks at the fork of their timestamp. */
  private readonly commonAt = (timestamp: bigint): Common => this.rulesAt(timestamp).common;
  /**
   * Each height's validator set: what a staking chain checks a proposal's last commit against
   * (the genesis set at every height until epochs change it).
   */
  readonly validatorSets: EpochValidatorSets;

  private constructor(
    db: ChainDatabase,
    spec: GenesisSpec,
    head: Block,
    genesisHash: Uint8Array,
    opts: ChainOptions,
    validatorUpdates: [bigint, ValidatorUpdate[]][] = [],
  ) {
    super();
    this.db = db;
    this.store = new FlatStateStore(db);
    this.spec = spec;
    const workers = opts.workers;
    this.parallelOptions = {
      ...(workers === undefined ? {} : { workers }),
      logger: opts.logger.child({ module: "executor" }),
    };
    const at = (block: Block) => this.rulesAt(block.header.timestamp);
    // From Osaka on a transaction may not use more than EIP-7825's 2^24 gas: calls and
    // estimates are capped there too, as geth caps them.
    const capped = (block: Block, cap: bigint) =>
      at(block).common.isActivatedEIP(7825) && cap > MAX_TX_GAS_EIP7825 ? MAX_TX_GAS_EIP7825 : cap;
    this.executor = {
      call: (req, block, state, callOpts) =>
        at(block).executor.call(req, block, state, { ...callOpts, gasCap: capped(block, callOpts.gasCap) }),
      estimateGas: (req, block, freshState, gasCap, timeoutMs) =>
        at(block).executor.estimateGas(req, block, freshState, capped(block, gasCap), timeoutMs),
      replay: (block, ...rest) => at(block).executor.replay(block, ...rest),
    };
    this.headBlock = head;
    this.genesisHash = genesisHash;
    this.logger = opts.logger;
    this.txSource = opts.txSource;
    this.validatorSets = new EpochValidatorSets(
      ValidatorSet.create(spec.validators.map((v) => ({ address: v.address, power: Number(v.power) }))),
      validatorUpdates,
    );
  }

  /**
   * Opens the chain database under `datadir/chaindata`; writes genesis on
   * first use and refuses a database made from another genesis.
   */
  static async open(opts: ChainOptions): Promise<Chain> {
    const db = await ChainDatabase.open(`${opts.datadir}/chaindata`);
    try {
      const common = chainCommon(opts.genesis);
      const commonAt = (timestamp: bigint) =>
        chainCommon({ chainId: opts.genesis.chainId, hardfork: hardforkAt(opts.genesis, timestamp) });
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
      const head = await db.head();
      const headRlp = head && (await db.blockRlp(head.hash));
      const wanted = chainIdentity(opts.genesis);
      const sameIdentity = identity !== undefined && equalBytes(identity, wanted);
      // A schedule may change for forks the head has not reached, as geth allows.
      const rescheduled =
        !sameIdentity &&
        identity !== undefined &&
        headRlp !== undefined &&
        sameBeforeHead(identity, opts.genesis, blockTimestamp(headRlp));
      if (!stored || !equalBytes(stored, genesisHash) || !(sameIdentity || rescheduled)) {
        throw new MeridianError("the data directory was initialised from a different genesis", {
          code: "GENESIS_MISMATCH",
          details: `database genesis ${stored ? bytesToHex(stored) : "(none)"}, genesis file ${bytesToHex(genesisHash)}; use the original genesis file or a new data directory`,
        });
      }
      if (!head || !headRlp) {
        throw new MeridianError("the database has no head block", { code: "DATADIR_CORRUPT" });
      }
      if (rescheduled) {
        const batch = db.batch();
        ChainDatabase.putMeta(batch, "chain", wanted);
        await db.write(batch);
        opts.logger.info("fork schedule changed for forks after the head", {
          schedule: opts.genesis.schedule.map((a) => `${a.hardfork}@${a.time}`).join(", "),
        });
      }
      const headBlock = decodeBlock(headRlp, commonAt);
      const updates = await db.meta(VALIDATOR_UPDATES_META);
      return new Chain(
        db,
        opts.genesis,
        headBlock,
        genesisHash,
        opts,
        updates ? EpochValidatorSets.decodeUpdates(updates) : [],
      );
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  get head(): Block {
    return this.headBlock;
  }

  /** The fork, Common and executors of a block with this timestamp (made on first use). */
  rulesAt(timestamp: bigint): ForkRules {
    const hardfork = hardforkAt(this.spec, timestamp);
    let rules = this.forks.get(hardfork);
    if (!rules) {
      const common = chainCommon({ chainId: this.spec.chainId, hardfork });
      // With the header parameters (blob gas schedule, ...), as a decoded block's Common has them.
      common.updateParams(paramsBlock);
      rules = { hardfork, common, executor: new SequentialExecutor(common) };
      this.forks.set(hardfork, rules);
    }
    return rules;
  }

  /** The parallel executor (and its worker threads) of the fork at `timestamp`. */
  parallelAt(timestamp: bigint): ParallelExecutor {
    const rules = this.rulesAt(timestamp);
    rules.parallel ??= new ParallelExecutor(rules.common, this.parallelOptions);
    return rules.parallel;
  }

  /** The earliest timestamp the next block can have: one after the head's. */
  private nextTimestamp(): bigint {
    const now = BigInt(Math.floor(Date.now() / 1000));
    const after = this.headBlock.header.timestamp + 1n;
    return now > after ? now : after;
  }

  /** The fork the next block will run (the pool admits and RPC decodes transactions by it). */
  get hardfork(): string {
    return hardforkAt(this.spec, this.nextTimestamp());
  }

  /** The Common of the next block's fork. */
  get common(): Common {
    return this.rulesAt(this.nextTimestamp()).common;
  }

  /** Builds and validates the next block, driven by block access lists. */
  get parallel(): ParallelExecutor {
    return this.parallelAt(this.nextTimestamp());
  }

  info(): AppInfo {
    const header = this.headBlock.header;
    return { height: header.number, blockHash: this.headBlock.hash(), appHash: header.stateRoot };
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
    const block = decodeBlock(rlp, this.commonAt);
    this.blocks.set(k, block);
    return block;
  }

  async headerByNumber(n: bigint): Promise<BlockHeader | undefined> {
    return (await this.blockByNumber(n))?.header;
  }

  /** No validator-set updates yet (staking does not feed finalizeBlock): every height has the genesis set. */
  validatorsAt(height: bigint): readonly ChainValidator[] {
    // Epochs of a staking chain change it; the genesis set otherwise.
    return this.validatorSets
      .at(height < 1n ? 1n : height)
      .validators.map((v) => ({ address: v.address, power: BigInt(v.power) }));
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

  /**
   * The staking calls the next block will most likely run (this node's commit of the head as
   * its last commit, no evidence): what an estimate at the head runs first. Undefined without
   * staking or when they cannot be derived.
   */
  async nextStakingCalls(): Promise<StakingBlockCalls | undefined> {
    if (!this.spec.staking) return undefined;
    const height = this.headBlock.header.number + 1n;
    try {
      return this.stakingCalls(height, height > 1n ? await this.commitInfo(height - 1n) : undefined, []);
    } catch {
      return undefined;
    }
  }

  /** The staking system calls block `n` ran (what a trace must replay before its transactions). */
  async stakingCallsOf(n: bigint): Promise<StakingBlockCalls | undefined> {
    if (!this.spec.staking) return undefined;
    const v = await this.db.meta(stakingCallsKey(n));
    return v ? decodeStakingCalls(v) : undefined;
  }

  async commitInfo(n: bigint): Promise<CommitInfo | undefined> {
    const v = await this.db.commitRlp(n);
    return v ? decodeCommitInfo(v) : undefined;
  }

  /**
   * The height of the committed block that recorded this equivocation, if one did. Read from the
   * database (written in the block's own batch), so a restarted validator still refuses a value
   * that would slash the same offence twice.
   */
  async evidenceRecordedAt(m: DuplicateVoteMisbehavior): Promise<bigint | undefined> {
    const v = await this.db.meta(evidenceMetaKey(m));
    return v ? bytesToBigInt(v) : undefined;
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
    this.heightStartedMs ??= performance.now();
    const parent = this.headBlock;
    const seconds = BigInt(Math.floor(req.timestampMs / 1000));
    // Timestamps strictly increase even with sub-second block times.
    const timestamp = seconds > parent.header.timestamp ? seconds : parent.header.timestamp + 1n;
    // A staking chain's block carries the previous height's commit (as Tendermint's LastCommit):
    // its signers are rewarded, its absentees recorded; and the fee recipient is the contract.
    const lastCommit =
      this.spec.staking && req.height > 1n ? await this.commitInfo(req.height - 1n) : undefined;
    const staking = this.stakingCalls(req.height, lastCommit, req.misbehavior ?? []);
    const exec = await this.parallelAt(timestamp).build({
      parent,
      state: this.headState(),
      timestamp,
      coinbase: staking ? STAKING_ADDRESS_BYTES : req.proposer,
      txs: this.txSource?.(parent.header.calcNextBaseFee()),
      deadlineMs: Date.now() + 500,
      blockHash: this.blockHashLookup(parent.header.number + 1n),
      ...(staking ? { staking } : {}),
    });
    for (const r of exec.rejected)
      this.logger.debug("builder dropped tx", { hash: bytesToHex(r.hash), reason: r.reason });
    const inner = encodeProposal(exec.block, exec.accessList);
    const bytes = this.spec.staking ? encodeStakingProposal(inner, lastCommit) : inner;
    if (bytes.length > req.maxBytes) {
      throw new MeridianError(`proposal of ${bytes.length} bytes exceeds ${req.maxBytes}`, {
        code: "PROPOSAL_TOO_LARGE",
      });
    }
    this.executed.set(hex(exec.block.hash()), exec);
    if (staking) this.stakingByBlock.set(hex(exec.block.hash()), staking);
    return bytes;
  }

  /**
   * A staking block's system-call inputs (packages/staking/README.md), from data every
   * validator checks identically: the carried last commit (verified against the previous
   * height's set: +2/3, valid signatures, the round's proposer) and the value's evidence.
   */
  private stakingCalls(
    height: bigint,
    lastCommit: CommitInfo | undefined,
    misbehavior: readonly DuplicateVoteMisbehavior[],
  ): StakingBlockCalls | undefined {
    const params = this.spec.staking?.params;
    if (!params) return undefined;
    const fail = (reason: string): never => {
      throw new MeridianError(`height ${height}: ${reason}`, { code: "INVALID_LAST_COMMIT" });
    };
    let proposer: Uint8Array = new Uint8Array(20);
    let signers: Uint8Array[] = [];
    let absent: Uint8Array[] = [];
    if (height > 1n) {
      if (!lastCommit) return fail("the proposal carries no last commit");
      if (lastCommit.height !== height - 1n) fail(`last commit is of height ${lastCommit.height}`);
      if (!lastCommit.valueId) return fail("last commit names no value");
      const set = this.validatorSets.at(height - 1n);
      verifyCommit(set, this.spec.chainId.toString(), {
        height: lastCommit.height,
        round: lastCommit.round,
        valueId: lastCommit.valueId,
        signatures: lastCommit.signatures,
      });
      if (!equalBytes(set.proposer(lastCommit.round), lastCommit.proposer))
        fail(
          `last commit names proposer ${bytesToHex(lastCommit.proposer)}, not round ${lastCommit.round}'s`,
        );
      signers = lastCommit.signatures.map((s) => s.validator);
      const signed = new Set(signers.map((a) => hex(a)));
      absent = set.validators.filter((v) => !signed.has(hex(v.address))).map((v) => v.address);
      proposer = lastCommit.proposer;
    }
    // One slash per offender however many equivocations the value carries.
    const offenders = new Map<string, Uint8Array>();
    for (const m of misbehavior) offenders.set(hex(m.voteA.validator), m.voteA.validator);
    return {
      issuance: params.issuancePerBlock,
      proposer,
      signers,
      absent,
      offenders: [...offenders.values()],
      endEpoch: height % params.epochLength === 0n,
    };
  }

  async processProposal(
    req: ProcessProposalRequest & StakingProposalInputs,
  ): Promise<{ accept: true; blockHash: Uint8Array } | { accept: false; reason: string }> {
    const { proposer } = req;
    try {
      this.expectNextHeight(req.height);
      const exec = await this.executeProposal(req.height, req.value, req.misbehavior ?? []);
      // The block's miner is the validator that proposed it (fees and the commit agree); on a
      // staking chain it is the staking contract, which splits the fees.
      const coinbase = exec.block.header.coinbase.bytes;
      const miner = this.spec.staking ? STAKING_ADDRESS_BYTES : proposer;
      if (!equalBytes(coinbase, miner)) {
        return {
          accept: false,
          reason: `coinbase ${bytesToHex(coinbase)} is not ${this.spec.staking ? "the staking contract" : `the proposer ${bytesToHex(proposer)}`}`,
        };
      }
      return { accept: true, blockHash: exec.block.hash() };
    } catch (err) {
      return { accept: false, reason: (err as Error).message };
    }
  }

  private async executeProposal(
    height: bigint,
    proposal: ProposalBytes,
    misbehavior: readonly DuplicateVoteMisbehavior[],
  ): Promise<ExecutedBlock> {
    let decoded: ReturnType<typeof decodeProposal>;
    let lastCommit: CommitInfo | undefined;
    try {
      let inner = proposal;
      if (this.spec.staking) ({ inner, lastCommit } = decodeStakingProposal(proposal));
      decoded = decodeProposal(inner, this.commonAt);
    } catch (err) {
      throw new MeridianError("malformed proposal", { code: "INVALID_BLOCK", cause: err });
    }
    const { block, accessList, accessListRlp } = decoded;
    if (block.header.number !== height)
      throw new MeridianError(`proposal of block ${block.header.number} at height ${height}`, {
        code: "INVALID_BLOCK",
      });
    // The carried commit is checked even for a block already executed (another round's value).
    const staking = this.stakingCalls(height, lastCommit, misbehavior);
    // The same block hash means the same post-state, whatever inputs produced it.
    const known = this.executed.get(hex(block.hash()));
    if (known) return known;
    this.heightStartedMs ??= performance.now();
    const parent = this.headBlock;
    const exec = await this.parallelAt(block.header.timestamp).validate(
      block,
      accessList,
      parent,
      this.headState(),
      {
        accessListRlp,
        blockHash: this.blockHashLookup(parent.header.number + 1n),
        ...(staking ? { staking } : {}),
      },
    );
    this.executed.set(hex(block.hash()), exec);
    if (staking) this.stakingByBlock.set(hex(block.hash()), staking);
    return exec;
  }

  /**
   * The decision with its commit and misbehaviour. At the last block of a staking epoch the
   * result carries the contract's new active set (after endEpoch) as updates to the set of
   * this height: the driver applies them from the next height.
   */
  async finalizeBlock(req: FinalizeBlockRequest): Promise<FinalizedBlock & FinalizeBlockResult> {
    this.expectNextHeight(req.height);
    const exec = await this.executeProposal(req.height, req.value, req.misbehavior);
    const commit: CommitInfo = {
      height: req.height,
      round: req.round,
      proposer: req.proposer,
      valueId: req.commit.valueId,
      signatures: req.commit.signatures.map((s) => ({ validator: s.validator, signature: s.signature })),
    };
    if (req.misbehavior.length > 0) commit.misbehavior = req.misbehavior;
    const params = this.spec.staking?.params;
    let validatorUpdates: ValidatorUpdate[] = [];
    if (params && req.height % params.epochLength === 0n) {
      const active = await readActiveSet(exec.state, params.maxValidators);
      // An empty set could never commit again: every validator keeps its power instead (the
      // same on every node, it is the contract's state); the contract's view catches up when
      // a validator unjails or registers and the next epoch selects it.
      if (active.length > 0) validatorUpdates = setChanges(this.validatorSets.at(req.height), active);
      else
        this.logger.warn("the staking contract selected no validator; the set stays", { height: req.height });
    }
    this.finalized = { exec, commit, validatorUpdates };
    return { ...summary(exec), validatorUpdates };
  }

  async commit(height?: bigint): Promise<FinalizedBlock> {
    const f = this.finalized;
    if (!f) throw new MeridianError("commit without a finalised block", { code: "NOTHING_TO_COMMIT" });
    if (height !== undefined && height !== f.exec.block.header.number)
      throw new MeridianError(`commit of height ${height}, finalised ${f.exec.block.header.number}`, {
        code: "WRONG_HEIGHT",
      });
    const { exec, commit, validatorUpdates } = f;
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
    for (const m of commit.misbehavior ?? [])
      ChainDatabase.putMeta(batch, evidenceMetaKey(m), bigIntToBytes(number));
    const staking = this.stakingByBlock.get(hex(hash));
    if (staking) ChainDatabase.putMeta(batch, stakingCallsKey(number), encodeStakingCalls(staking));
    // The set a restarted node resumes with: the updates are stored with the block that made them.
    if (validatorUpdates.length > 0) {
      this.validatorSets.record(number, validatorUpdates);
      ChainDatabase.putMeta(batch, VALIDATOR_UPDATES_META, this.validatorSets.encode());
    }
    batch.setHead({ number, hash });
    await this.db.write(batch);
    // Only after the batch is durable do memory views move to the new block.
    this.store.applyCommitted(cacheUpdate);
    this.headBlock = block;
    this.rememberHash(number, hash);
    this.blocks.set(hex(hash), block);
    this.receipts.set(hex(hash), exec.receipts);
    this.executed.clear();
    this.stakingByBlock.clear();
    this.finalized = undefined;
    this.retireForksBefore(block);
    this.prepareNextFork(block);
    const seconds = (performance.now() - (this.heightStartedMs ?? performance.now())) / 1000;
    this.heightStartedMs = undefined;
    this.emit("committed", { block, receipts: exec.receipts, senders: exec.senders, commit, seconds });
    return summary(exec);
  }

  private expectNextHeight(height: bigint): void {
    const want = this.headBlock.header.number + 1n;
    if (height !== want) {
      throw new MeridianError(`height ${height} is not the next height ${want}`, { code: "WRONG_HEIGHT" });
    }
  }

  /**
   * Once the head runs a later fork no block of an earlier one is built or validated again:
   * their parallel executors' worker threads are closed (the sequential ones stay for
   * calls and traces at old blocks).
   */
  private retireForksBefore(head: Block): void {
    const current = hardforkAt(this.spec, head.header.timestamp);
    const order = [this.spec.hardfork, ...this.spec.schedule.map((a) => a.hardfork)];
    for (const rules of this.forks.values()) {
      // Only earlier forks: the next one's executor may already be warming up.
      if (order.indexOf(rules.hardfork) >= order.indexOf(current) || !rules.parallel) continue;
      const retired = rules.parallel;
      rules.parallel = undefined;
      this.logger.info("fork activated", { hardfork: current, number: head.header.number });
      retired.close().catch((err) => this.logger.warn("closing an earlier fork's executor failed", {}, err));
    }
  }

  /**
   * Starts the next fork's parallel executor (its worker threads load the EVM) once its
   * activation is near, so the first block of the fork is not built against a cold pool and
   * the builder's deadline.
   */
  private prepareNextFork(head: Block): void {
    const now = head.header.timestamp;
    const next = this.spec.schedule.find((a) => a.time > now);
    if (!next || next.time - now > NEXT_FORK_WARM_UP_S || this.rulesAt(next.time).parallel) return;
    this.parallelAt(next.time)
      .ready()
      .catch((err) => this.logger.warn("starting the next fork's executor failed", {}, err));
  }

  async close(): Promise<void> {
    for (const rules of this.forks.values()) await rules.parallel?.close();
    await this.db.close();
  }
}

/** A block's timestamp (header field 11) from its RLP. */
function blockTimestamp(rlp: Uint8Array): bigint {
  const [header] = expectList(rlpDecode(rlp), "block");
  return bytesToBigInt(expectBytes(expectList(header as never, "header")[11], "timestamp"));
}

/**
 * Whether a stored chain identity and `spec` describe the same chain up to `headTime`: the same
 * chain id, genesis fork and validators, and the same activations at or before the head. Only
 * forks still ahead may be added, moved or dropped.
 */
function sameBeforeHead(stored: Uint8Array, spec: GenesisSpec, headTime: bigint): boolean {
  let fields: ReturnType<typeof expectList>;
  try {
    fields = expectList(rlpDecode(stored), "chain identity");
  } catch {
    return false;
  }
  const [chainId, hardfork, validators, schedule] = fields;
  const base = rlpEncode([chainId, hardfork, validators] as RlpInput[]);
  if (!equalBytes(base, chainIdentity({ ...spec, schedule: [] }))) return false;
  const past = (list: { hardfork: string; time: bigint }[]) =>
    list
      .filter((a) => a.time <= headTime)
      .map((a) => `${a.hardfork}@${a.time}`)
      .join();
  let storedSchedule: { hardfork: string; time: bigint }[] = [];
  try {
    storedSchedule = (schedule === undefined ? [] : expectList(schedule, "schedule")).map((a) => {
      const [fork, time] = expectList(a, "activation", 2);
      return {
        hardfork: new TextDecoder().decode(expectBytes(fork, "fork")),
        time: bytesToBigInt(expectBytes(time, "time")),
      };
    });
  } catch {
    return false;
  }
  return past(storedSchedule) === past(spec.schedule);
}

/**
 * What the genesis header does not commit to but consensus depends on: chain id, fork,
 * validators, and the fork schedule when there is one (a chain without one keeps the
 * three-field identity its datadir was written with).
 */
function chainIdentity(spec: GenesisSpec): Uint8Array {
  const identity: RlpInput[] = [
    bigIntToBytes(spec.chainId),
    spec.hardfork,
    spec.validators.map((v) => [v.address, bigIntToBytes(v.power)]),
  ];
  if (spec.schedule.length > 0) identity.push(spec.schedule.map((a) => [a.hardfork, bigIntToBytes(a.time)]));
  return rlpEncode(identity);
}

function summary(exec: ExecutedBlock): FinalizedBlock {
  return {
    height: exec.block.header.number,
    hash: exec.block.hash(),
    txCount: transactionCount(exec.block),
    gasUsed: exec.block.header.gasUsed,
  };
}

/**
 * A staking chain's proposal: RLP([executor proposal (block + access list), last commit]),
 * the last commit as stored (encodeCommitInfo) or empty at height 1.
 */
export function encodeStakingProposal(inner: Uint8Array, lastCommit: CommitInfo | undefined): Uint8Array {
  const { misbehavior: _evidenceTravelsInTheValue, ...commit } = lastCommit ?? { misbehavior: undefined };
  return rlpEncode([inner, lastCommit ? encodeCommitInfo(commit as CommitInfo) : new Uint8Array(0)]);
}

export function decodeStakingProposal(bytes: Uint8Array): { inner: Uint8Array; lastCommit?: CommitInfo } {
  const [inner, commit] = expectList(rlpDecode(bytes), "staking proposal", 2);
  const commitBytes = expectBytes(commit as RlpDecoded, "last commit");
  const out: { inner: Uint8Array; lastCommit?: CommitInfo } = {
    inner: expectBytes(inner as RlpDecoded, "proposal"),
  };
  if (commitBytes.length > 0) out.lastCommit = decodeCommitInfo(commitBytes);
  return out;
}

/** The updates that turn `current` into `next` (power 0 removes); none when they are equal. */
export function setChanges(current: ValidatorSet, next: readonly ValidatorUpdate[]): ValidatorUpdate[] {
  const wanted = new Map(next.map((v) => [hex(v.address), v]));
  const updates: ValidatorUpdate[] = [];
  for (const v of current.validators)
    if (!wanted.has(hex(v.address))) updates.push({ address: v.address, power: 0 });
  for (const v of next) if (current.powerOf(v.address) !== v.power) updates.push(v);
  return updates;
}

const stakingCallsKey = (n: bigint): string => `stakingCalls:${n}`;
/** Where the height that recorded an equivocation is kept: one entry per (validator, height, round, type). */
const evidenceMetaKey = (m: DuplicateVoteMisbehavior): string => `evidence:${evidenceKey(m)}`;

/** RLP([issuance, proposer, [signer…], [absent…], [offender…], endEpoch]). */
export function encodeStakingCalls(c: StakingBlockCalls): Uint8Array {
  return rlpEncode([
    bigIntToBytes(c.issuance),
    c.proposer,
    c.signers,
    c.absent,
    c.offenders,
    bigIntToBytes(c.endEpoch ? 1n : 0n),
  ]);
}

export function decodeStakingCalls(bytes: Uint8Array): StakingBlockCalls {
  const [issuance, proposer, signers, absent, offenders, endEpoch] = expectList(
    rlpDecode(bytes),
    "staking calls",
    6,
  );
  const addresses = (item: RlpDecoded | undefined, what: string) =>
    expectList(item as RlpDecoded, what).map((a) => expectBytes(a, what));
  return {
    issuance: bytesToBigInt(expectBytes(issuance as RlpDecoded, "issuance")),
    proposer: expectBytes(proposer as RlpDecoded, "proposer"),
    signers: addresses(signers, "signers"),
    absent: addresses(absent, "absent"),
    offenders: addresses(offenders, "offenders"),
    endEpoch: bytesToBigInt(expectBytes(endEpoch as RlpDecoded, "endEpoch")) === 1n,
  };
}
