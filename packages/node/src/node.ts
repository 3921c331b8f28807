/**
 * Composition root: opens the chain, wires mempool, RPC, metrics and the
 * validator (consensus), and shuts all of it down in order. The only module that
 * knows every package.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Chain } from "@meridian/chain";
import {
  type GenesisSpec,
  hardforkAt,
  parseGenesis,
  transactionCount,
  transactionHashes,
} from "@meridian/executor";
import { TxJournal, TxPool } from "@meridian/mempool";
import { bytesToHex, type Logger, MeridianError, privateKeyToAddress } from "@meridian/primitives";
import { type RpcServer, startRpcServer } from "@meridian/rpc";
import { acquireDatadirLock, DATADIR_LOCK_FILE, type DatadirLock } from "@meridian/storage";
import { NodeBackend } from "./backend.ts";
import { genesisPath, type NodeConfig } from "./config.ts";
import { type Metrics, type MetricsServer, startMetricsServer } from "./metrics.ts";
import { type RunningValidator, startValidator } from "./validator.ts";

export const CLIENT_NAME = "Meridian";
export const CLIENT_VERSION = "0.1.0";

export type StartNodeOptions = {
  logger: Logger;
  metrics: Metrics;
  /**
   * The datadir lock, when the caller took it before touching the directory (devnet --reset,
   * genesis copy); the node then releases it on close. Absent: the node takes it first thing.
   */
  lock?: DatadirLock;
};

export { acquireDatadirLock, DATADIR_LOCK_FILE, type DatadirLock };

export type RunningNode = {
  rpcUrl?: string;
  wsUrl?: string;
  metricsUrl?: string;
  chainId: bigint;
  chain: Chain;
  close(): Promise<void>;
};

export async function loadGenesis(path: string): Promise<GenesisSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new MeridianError(`cannot read genesis file ${path}`, {
      code: "GENESIS_MISSING",
      cause: err,
      details: (err as Error).message,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MeridianError(`${path}: not valid JSON`, {
      code: "GENESIS_INVALID",
      details: (err as Error).message,
    });
  }
  return parseGenesis(json, path);
}

/**
 * Re-admits the journal's transactions against the current head (mined or now invalid ones are
 * refused by the pool and dropped), rewrites the journal with what was kept, and journals every
 * admission from then on.
 */
async function replayJournal(pool: TxPool, journal: TxJournal, logger: Logger): Promise<void> {
  const raws = journal.load();
  let kept = 0;
  for (const raw of raws) {
    try {
      await pool.addRaw(raw);
      kept++;
    } catch (err) {
      logger.debug("journaled transaction dropped", { reason: (err as Error).message });
    }
  }
  journal.rotate(pool.rawTransactions());
  pool.journalTo(journal);
  if (raws.length > 0)
    logger.info("transaction journal replayed", { journaled: raws.length, readmitted: kept });
}

function openJournal(
  pool: TxPool,
  config: NodeConfig,
  logger: Logger,
): { ready: Promise<void>; close(): Promise<void> } {
  const journal = new TxJournal(join(config.datadir, "txpool", "transactions.rlp"), { logger });
  const rotation = setInterval(() => {
    try {
      journal.rotate(pool.rawTransactions());
    } catch (err) {
      logger.error("transaction journal rotation failed", {}, err);
    }
  }, config.txpool.rejournalMs);
  rotation.unref();
  return {
    ready: replayJournal(pool, journal, logger),
    async close() {
      clearInterval(rotation);
      pool.journalTo(undefined);
      journal.close();
    },
  };
}

export async function startNode(
  config: NodeConfig,
  { logger, metrics, lock: givenLock }: StartNodeOptions,
): Promise<RunningNode> {
  const started = Date.now();
  // The lock comes before anything reads the directory, and goes last on close.
  const lock = givenLock ?? (await acquireDatadirLock(config.datadir, "meridian node"));
  let chain: Chain;
  let genesis: GenesisSpec;
  try {
    genesis = await loadGenesis(genesisPath(config));
    chain = await Chain.open({
      datadir: config.datadir,
      genesis,
      logger: logger.child({ module: "chain" }),
    });
  } catch (err) {
    await lock.release();
    throw err;
  }
  const closers: (() => Promise<void>)[] = [() => lock.release(), () => chain.close()];
  const closeAll = async () => {
    for (const c of closers.reverse().splice(0)) {
      try {
        await c();
      } catch (err) {
        logger.error("error while shutting down", {}, err);
      }
    }
  };
  try {
    const { journal: _journal, rejournalMs: _rejournalMs, ...poolOptions } = config.txpool;
    const pool = new TxPool(
      {
        async getAccount(address) {
          const a = await chain.store.getAccount(address);
          return { nonce: a?.nonce ?? 0n, balance: a?.balance ?? 0n };
        },
      },
      {
        common: chain.common,
        nextBlockCommon: () => chain.common,
        blockGasLimit: () => chain.head.header.gasLimit,
        baseFee: () => chain.head.header.calcNextBaseFee(),
        ...poolOptions,
        logger: logger.child({ module: "txpool" }),
      },
    );
    chain.txSource = (baseFee) => pool.pending(baseFee);
    // Before consensus starts: the journal's transactions go into the first block built.
    if (config.txpool.journal) {
      const journal = openJournal(pool, config, logger);
      closers.push(() => journal.close());
      await journal.ready;
    }
    // Executor threads load the EVM once; do it before serving so the first block is not slow.
    await chain.warmUp();

    const validatorKey = config.validator.privateKey;
    const validator = validatorKey ? privateKeyToAddress(validatorKey) : undefined;
    const blockTimeMs = config.producer.blockTimeMs ?? genesis.blockTimeMs;
    const emptyBlocks = config.producer.emptyBlocks ?? genesis.emptyBlocks;
    let consensus: RunningValidator | undefined;
    if (config.producer.enabled && !validatorKey) {
      logger.warn("no validator key: running as a non-producing full node");
    }
    // What follows a committed block, whoever drives the chain: the pool drops what the block
    // included, metrics and the log line.
    chain.on("committed", ({ block, seconds }) => {
      const header = block.header;
      const txCount = transactionCount(block);
      void pool
        .onBlockCommitted(transactionHashes(block))
        .then(() => metrics.setTxpool(pool.status()))
        .catch((err: unknown) =>
          logger.error("txpool update after a block failed", { height: header.number }, err),
        );
      metrics.observeBlock({ height: header.number, txCount, gasUsed: header.gasUsed, seconds });
      logger.info("committed block", {
        height: header.number,
        hash: bytesToHex(block.hash()),
        txs: txCount,
        gas: header.gasUsed,
        ms: Math.round(seconds * 1000),
      });
    });

    // The head block's fork and the genesis' schedule (geth reports the schedule as config.<fork>Time).
    const forkStatus = () => ({
      hardfork: hardforkAt(genesis, chain.head.header.timestamp),
      forkSchedule: [
        { hardfork: genesis.hardfork, time: Number(genesis.timestamp) },
        ...genesis.schedule.map((a) => ({ hardfork: a.hardfork, time: Number(a.time) })),
      ],
    });
    const status = () => ({
      clientVersion: `${CLIENT_NAME}/v${CLIENT_VERSION}/node-${process.version}`,
      chainId: `0x${genesis.chainId.toString(16)}`,
      genesisHash: bytesToHex(chain.genesisHash),
      head: {
        number: `0x${chain.head.header.number.toString(16)}`,
        hash: bytesToHex(chain.head.hash()),
        timestamp: `0x${chain.head.header.timestamp.toString(16)}`,
      },
      validator: validator ? bytesToHex(validator) : null,
      producing: consensus !== undefined,
      // Where the validator's consensus is: the height being decided, its round and step.
      consensus:
        consensus === undefined
          ? null
          : {
              height: `0x${consensus.driver.height.toString(16)}`,
              round: consensus.driver.round,
              step: consensus.driver.currentState.step,
            },
      ...forkStatus(),
      blockTimeMs,
      txpool: pool.status(),
      peers: 0,
      syncing: false,
      datadir: config.datadir,
      uptimeSeconds: Math.floor((Date.now() - started) / 1000),
    });
    const backend = new NodeBackend(chain, pool, {
      clientVersion: status().clientVersion,
      gasCap: config.rpc.gasCap,
      evmTimeoutMs: config.rpc.evmTimeoutMs,
      executionWorkers: config.rpc.executionWorkers,
      maxResponseBytes: config.rpc.maxResponseBytes,
      logsMaxRange: config.rpc.logsMaxRange,
      logsMaxResults: config.rpc.logsMaxResults,
      txFeeCap: config.rpc.txFeeCap,
      allowUnprotectedTxs: config.rpc.allowUnprotectedTxs,
      suggestedTip: 1_000_000_000n,
      status,
    });
    closers.push(() => backend.close());
    // Requests wait for no cold worker: the first calls' deadlines would pay for loading the VM.
    await backend.execution.ready();
    metrics.chainHead.set(Number(chain.head.header.number));

    let rpc: RpcServer | undefined;
    if (config.http.enabled) {
      rpc = await startRpcServer({
        backend,
        host: config.http.addr,
        port: config.http.port,
        cors: config.http.cors,
        vhosts: config.http.vhosts,
        wsOrigins: config.ws.origins,
        maxFilters: config.rpc.maxFilters,
        maxFiltersPerConnection: config.rpc.maxFiltersPerConnection,
        filterMaxItems: config.rpc.filterMaxItems,
        maxSubscriptionsPerConnection: config.ws.maxSubscriptions,
        maxProofKeys: config.rpc.proofMaxKeys,
        wsMaxQueuedBytes: config.ws.maxQueuedBytes,
        batchLimit: config.http.batchLimit,
        bodyLimit: config.http.bodyLimit,
        ws: config.http.ws,
        filterTimeoutMs: config.rpc.filterTimeoutMs,
        logger,
        onRequest: (method, seconds, ok) => metrics.observeRpc(method, seconds, ok),
        onLimit: (limit) => metrics.rpcLimitRejections.inc({ limit }),
      });
      const server = rpc;
      metrics.setRpcStats(() => server.stats());
      closers.push(() => server.close());
      logger.info("JSON-RPC listening", { url: rpc.url, ws: rpc.wsUrl || undefined });
    }
    let metricsServer: MetricsServer | undefined;
    if (config.metrics.enabled) {
      metricsServer = await startMetricsServer({
        addr: config.metrics.addr,
        port: config.metrics.port,
        metrics,
        health: () => ({ ok: !chain.db.isClosed, head: Number(chain.head.header.number) }),
      });
      const server = metricsServer;
      closers.push(() => server.close());
      logger.info("metrics listening", { url: `${metricsServer.url}/metrics` });
    }
    // The validator starts last: blocks are produced once RPC and metrics can see them.
    if (config.producer.enabled && validatorKey) {
      consensus = await startValidator({
        chain,
        hasPendingTransactions: () => pool.status().pending > 0,
        genesis,
        datadir: config.datadir,
        privateKey: validatorKey,
        blockTimeMs,
        emptyBlocks,
        logger,
        metrics: { messageDropped: (reason: string) => metrics.consensusMessagesDropped.inc({ reason }) },
      });
      const running = consensus;
      closers.push(() => running.stop());
    }
    logger.info("node started", {
      chainId: genesis.chainId,
      head: chain.head.header.number,
      hash: bytesToHex(chain.head.hash()),
      datadir: config.datadir,
    });
    const node: RunningNode = {
      chainId: genesis.chainId,
      chain,
      close: closeAll,
    };
    if (rpc) {
      node.rpcUrl = rpc.url;
      node.wsUrl = rpc.wsUrl;
    }
    if (metricsServer) node.metricsUrl = metricsServer.url;
    return node;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
