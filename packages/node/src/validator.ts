/**
 * Runs this node's validator: the BFT consensus driver over the Chain (the Application), the
 * validator key behind the double-sign-safe signer, and the WAL and signer state in the
 * datadir. With no p2p yet the transport reaches no peer: a one-validator devnet decides
 * alone, and a key that is not in the genesis set cannot follow anyone, so it is refused.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Chain } from "@meridian/chain";
import {
  ConsensusDriver,
  type ConsensusMetrics,
  type ConsensusParams,
  type DuplicateVoteEvidence,
  decodeEvidence,
  defaultConsensusParams,
  EvidencePool,
  encodeEvidence,
  evidenceKey,
  exportSigningState,
  FileSignerStateStore,
  FileWal,
  importSigningState,
  recoverVote,
  Signer,
  SystemScheduler,
  type Transport,
  ValidatorSet,
  type ValidatorSetSource,
  verifyEvidence,
} from "@meridian/consensus";
import {
  type AppInfo,
  type Application,
  bytesToHex,
  type ChainParams,
  type DuplicateVoteMisbehavior,
  expectBytes,
  expectList,
  type FinalizeBlockRequest,
  type FinalizeBlockResult,
  type Logger,
  MeridianError,
  type PrepareProposalRequest,
  type ProcessProposalRequest,
  type ProcessProposalResult,
  type RlpDecoded,
  rlpDecode,
  rlpEncode,
} from "@meridian/primitives";

/** Where a validator keeps its consensus files inside the datadir. */
export function consensusPaths(datadir: string): {
  dir: string;
  signerState: string;
  walDir: string;
  wal: string;
} {
  const dir = join(datadir, "consensus");
  const walDir = join(dir, "wal");
  return { dir, signerState: join(dir, "signer-state.json"), walDir, wal: join(walDir, "wal") };
}

/** The consensus chain id: the EVM chain id in decimal, so votes of two chains never mix. */
export function consensusChainId(genesis: Pick<ChainParams, "chainId">): string {
  return genesis.chainId.toString();
}

/** The genesis validators as consensus' set (height 1). */
export function genesisValidatorSet(genesis: Pick<ChainParams, "validators">): ValidatorSet {
  return ValidatorSet.create(genesis.validators.map((v) => ({ address: v.address, power: Number(v.power) })));
}

/** The default timeouts with the commit timeout set to the block time: it gives the cadence. */
export function consensusParamsFor(
  blockTimeMs: number,
  timeouts: ChainParams["timeouts"] = {},
): ConsensusParams {
  return { ...defaultConsensusParams, ...timeouts, commit: { baseMs: blockTimeMs, deltaMs: 0 } };
}

export type ValidatorOptions = {
  chain: Chain;
  /** The genesis' chain and consensus parameters (chain id, validators). */
  genesis: ChainParams;
  datadir: string;
  privateKey: Uint8Array;
  blockTimeMs: number;
  /** False: the proposer waits for a pending transaction before it proposes (CometBFT create_empty_blocks = false). */
  emptyBlocks: boolean;
  /** Whether the mempool has a transaction to include (asked only with empty blocks off). */
  hasPendingTransactions?: () => boolean;
  logger: Logger;
  /** Peers; none until p2p exists. */
  transport?: Transport;
  /** Dropped-message counters (the node's prom-client registry). */
  metrics?: ConsensusMetrics;
  /** Timeouts; default: `consensusParamsFor(blockTimeMs, genesis.timeouts)`. */
  params?: ConsensusParams;
};

export type RunningValidator = {
  readonly driver: ConsensusDriver;
  readonly address: Uint8Array;
  readonly evidencePool: EvidencePool;
  stop(): Promise<void>;
};

/** Upper bound on an encoded proposal; far above a 30M-gas block. */
const MAX_PROPOSAL_BYTES = 16 * 1024 * 1024;
/** How often a proposer with nothing to propose looks at the pool again. */
const EMPTY_POOL_POLL_MS = 25;
/** Equivocations one value may carry. */
export const MAX_EVIDENCE_PER_VALUE = 64;
/** Evidence older than this many heights is neither admitted to the pool nor accepted in a value. */
export const EVIDENCE_MAX_AGE_HEIGHTS = 100_000n;

const noPeers: Transport = { broadcast() {}, send() {} };

/**
 * A consensus value: RLP([chain proposal, [evidence…]]). The chain's proposal (block and
 * access list) is opaque here; the evidence list is consensus' wire encoding of each
 * equivocation (`encodeEvidence`), so every validator records the same misbehaviour.
 */
export function encodeValue(proposal: Uint8Array, evidence: readonly DuplicateVoteMisbehavior[]): Uint8Array {
  return rlpEncode([proposal, evidence.map((e) => encodeEvidence(e as DuplicateVoteEvidence))]);
}

/** Splits a value into the chain's proposal and its evidence; signatures are recovered, not yet verified. */
export function decodeValue(
  chainId: string,
  value: Uint8Array,
): { proposal: Uint8Array; evidence: DuplicateVoteEvidence[] } {
  let fields: RlpDecoded[];
  try {
    fields = expectList(rlpDecode(value), "consensus value", 2);
  } catch (err) {
    throw new MeridianError("malformed consensus value", { code: "INVALID_BLOCK", cause: err });
  }
  const proposal = expectBytes(fields[0] as RlpDecoded, "proposal");
  const items = expectList(fields[1] as RlpDecoded, "evidence");
  if (items.length > MAX_EVIDENCE_PER_VALUE)
    throw new MeridianError(`value carries ${items.length} evidence, at most ${MAX_EVIDENCE_PER_VALUE}`, {
      code: "INVALID_BLOCK",
    });
  const evidence = items.map((item) => {
    const raw = decodeEvidence(expectBytes(item, "evidence"));
    return { voteA: recoverVote(chainId, raw.voteA), voteB: recoverVote(chainId, raw.voteB) };
  });
  return { proposal, evidence };
}

/**
 * The Chain as the driver sees it, plus what a validator adds: values carry the pending
 * evidence (checked by every validator in processProposal and recorded by finalizeBlock);
 * with empty blocks off the proposer waits for a pending transaction; finalize and commit
 * calls are tracked so `stop` can wait for a block being written before the database closes.
 */
export class ValidatorApplication implements Application {
  private stopped = false;
  private readonly work = new Set<Promise<unknown>>();
  private readonly opts: ValidatorOptions;
  private readonly chainId: string;
  private readonly validatorSets: ValidatorSetSource;
  private readonly evidencePool: EvidencePool | undefined;
  constructor(
    opts: ValidatorOptions,
    chainId: string,
    validatorSets: ValidatorSetSource,
    evidencePool?: EvidencePool,
  ) {
    this.opts = opts;
    this.chainId = chainId;
    this.validatorSets = validatorSets;
    this.evidencePool = evidencePool;
  }

  info(): AppInfo {
    return this.opts.chain.info();
  }

  lastCommittedHeight(): bigint {
    return this.opts.chain.lastCommittedHeight();
  }

  async prepareProposal(req: PrepareProposalRequest): Promise<Uint8Array> {
    const { chain, emptyBlocks, hasPendingTransactions } = this.opts;
    // Evidence of this height (an earlier round's equivocation) is refused in this height's
    // values (checkEvidence): it waits for the next height's.
    const evidence: DuplicateVoteEvidence[] = [];
    for (const e of req.misbehavior ?? []) {
      if (evidence.length === MAX_EVIDENCE_PER_VALUE) break;
      if (e.voteA.height >= req.height) continue;
      // Recorded by a block before this node last started (the pool's memory does not reach
      // that far back): every validator would refuse the value, so drop it from the pool.
      if ((await chain.evidenceRecordedAt(e)) !== undefined) {
        this.evidencePool?.markCommitted([e]);
        continue;
      }
      evidence.push(e);
    }
    // Evidence alone is worth a block; otherwise wait for a transaction.
    while (!emptyBlocks && evidence.length === 0 && !(hasPendingTransactions?.() ?? true)) {
      if (this.stopped) throw new MeridianError("validator stopped", { code: "NODE_STOPPING" });
      await new Promise((resolve) => setTimeout(resolve, EMPTY_POOL_POLL_MS));
    }
    // Waiting for transactions took wall time: the block carries the time it is built at.
    const proposal = await chain.prepareProposal({
      ...req,
      misbehavior: evidence,
      timestampMs: emptyBlocks ? req.timestampMs : Math.max(req.timestampMs, Date.now()),
      maxBytes: Math.min(req.maxBytes, MAX_PROPOSAL_BYTES) - 64 * 1024,
    });
    return encodeValue(proposal, evidence);
  }

  async processProposal(req: ProcessProposalRequest): Promise<ProcessProposalResult> {
    let verdict: ProcessProposalResult;
    try {
      const { proposal, evidence } = decodeValue(this.chainId, req.value);
      const seen = new Set<string>();
      for (const e of evidence) {
        this.checkEvidence(e, req.height);
        // One equivocation is recorded once: not twice in a value, not again in a later block.
        const key = evidenceKey(e);
        if (
          seen.has(key) ||
          this.evidencePool?.isCommitted(e) ||
          (await this.opts.chain.evidenceRecordedAt(e)) !== undefined
        )
          throw new MeridianError("evidence already recorded", { code: "INVALID_EVIDENCE" });
        seen.add(key);
      }
      verdict = await this.opts.chain.processProposal({ ...req, value: proposal, misbehavior: evidence });
    } catch (err) {
      verdict = { accept: false, reason: (err as Error).message };
    }
    if (!verdict.accept)
      this.opts.logger.warn("proposal rejected", {
        height: req.height,
        round: req.round,
        reason: verdict.reason,
      });
    return verdict;
  }

  /** Evidence in a value must be of an earlier height, not too old, and verify against that height's set. */
  private checkEvidence(e: DuplicateVoteEvidence, height: bigint): void {
    const at = e.voteA.height;
    if (at >= height || at + EVIDENCE_MAX_AGE_HEIGHTS < height)
      throw new MeridianError(`evidence of height ${at} in a value of height ${height}`, {
        code: "INVALID_EVIDENCE",
      });
    verifyEvidence(this.validatorSets.at(at), this.chainId, e);
  }

  finalizeBlock(req: FinalizeBlockRequest): Promise<FinalizeBlockResult> {
    return this.tracked(async () => {
      const { proposal, evidence } = decodeValue(this.chainId, req.value);
      const result = await this.opts.chain.finalizeBlock({ ...req, value: proposal, misbehavior: evidence });
      return { validatorUpdates: result.validatorUpdates, misbehavior: evidence };
    });
  }

  commit(height: bigint): Promise<unknown> {
    return this.tracked(() => this.opts.chain.commit(height));
  }

  private tracked<T>(run: () => Promise<T>): Promise<T> {
    const p = run();
    this.work.add(p);
    const done = () => this.work.delete(p);
    void p.then(done, done);
    return p;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.work]);
  }
}

/**
 * Checks the key against the genesis set, opens the signer and WAL, and starts the driver at
 * the height after the chain's head (replaying that height's WAL after a crash).
 */
export async function startValidator(opts: ValidatorOptions): Promise<RunningValidator> {
  const { genesis, logger } = opts;
  const validators = genesisValidatorSet(genesis);
  const paths = consensusPaths(opts.datadir);
  await mkdir(paths.walDir, { recursive: true });
  const signer = await Signer.open(opts.privateKey, new FileSignerStateStore(paths.signerState));
  if (!validators.has(signer.address)) {
    throw new MeridianError(
      `validator key ${bytesToHex(signer.address)} is not in the genesis validator set ` +
        `(${genesis.validators.map((v) => bytesToHex(v.address)).join(", ")}); ` +
        "without p2p a node that is not a validator has no one to follow, so it does not start",
      { code: "NOT_A_VALIDATOR" },
    );
  }
  const chainId = consensusChainId(genesis);
  // The chain's sets: the genesis set, changed by the epochs its blocks committed (persisted).
  const validatorSets = opts.chain.validatorSets;
  const evidencePool = new EvidencePool({ chainId, maxAgeHeights: EVIDENCE_MAX_AGE_HEIGHTS });
  const wal = await FileWal.open(paths.wal);
  const app = new ValidatorApplication(opts, chainId, validatorSets, evidencePool);
  const driver = new ConsensusDriver({
    chainId,
    params: opts.params ?? consensusParamsFor(opts.blockTimeMs, genesis.timeouts),
    signer,
    wal,
    app,
    transport: opts.transport ?? noPeers,
    scheduler: new SystemScheduler(),
    validatorSets,
    evidencePool,
    logger: logger.child({ module: "consensus" }),
    // --block-time is the interval between blocks, as the timer producer kept it.
    commitTimeoutFromHeightStart: true,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  try {
    await driver.start();
  } catch (err) {
    await wal.close();
    throw err;
  }
  logger.info("consensus started", {
    validator: bytesToHex(signer.address),
    height: driver.height,
    validators: validators.size,
  });
  return {
    driver,
    address: signer.address,
    evidencePool,
    async stop() {
      await driver.stop();
      await app.stop();
      await wal.close();
    },
  };
}

/** What `meridian keys export-signing-state` prints: the validator's last signed HRS, or null if it never signed. */
export async function exportValidatorSigningState(datadir: string): Promise<string | null> {
  return exportSigningState(new FileSignerStateStore(consensusPaths(datadir).signerState));
}

/**
 * Installs signing state exported on another machine (moving a validator). Refuses state older
 * than the datadir's own: signing again below it could sign a second, different vote.
 */
export async function importValidatorSigningState(
  datadir: string,
  json: string,
): Promise<{ height: bigint; round: number; step: number }> {
  const paths = consensusPaths(datadir);
  await mkdir(paths.dir, { recursive: true });
  const state = await importSigningState(new FileSignerStateStore(paths.signerState), json);
  return { height: state.height, round: state.round, step: state.step };
}
