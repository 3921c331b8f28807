/**
 * Wire formats per ethereum/execution-apis: QUANTITY as minimal 0x-hex, DATA as even
 * lowercase hex, nulls where the spec has them. Everything returned here is plain JSON.
 */
import type { Block, BlockHeader } from "@ethereumjs/block";
import type { TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex, toQuantity } from "@meridian/primitives";
import type { AccountProof, FeeHistory, RpcLog, RpcReceipt, SyncStatus } from "./backend.ts";

export type Hex = `0x${string}`;

/** Transaction position as the formatter needs it; absent for pending transactions. */
export type TxLocation = {
  hash: Uint8Array;
  number: bigint;
  index: number;
  baseFeePerGas?: bigint;
  timestamp: bigint;
};

export type RpcHeaderJson = {
  number: Hex;
  hash: Hex;
  parentHash: Hex;
  nonce: Hex;
  sha3Uncles: Hex;
  logsBloom: Hex;
  transactionsRoot: Hex;
  stateRoot: Hex;
  receiptsRoot: Hex;
  miner: Hex;
  difficulty: Hex;
  extraData: Hex;
  gasLimit: Hex;
  gasUsed: Hex;
  timestamp: Hex;
  mixHash: Hex;
  baseFeePerGas?: Hex;
  withdrawalsRoot?: Hex;
  blobGasUsed?: Hex;
  excessBlobGas?: Hex;
  parentBeaconBlockRoot?: Hex;
  requestsHash?: Hex;
};

export type RpcWithdrawalJson = { index: Hex; validatorIndex: Hex; address: Hex; amount: Hex };

export type RpcBlockJson = RpcHeaderJson & {
  totalDifficulty: Hex;
  size: Hex;
  transactions: Hex[] | RpcTransactionJson[];
  uncles: Hex[];
  withdrawals?: RpcWithdrawalJson[];
};

export type RpcAccessListJson = { address: Hex; storageKeys: Hex[] }[];

export type RpcAuthorizationJson = {
  chainId: Hex;
  address: Hex;
  nonce: Hex;
  yParity: Hex;
  r: Hex;
  s: Hex;
};

export type RpcTransactionJson = {
  blockHash: Hex | null;
  blockNumber: Hex | null;
  blockTimestamp: Hex | null;
  from: Hex;
  gas: Hex;
  gasPrice: Hex;
  maxFeePerGas?: Hex;
  maxPriorityFeePerGas?: Hex;
  maxFeePerBlobGas?: Hex;
  hash: Hex;
  input: Hex;
  nonce: Hex;
  to: Hex | null;
  transactionIndex: Hex | null;
  value: Hex;
  type: Hex;
  accessList?: RpcAccessListJson;
  chainId?: Hex;
  blobVersionedHashes?: Hex[];
  authorizationList?: RpcAuthorizationJson[];
  v: Hex;
  r: Hex;
  s: Hex;
  yParity?: Hex;
};

export type RpcLogJson = {
  address: Hex;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  transactionHash: Hex;
  transactionIndex: Hex;
  blockHash: Hex;
  blockTimestamp: Hex;
  logIndex: Hex;
  removed: boolean;
};

export type RpcReceiptJson = {
  blockHash: Hex;
  blockNumber: Hex;
  blockTimestamp: Hex;
  contractAddress: Hex | null;
  cumulativeGasUsed: Hex;
  effectiveGasPrice: Hex;
  from: Hex;
  gasUsed: Hex;
  logs: RpcLogJson[];
  logsBloom: Hex;
  status: Hex;
  to: Hex | null;
  transactionHash: Hex;
  transactionIndex: Hex;
  type: Hex;
  blobGasUsed?: Hex;
  blobGasPrice?: Hex;
};

const q = toQuantity;
const hex = bytesToHex;

function bytesToQuantity(b: Uint8Array): Hex {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return "0x0";
  const s = Buffer.from(b.buffer, b.byteOffset + i, b.length - i).toString("hex");
  return (s[0] === "0" ? `0x${s.slice(1)}` : `0x${s}`) as Hex;
}

export function formatHeader(header: BlockHeader): RpcHeaderJson {
  const out: RpcHeaderJson = {
    number: q(header.number),
    hash: hex(header.hash()),
    parentHash: hex(header.parentHash),
    nonce: hex(header.nonce),
    sha3Uncles: hex(header.uncleHash),
    logsBloom: hex(header.logsBloom),
    transactionsRoot: hex(header.transactionsTrie),
    stateRoot: hex(header.stateRoot),
    receiptsRoot: hex(header.receiptTrie),
    miner: hex(header.coinbase.bytes),
    difficulty: q(header.difficulty),
    extraData: hex(header.extraData),
    gasLimit: q(header.gasLimit),
    gasUsed: q(header.gasUsed),
    timestamp: q(header.timestamp),
    mixHash: hex(header.mixHash),
  };
  if (header.baseFeePerGas !== undefined) out.baseFeePerGas = q(header.baseFeePerGas);
  if (header.withdrawalsRoot !== undefined) out.withdrawalsRoot = hex(header.withdrawalsRoot);
  if (header.blobGasUsed !== undefined) out.blobGasUsed = q(header.blobGasUsed);
  if (header.excessBlobGas !== undefined) out.excessBlobGas = q(header.excessBlobGas);
  if (header.parentBeaconBlockRoot !== undefined)
    out.parentBeaconBlockRoot = hex(header.parentBeaconBlockRoot);
  if (header.requestsHash !== undefined) out.requestsHash = hex(header.requestsHash);
  return out;
}

// Serialising a block only to measure it is costly; blocks are immutable, so remember.
const sizeCache = new WeakMap<Block, number>();

function blockSize(block: Block): number {
  let size = sizeCache.get(block);
  if (size === undefined) {
    size = block.serialize().length;
    sizeCache.set(block, size);
  }
  return size;
}

export function formatBlock(block: Block, fullTransactions: boolean): RpcBlockJson {
  const header = block.header;
  const base = formatHeader(header);
  let transactions: Hex[] | RpcTransactionJson[];
  if (fullTransactions) {
    const hash = header.hash();
    transactions = block.transactions.map((tx, index) =>
      formatTransaction(tx, tx.getSenderAddress().bytes, {
        hash,
        number: header.number,
        index,
        baseFeePerGas: header.baseFeePerGas,
        timestamp: header.timestamp,
      }),
    );
  } else {
    transactions = block.transactions.map((tx) => hex(tx.hash()));
  }
  const out: RpcBlockJson = {
    ...base,
    totalDifficulty: "0x0",
    size: q(blockSize(block)),
    transactions,
    uncles: block.uncleHeaders.map((u) => hex(u.hash())),
  };
  if (block.withdrawals !== undefined) {
    out.withdrawals = block.withdrawals.map((w) => ({
      index: q(w.index),
      validatorIndex: q(w.validatorIndex),
      address: hex(w.address.bytes),
      amount: q(w.amount),
    }));
  }
  return out;
}

/** geth's RPCTransaction. `gasPrice` is the effective price once mined, maxFeePerGas while pending. */
export function formatTransaction(
  tx: TypedTransaction,
  sender: Uint8Array,
  loc: TxLocation | undefined,
): RpcTransactionJson {
  let gasPrice: bigint;
  if (tx.type === 0 || tx.type === 1) gasPrice = tx.gasPrice;
  else if (loc?.baseFeePerGas !== undefined) {
    const price = tx.maxPriorityFeePerGas + loc.baseFeePerGas;
    gasPrice = tx.maxFeePerGas;
    if (price < gasPrice) gasPrice = price;
  } else gasPrice = tx.maxFeePerGas;

  // Built in geth's field order; v/r/s/yParity are appended last below.
  const out = {
    blockHash: loc ? hex(loc.hash) : null,
    blockNumber: loc ? q(loc.number) : null,
    blockTimestamp: loc ? q(loc.timestamp) : null,
    from: hex(sender),
    gas: q(tx.gasLimit),
    gasPrice: q(gasPrice),
  } as RpcTransactionJson;
  if (tx.type !== 0 && tx.type !== 1) {
    out.maxFeePerGas = q(tx.maxFeePerGas);
    out.maxPriorityFeePerGas = q(tx.maxPriorityFeePerGas);
  }
  if (tx.type === 3) out.maxFeePerBlobGas = q(tx.maxFeePerBlobGas);
  out.hash = hex(tx.hash());
  out.input = hex(tx.data);
  out.nonce = q(tx.nonce);
  out.to = tx.to ? hex(tx.to.bytes) : null;
  out.transactionIndex = loc ? q(loc.index) : null;
  out.value = q(tx.value);
  out.type = q(tx.type);
  const v = tx.v ?? 0n;
  if (tx.type === 0) {
    // EIP-155 protected legacy transactions carry the chain id in v.
    if (v >= 35n) out.chainId = q((v - 35n) / 2n);
  } else {
    out.accessList = tx.accessList.map(([address, keys]) => ({
      address: hex(address),
      storageKeys: keys.map(hex),
    }));
    out.chainId = q(tx.chainId);
    if (tx.type === 3) out.blobVersionedHashes = tx.blobVersionedHashes.map((h) => h.toLowerCase() as Hex);
    if (tx.type === 4) {
      out.authorizationList = tx.authorizationList.map(([chainId, address, nonce, yParity, r, s]) => ({
        chainId: bytesToQuantity(chainId),
        address: hex(address),
        nonce: bytesToQuantity(nonce),
        yParity: bytesToQuantity(yParity),
        r: bytesToQuantity(r),
        s: bytesToQuantity(s),
      }));
    }
  }
  out.v = q(v);
  out.r = q(tx.r ?? 0n);
  out.s = q(tx.s ?? 0n);
  if (tx.type !== 0) out.yParity = out.v;
  return out;
}

export function formatLog(log: RpcLog): RpcLogJson {
  return {
    address: hex(log.address),
    topics: log.topics.map(hex),
    data: hex(log.data),
    blockNumber: q(log.blockNumber),
    transactionHash: hex(log.transactionHash),
    transactionIndex: q(log.transactionIndex),
    blockHash: hex(log.blockHash),
    blockTimestamp: q(log.blockTimestamp),
    logIndex: q(log.logIndex),
    removed: log.removed,
  };
}

export function formatReceipt(r: RpcReceipt): RpcReceiptJson {
  const out: RpcReceiptJson = {
    blockHash: hex(r.blockHash),
    blockNumber: q(r.blockNumber),
    blockTimestamp: q(r.blockTimestamp),
    contractAddress: r.contractAddress ? hex(r.contractAddress) : null,
    cumulativeGasUsed: q(r.cumulativeGasUsed),
    effectiveGasPrice: q(r.effectiveGasPrice),
    from: hex(r.from),
    gasUsed: q(r.gasUsed),
    logs: r.logs.map(formatLog),
    logsBloom: hex(r.logsBloom),
    status: r.status === 1 ? "0x1" : "0x0",
    to: r.to ? hex(r.to) : null,
    transactionHash: hex(r.transactionHash),
    transactionIndex: q(r.transactionIndex),
    type: q(r.type),
  };
  if (r.blobGasUsed !== undefined) out.blobGasUsed = q(r.blobGasUsed);
  if (r.blobGasPrice !== undefined) out.blobGasPrice = q(r.blobGasPrice);
  return out;
}

export type RpcProofJson = {
  address: Hex;
  accountProof: Hex[];
  balance: Hex;
  codeHash: Hex;
  nonce: Hex;
  storageHash: Hex;
  storageProof: { key: Hex; value: Hex; proof: Hex[] }[];
};

export function formatProof(p: AccountProof): RpcProofJson {
  return {
    address: hex(p.address),
    accountProof: p.accountProof.map(hex),
    balance: q(p.balance),
    codeHash: hex(p.codeHash),
    nonce: q(p.nonce),
    storageHash: hex(p.storageHash),
    storageProof: p.storageProof.map((s) => ({
      key: hex(s.key),
      value: q(s.value),
      proof: s.proof.map(hex),
    })),
  };
}

export type RpcFeeHistoryJson = {
  oldestBlock: Hex;
  baseFeePerGas: Hex[];
  gasUsedRatio: number[];
  baseFeePerBlobGas: Hex[];
  blobGasUsedRatio: number[];
  reward?: Hex[][];
};

export function formatFeeHistory(f: FeeHistory): RpcFeeHistoryJson {
  const out: RpcFeeHistoryJson = {
    oldestBlock: q(f.oldestBlock),
    baseFeePerGas: f.baseFeePerGas.map(q),
    gasUsedRatio: f.gasUsedRatio,
    baseFeePerBlobGas: f.baseFeePerBlobGas.map(q),
    blobGasUsedRatio: f.blobGasUsedRatio,
  };
  if (f.reward !== undefined) out.reward = f.reward.map((r) => r.map(q));
  return out;
}

export type RpcSyncStatusJson = false | { startingBlock: Hex; currentBlock: Hex; highestBlock: Hex };

export function formatSyncStatus(s: SyncStatus): RpcSyncStatusJson {
  if (s === false) return false;
  return {
    startingBlock: q(s.startingBlock),
    currentBlock: q(s.currentBlock),
    highestBlock: q(s.highestBlock),
  };
}
