/**
 * The block rules both executors apply, in one place: the header checks made before a
 * block is executed, the comparisons of what execution produced with what the header
 * says, and the EIP-7002/7251 request system calls that must succeed. The sequential
 * executor (the reference) and the parallel one call exactly these, so a block one of
 * them rejects the other rejects too, with the same error code.
 */
import type { Block, BlockHeader } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { EVMResult, EVMRunCallOpts } from "@ethereumjs/evm";
import type { TypedTransaction } from "@ethereumjs/tx";
import { Address, bigIntToAddressBytes, equalsBytes, KECCAK256_RLP } from "@ethereumjs/util";
import type { VM } from "@ethereumjs/vm";
import { orderedTrieRoot } from "@meridian/primitives";
import { blockBytes, transactionBytes } from "./block-rlp.ts";
import { ExecutionError } from "./executor.ts";

/**
 * "meridian": Meridian's chain rules (gas limit fixed at the parent's, no withdrawals). "ethereum": Ethereum mainnet rules instead (gas limit within parent/1024
 * and above the minimum, gas used within the limit, transactions, uncle hash, withdrawals
 * root and EIP-4844 blob gas fields checked), as the conformance runner needs.
 */
export type BlockRules = "meridian" | "ethereum";

/** Error codes of the rules below (ExecutionError.code). */
export const BlockRuleCode = {
  /** A pre-execution header or body rule. */
  invalidBlock: "INVALID_BLOCK",
  txRoot: "TX_ROOT_MISMATCH",
  gasUsed: "GAS_USED_MISMATCH",
  bloom: "BLOOM_MISMATCH",
  receiptsRoot: "RECEIPTS_ROOT_MISMATCH",
  requestsHash: "REQUESTS_HASH_MISMATCH",
  blobGasUsed: "BLOB_GAS_USED_MISMATCH",
  withdrawalsRoot: "WITHDRAWALS_ROOT_MISMATCH",
  stateRoot: "STATE_ROOT_MISMATCH",
  /** EIP-7934: the block's RLP is larger than MAX_RLP_BLOCK_SIZE. */
  blockTooLarge: "BLOCK_TOO_LARGE",
  /** EIP-7002/7251: the request contract has no code. */
  systemContractEmpty: "SYSTEM_CONTRACT_EMPTY",
  /** EIP-7002/7251: the request system call failed (revert, out of gas, invalid opcode). */
  systemCallFailed: "SYSTEM_CONTRACT_CALL_FAILED",
} as const;
export type BlockRuleCode = (typeof BlockRuleCode)[keyof typeof BlockRuleCode];

/** Throws the ExecutionError every rule here throws: `invalid block <n>: <reason>`. */
export function rejectBlock(number: bigint, code: BlockRuleCode | string, reason: string): never {
  throw new ExecutionError(`invalid block ${number}: ${reason}`, { code });
}

/**
 * The checks made before executing a block: number, parent hash, timestamp, gas limit
 * (Meridian: unchanged from the parent; "ethereum": mainnet header and body rules), base
 * fee, EIP-4844 excess blob gas, and (Meridian) no withdrawals (uncles, difficulty and nonce
 * the proof-of-stake header decoder already refuses). The
 * transactions root is not among them: each executor computes it its own way and hands
 * it to `checkTransactionsRoot`. Throws ExecutionError (INVALID_BLOCK) on the first violation.
 */
export async function checkHeaderRules(block: Block, parent: Block, rules: BlockRules): Promise<void> {
  const h = block.header;
  const fail = (reason: string): never => rejectBlock(h.number, BlockRuleCode.invalidBlock, reason);
  if (h.number !== parent.header.number + 1n)
    fail(`number ${h.number} does not follow ${parent.header.number}`);
  if (!equalsBytes(h.parentHash, parent.hash())) fail("parent hash mismatch");
  if (h.timestamp <= parent.header.timestamp) fail("timestamp not after parent");
  if (rules === "ethereum") await checkEthereumRules(block, parent, fail);
  else checkMeridianRules(block, parent, fail);
  if (h.baseFeePerGas !== parent.header.calcNextBaseFee()) fail("wrong base fee");
  if (limitsBlockSize(block.common)) {
    const size = blockBytes(block).length;
    if (size > MAX_RLP_BLOCK_SIZE)
      rejectBlock(
        h.number,
        BlockRuleCode.blockTooLarge,
        `block RLP of ${size} bytes exceeds ${MAX_RLP_BLOCK_SIZE}`,
      );
  }
}

/** EIP-7934: MAX_BLOCK_SIZE (10 MiB) less the 2 MiB margin the EIP keeps for the consensus layer's wrapping. */
export const MAX_RLP_BLOCK_SIZE = 10_485_760 - 2_097_152;

/**
 * Whether blocks of `common`'s fork have EIP-7934's size limit: from Osaka on (the fork that
 * introduced it; @ethereumjs 10.1.3 defines the EIP but does not list it in Osaka).
 */
export function limitsBlockSize(common: Common): boolean {
  return common.isActivatedEIP(7934) || common.gteHardfork("osaka");
}

/**
 * The builders' side of EIP-7934: refuses a transaction that would take the block past
 * MAX_RLP_BLOCK_SIZE. It only counts bytes when the gas limit allows such a block at all: a
 * byte of a transaction costs at least 10 gas (EIP-7623's floor for a zero byte) and a
 * transaction at least 21,000 gas for ~110 bytes of envelope, so under ~79M gas no block can
 * reach the limit and nothing is serialised.
 */
export class BlockSizeBudget {
  private used = HEADER_ALLOWANCE;
  private readonly active: boolean;
  constructor(common: Common, gasLimit: bigint) {
    this.active =
      limitsBlockSize(common) &&
      (gasLimit * 106n) / 1000n + BigInt(HEADER_ALLOWANCE) > BigInt(MAX_RLP_BLOCK_SIZE);
  }
  /** Why `tx` cannot join the block, or undefined (its bytes are then counted). */
  take(tx: TypedTransaction): string | undefined {
    if (!this.active) return undefined;
    const size = tx.serialize().length + 9; // its RLP string or list header in the body
    if (this.used + size > MAX_RLP_BLOCK_SIZE) return `block RLP size limit ${MAX_RLP_BLOCK_SIZE} reached`;
    this.used += size;
    return undefined;
  }
}

/** Bytes kept for the header, the body's list headers, withdrawals and requests. */
const HEADER_ALLOWANCE = 2048;

/** Meridian's rules where they differ from Ethereum's (see BlockRules). */
function checkMeridianRules(block: Block, parent: Block, fail: (reason: string) => never): void {
  const h = block.header;
  if (h.gasLimit !== parent.header.gasLimit) fail("gas limit changed");
  // Withdrawals would mint ether: a Meridian block has none (the builders apply none either).
  if ((block.withdrawals?.length ?? 0) > 0) fail("withdrawals present");
  if (h.withdrawalsRoot !== undefined && !equalsBytes(h.withdrawalsRoot, KECCAK256_RLP))
    fail("withdrawals root of an empty list expected");
  if (h.common.isActivatedEIP(4844)) {
    const want = parent.header.calcNextExcessBlobGas(h.common);
    if (h.excessBlobGas !== want) fail(`excess blob gas ${h.excessBlobGas}, expected ${want}`);
  }
}

/** Ethereum mainnet header and body rules that Meridian's own rules replace or leave out. */
async function checkEthereumRules(
  block: Block,
  parent: Block,
  fail: (reason: string) => never,
): Promise<void> {
  const h = block.header;
  const check = async (what: () => unknown): Promise<void> => {
    try {
      await what();
    } catch (err) {
      fail((err as Error).message);
    }
  };
  if (h.gasLimit >= 2n ** 63n) fail(`gas limit ${h.gasLimit} above 2^63-1`);
  await check(() => h.validateGasLimit(parent.header));
  if (h.gasUsed > h.gasLimit) fail(`gas used ${h.gasUsed} above the gas limit ${h.gasLimit}`);
  // Transactions (signatures, fee caps, blob gas used), uncle hash, withdrawals root.
  await check(() => block.validateData(false, true));
  // Excess blob gas, blob fee caps and the per-block blob gas limit.
  await check(() => block.validateBlobTransactions(parent.header));
}

/**
 * Everything checked before execution in one call: checkHeaderRules and the transactions
 * root computed here (for callers that do not compute it themselves, such as the
 * conformance runner's parallel harness).
 */
export async function validateHeader(
  block: Block,
  parent: Block,
  rules: BlockRules = "meridian",
): Promise<void> {
  await checkHeaderRules(block, parent, rules);
  checkTransactionsRoot(block.header, transactionsRootOf(block));
}

/** The transactions root of `block`'s transactions, from their bytes (primitives' list-trie builder). */
export function transactionsRootOf(block: Block): Uint8Array {
  return orderedTrieRoot(transactionBytes(block));
}

/** The transactions root the executor computed from the block's transactions, against the header's. */
export function checkTransactionsRoot(header: BlockHeader, computed: Uint8Array): void {
  if (!equalsBytes(computed, header.transactionsTrie))
    rejectBlock(header.number, BlockRuleCode.txRoot, "transactions root mismatch");
}

/** What executing a block produced, to be compared with its header. */
export type ExecutedHeaderFields = {
  gasUsed: bigint;
  logsBloom: Uint8Array;
  receiptTrie: Uint8Array;
  /** EIP-7685; undefined before Prague. */
  requestsHash: Uint8Array | undefined;
  /** EIP-4844; undefined before Cancun. */
  blobGasUsed: bigint | undefined;
  /** EIP-4895: the root of the withdrawals applied; undefined before Shanghai. */
  withdrawalsRoot: Uint8Array | undefined;
  stateRoot: Uint8Array;
};

/** The fields of a header that `checkExecutedHeader` compares (a header built by execution). */
export function executedFieldsOf(header: BlockHeader): ExecutedHeaderFields {
  return {
    gasUsed: header.gasUsed,
    logsBloom: header.logsBloom,
    receiptTrie: header.receiptTrie,
    requestsHash: header.requestsHash,
    blobGasUsed: header.blobGasUsed,
    withdrawalsRoot: header.withdrawalsRoot,
    stateRoot: header.stateRoot,
  };
}

const EMPTY = new Uint8Array(0);

/**
 * The post-execution comparisons, in this order: gas used, logs bloom, receipts root,
 * requests hash, blob gas used, withdrawals root, state root. Throws ExecutionError with
 * the field's code (GAS_USED_MISMATCH, ...) on the first difference.
 */
export function checkExecutedHeader(header: BlockHeader, got: ExecutedHeaderFields): void {
  const fail = (code: BlockRuleCode, reason: string): never => rejectBlock(header.number, code, reason);
  if (got.gasUsed !== header.gasUsed)
    fail(BlockRuleCode.gasUsed, `gas used ${got.gasUsed}, header says ${header.gasUsed}`);
  if (!equalsBytes(got.logsBloom, header.logsBloom)) fail(BlockRuleCode.bloom, "logs bloom mismatch");
  if (!equalsBytes(got.receiptTrie, header.receiptTrie))
    fail(BlockRuleCode.receiptsRoot, "receipts root mismatch");
  if (!equalsBytes(got.requestsHash ?? EMPTY, header.requestsHash ?? EMPTY))
    fail(BlockRuleCode.requestsHash, "requests hash mismatch");
  if ((got.blobGasUsed ?? 0n) !== (header.blobGasUsed ?? 0n))
    fail(BlockRuleCode.blobGasUsed, `blob gas used ${got.blobGasUsed}, header says ${header.blobGasUsed}`);
  if (!equalsBytes(got.withdrawalsRoot ?? EMPTY, header.withdrawalsRoot ?? EMPTY))
    fail(BlockRuleCode.withdrawalsRoot, "withdrawals root mismatch");
  if (!equalsBytes(got.stateRoot, header.stateRoot)) fail(BlockRuleCode.stateRoot, "state root mismatch");
}

/** EIP-4844 blob gas the block's transactions use (0 before Cancun). */
export function blobGasUsedBy(block: Block): bigint | undefined {
  const common = block.common;
  if (!common.isActivatedEIP(4844)) return undefined;
  let blobs = 0n;
  for (const tx of block.transactions) {
    if (tx.type === 3)
      blobs += BigInt((tx as unknown as { blobVersionedHashes: unknown[] }).blobVersionedHashes.length);
  }
  return blobs * common.param("blobGasPerBlob");
}

/** The EIP-7002/7251 request contracts active in `common` (address → which EIP). */
function requestContracts(common: Common): Map<string, number> {
  const out = new Map<string, number>();
  if (common.isActivatedEIP(7002))
    out.set(addressKey(common.param("withdrawalRequestPredeployAddress")), 7002);
  if (common.isActivatedEIP(7251))
    out.set(addressKey(common.param("consolidationRequestPredeployAddress")), 7251);
  return out;
}

const addressKey = (a: bigint): string => new Address(bigIntToAddressBytes(a)).toString();

/**
 * Makes the end-of-block request system calls of `vm` checked, as EIP-7002 and EIP-7251
 * define them (execution-specs `process_checked_system_transaction`, geth
 * `processRequestsSystemCall`): the call to a request contract without code, or one that
 * fails, invalidates the block. @ethereumjs skips a missing contract and takes a failed
 * call's output as the requests, so both executors wrap the VM's `runCall` with this and
 * call the returned `verify()` once the block is executed (it catches a contract whose
 * account does not exist, which @ethereumjs never calls). The 4788/2935 calls stay unchecked.
 */
export function checkRequestSystemCalls(vm: VM, blockNumber: bigint): { verify(): Promise<void> } {
  const contracts = requestContracts(vm.common);
  const called = new Set<string>();
  if (contracts.size === 0) return { verify: async () => {} };
  const systemAddress = new Address(bigIntToAddressBytes(vm.common.param("systemAddress")));
  const evm = vm.evm as { runCall(opts: EVMRunCallOpts): Promise<EVMResult> };
  const runCall = evm.runCall.bind(evm);
  evm.runCall = async (opts: EVMRunCallOpts): Promise<EVMResult> => {
    const to = opts.to?.toString();
    // Only the system address calls a request contract this way: no key signs for it.
    if (to === undefined || !contracts.has(to) || !opts.caller?.equals(systemAddress)) return runCall(opts);
    called.add(to);
    const eip = contracts.get(to);
    if ((await vm.stateManager.getCode(opts.to as Address)).length === 0)
      rejectBlock(
        blockNumber,
        BlockRuleCode.systemContractEmpty,
        `EIP-${eip} request contract ${to} has no code`,
      );
    const result = await runCall(opts);
    const error = result.execResult.exceptionError;
    if (error)
      rejectBlock(
        blockNumber,
        BlockRuleCode.systemCallFailed,
        `EIP-${eip} request system call to ${to} failed: ${error.error}`,
      );
    return result;
  };
  return {
    verify: async () => {
      for (const [to, eip] of contracts) {
        if (!called.has(to))
          rejectBlock(
            blockNumber,
            BlockRuleCode.systemContractEmpty,
            `EIP-${eip} request contract ${to} has no code`,
          );
      }
    },
  };
}
