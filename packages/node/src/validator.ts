/**
 * Runs this node's validator: the BFT consensus driver over the Chain (the Application), the
 * validator key behind the double-sign-safe signer, and the WAL and signer state in the
 * datadir. With no p2p yet the transport reaches no peer: a one-validator devnet decides
 * alone, and a key that is not in the genesis set cannot follow anyone, so it is refused.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  ConsensusDriver,
  type ConsensusParams,
  defaultConsensusParams,
  EvidencePool,
  FileSignerStateStore,
  FileWal,
  Signer,
  StaticValidatorSets,
  SystemScheduler,
  type Transport,
  ValidatorSet,
} from "@meridian/consensus";
import type { GenesisSpec } from "@meridian/executor";
import type { TxPool } from "@meridian/mempool";
import {
  type AppInfo,
  type Application,
  bytesToHex,
  type FinalizeBlockRequest,
  type FinalizeBlockResult,
  type Logger,
  MeridianError,
  type PrepareProposalRequest,
  type ProcessProposalRequest,
  type ProcessProposalResult,
} from "@meridian/primitives";
import type { Chain } from "./chain.ts";

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
export function consensusChainId(genesis: GenesisSpec): string {
  return genesis.chainId.toString();
}

/** The genesis validators as consensus' set (height 1). */
export function genesisValidatorSet(genesis: GenesisSpec): ValidatorSet {
  return ValidatorSet.create(genesis.validators.map((v) => ({ address: v.address, power: Number(v.power) })));
}

/** The default timeouts with the commit timeout set to the block time: it gives the cadence. */
export function consensusParamsFor(blockTimeMs: number): ConsensusParams {
  return { ...defaultConsensusParams, commit: { baseMs: blockTimeMs, deltaMs: 0 } };
}

export type ValidatorOptions = {
  chain: Chain;
  pool: TxPool;
  genesis: GenesisSpec;
  datadir: string;
  privateKey: Uint8Array;
  blockTimeMs: number;
  /** False: the proposer waits for a pending transaction before it proposes (CometBFT create_empty_blocks = false). */
  emptyBlocks: boolean;
  logger: Logger;
  /** Peers; none until p2p exists. */
  transport?: Transport;
};

export type RunningValidator = {
  readonly driver: ConsensusDriver;
  readonly address: Uint8Array;
  stop(): Promise<void>;
};

/** Upper bound on an encoded proposal; far above a 30M-gas block. */
const MAX_PROPOSAL_BYTES = 16 * 1024 * 1024;
/** How often a proposer with nothing to propose looks at the pool again. */
const EMPTY_POOL_POLL_MS = 25;

const noPeers: Transport = { broadcast() {}, send() {} };

/**
 * The Chain as the driver sees it, plus what a validator adds: with empty blocks off the
 * proposer waits for a pending transaction, and finalize and commit calls are tracked so
 * `stop` can wait for a block being written before the chain's database closes.
 */
class ValidatorApplication implements Application {
  private stopped = false;
  private readonly work = new Set<Promise<unknown>>();
  private readonly opts: ValidatorOptions;
  constructor(opts: ValidatorOptions) {
    this.opts = opts;
  }

  info(): AppInfo {
    return this.opts.chain.info();
  }

  lastCommittedHeight(): bigint {
    return this.opts.chain.lastCommittedHeight();
  }

  async prepareProposal(req: PrepareProposalRequest): Promise<Uint8Array> {
    const { chain, pool, emptyBlocks } = this.opts;
    while (!emptyBlocks && pool.status().pending === 0) {
      if (this.stopped) throw new MeridianError("validator stopped", { code: "NODE_STOPPING" });
      await new Promise((resolve) => setTimeout(resolve, EMPTY_POOL_POLL_MS));
    }
    // Waiting for transactions took wall time: the block carries the time it is built at.
    return chain.prepareProposal({
      ...req,
      timestampMs: emptyBlocks ? req.timestampMs : Math.max(req.timestampMs, Date.now()),
      maxBytes: Math.min(req.maxBytes, MAX_PROPOSAL_BYTES),
    });
  }

  async processProposal(req: ProcessProposalRequest): Promise<ProcessProposalResult> {
    const verdict = await this.opts.chain.processProposal(req);
    if (!verdict.accept)
      this.opts.logger.warn("proposal rejected", {
        height: req.height,
        round: req.round,
        reason: verdict.reason,
      });
    return verdict;
  }

  finalizeBlock(req: FinalizeBlockRequest): Promise<FinalizeBlockResult> {
    return this.tracked(() => this.opts.chain.finalizeBlock(req));
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
  const wal = await FileWal.open(paths.wal);
  const app = new ValidatorApplication(opts);
  const driver = new ConsensusDriver({
    chainId,
    params: consensusParamsFor(opts.blockTimeMs),
    signer,
    wal,
    app,
    transport: opts.transport ?? noPeers,
    scheduler: new SystemScheduler(),
    validatorSets: new StaticValidatorSets(validators),
    evidencePool: new EvidencePool({ chainId, maxAgeHeights: 100_000n }),
    logger: logger.child({ module: "consensus" }),
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
    async stop() {
      await driver.stop();
      await app.stop();
      await wal.close();
    },
  };
}
