/**
 * Composition root: opens the chain, wires mempool, RPC, metrics and the
 * block producer, and shuts all of it down in order. The only module that
 * knows every package.
 */
import { readFile } from "node:fs/promises";
import { type GenesisSpec, parseGenesis } from "@meridian/executor";
import { TxPool } from "@meridian/mempool";
import { bytesToHex, type Logger, MeridianError, privateKeyToAddress } from "@meridian/primitives";
import { type RpcServer, startRpcServer } from "@meridian/rpc";
import { NodeBackend } from "./backend.ts";
import { Chain } from "./chain.ts";
import { genesisPath, type NodeConfig } from "./config.ts";
import { type Metrics, type MetricsServer, startMetricsServer } from "./metrics.ts";
import { BlockProducer } from "./producer.ts";

export const CLIENT_NAME = "Meridian";
export const CLIENT_VERSION = "0.1.0";

export type StartNodeOptions = { logger: Logger; metrics: Metrics };

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

export async function startNode(
  config: NodeConfig,
  { logger, metrics }: StartNodeOptions,
): Promise<RunningNode> {
  const started = Date.now();
  const genesis = await loadGenesis(genesisPath(config));
  const chain = await Chain.open({
    datadir: config.datadir,
    genesis,
    logger: logger.child({ module: "chain" }),
  });
  const closers: (() => Promise<void>)[] = [() => chain.close()];
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
    const pool = new TxPool(
      {
        async getAccount(address) {
          const a = await chain.store.getAccount(address);
          return { nonce: a?.nonce ?? 0n, balance: a?.balance ?? 0n };
        },
      },
      {
        common: chain.common,
        blockGasLimit: () => chain.head.header.gasLimit,
        baseFee: () => chain.head.header.calcNextBaseFee(),
        ...config.txpool,
        logger: logger.child({ module: "txpool" }),
      },
    );
    chain.txSource = (baseFee) => pool.pending(baseFee);
    // Executor threads load the EVM once; do it before serving so the first block is not slow.
    await chain.warmUp();

    const validator = config.validator.privateKey
      ? privateKeyToAddress(config.validator.privateKey)
      : undefined;
    const blockTimeMs = config.producer.blockTimeMs ?? genesis.blockTimeMs;
    const emptyBlocks = config.producer.emptyBlocks ?? genesis.emptyBlocks;
    let producer: BlockProducer | undefined;
    if (config.producer.enabled && validator) {
      if (!genesis.validators.some((v) => bytesToHex(v.address) === bytesToHex(validator))) {
        throw new MeridianError(`validator ${bytesToHex(validator)} is not in the genesis validator set`, {
          code: "NOT_A_VALIDATOR",
        });
      }
      producer = new BlockProducer({
        chain,
        pool,
        proposer: validator,
        blockTimeMs,
        emptyBlocks,
        logger,
        metrics,
      });
    } else if (config.producer.enabled) {
      logger.warn("no validator key: running as a non-producing full node");
    }

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
      producing: producer !== undefined,
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
      logsMaxRange: config.rpc.logsMaxRange,
      logsMaxResults: config.rpc.logsMaxResults,
      txFeeCap: config.rpc.txFeeCap,
      allowUnprotectedTxs: config.rpc.allowUnprotectedTxs,
      suggestedTip: 1_000_000_000n,
      status,
    });
    metrics.chainHead.set(Number(chain.head.header.number));

    let rpc: RpcServer | undefined;
    if (config.http.enabled) {
      rpc = await startRpcServer({
        backend,
        host: config.http.addr,
        port: config.http.port,
        cors: config.http.cors,
        batchLimit: config.http.batchLimit,
        bodyLimit: config.http.bodyLimit,
        ws: config.http.ws,
        filterTimeoutMs: config.rpc.filterTimeoutMs,
        logger,
        onRequest: (method, seconds, ok) => metrics.observeRpc(method, seconds, ok),
      });
      const server = rpc;
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
    if (producer) {
      const p = producer;
      p.start();
      closers.push(() => p.stop());
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
