/**
 * Timer-driven block production for a single-validator devnet. It drives the
 * chain only through the Application interface, exactly as the BFT engine
 * will: prepare → process → finalise → commit.
 */
import { transactionHashes } from "@meridian/executor";
import type { TxPool } from "@meridian/mempool";
import { bytesToHex, type Logger } from "@meridian/primitives";
import type { Chain } from "./chain.ts";
import type { Metrics } from "./metrics.ts";

export type BlockProducerOptions = {
  chain: Chain;
  pool: TxPool;
  proposer: Uint8Array;
  blockTimeMs: number;
  emptyBlocks: boolean;
  logger: Logger;
  metrics: Metrics;
};

/** Upper bound on an encoded proposal; far above a 30M-gas block. */
const MAX_PROPOSAL_BYTES = 16 * 1024 * 1024;

export class BlockProducer {
  private readonly opts: BlockProducerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(opts: BlockProducerOptions) {
    this.opts = opts;
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  private schedule(): void {
    if (!this.running) return;
    const { blockTimeMs } = this.opts;
    // Align to the block-time grid so blocks keep a steady cadence whatever a block costs.
    const delay = blockTimeMs - (Date.now() % blockTimeMs);
    this.timer = setTimeout(() => {
      this.inFlight = this.produce().finally(() => this.schedule());
    }, delay);
  }

  /** Produces one block now (if there is something to produce). */
  async produce(): Promise<void> {
    const { chain, pool, logger, metrics } = this.opts;
    if (!this.opts.emptyBlocks && pool.status().pending === 0) return;
    const t0 = performance.now();
    const height = chain.lastCommittedHeight() + 1n;
    try {
      const proposal = await chain.prepareProposal({
        height,
        timestampMs: Date.now(),
        proposer: this.opts.proposer,
        maxBytes: MAX_PROPOSAL_BYTES,
      });
      const verdict = await chain.processProposal(height, proposal);
      if (!verdict.accept) {
        logger.error("own proposal rejected", { height, reason: verdict.reason });
        return;
      }
      await chain.finalizeBlock(height, proposal, {
        height,
        round: 0,
        proposer: this.opts.proposer,
        signatures: [],
      });
      const done = await chain.commit();
      const seconds = (performance.now() - t0) / 1000;
      await pool.onBlockCommitted(transactionHashes(chain.head));
      metrics.observeBlock({ height: done.height, txCount: done.txCount, gasUsed: done.gasUsed, seconds });
      metrics.setTxpool(pool.status());
      logger.info("committed block", {
        height: done.height,
        hash: bytesToHex(done.hash),
        txs: done.txCount,
        gas: done.gasUsed,
        ms: Math.round(seconds * 1000),
      });
    } catch (err) {
      logger.error("block production failed", { height }, err);
    }
  }

  /** Stops the timer and waits for a block in progress to finish committing. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }
}
