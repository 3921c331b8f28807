/**
 * An invalid fixture block names why it is invalid (`expectException`, e.g.
 * `TransactionException.INTRINSIC_GAS_TOO_LOW`, alternatives joined by `|`).
 * Meridian's rejection messages are not the filler's names, so the runner
 * checks the category: the rejection must be transaction-level for a
 * `TransactionException`, a header check for a header `BlockException`
 * (gas limit, base fee, timestamp, excess blob gas, ...) and a block-level
 * check (roots, gas used, blob gas used, requests) for the others.
 */

export type RejectionCategory = "transaction" | "header" | "block";

/** `BlockException`s about a header field checked against the parent or a constant. */
const HEADER_EXCEPTIONS = new Set([
  "INVALID_GASLIMIT",
  "GASLIMIT_TOO_BIG",
  "INCORRECT_EXCESS_BLOB_GAS",
  "INVALID_BLOCK_TIMESTAMP_OLDER_THAN_PARENT",
  "INVALID_BLOCK_NUMBER",
  "INVALID_BASEFEE_PER_GAS",
  "EXTRA_DATA_TOO_BIG",
  "UNKNOWN_PARENT",
  "UNKNOWN_PARENT_ZERO",
  "IMPORT_IMPOSSIBLE_DIFFICULTY_OVER_PARIS",
]);

/** `BlockException`s found by executing the block or checking its body against the header. */
const BLOCK_EXCEPTIONS = new Set([
  "INVALID_STATE_ROOT",
  "INVALID_RECEIPTS_ROOT",
  "INVALID_LOG_BLOOM",
  "INVALID_GAS_USED",
  "INVALID_TRANSACTIONS_ROOT",
  "INVALID_WITHDRAWALS_ROOT",
  "INCORRECT_BLOB_GAS_USED",
  "BLOB_GAS_USED_ABOVE_LIMIT",
  "INVALID_REQUESTS",
  "INVALID_DEPOSIT_EVENT_LAYOUT",
  "SYSTEM_CONTRACT_EMPTY",
  "SYSTEM_CONTRACT_CALL_FAILED",
  "RLP_BLOCK_LIMIT_EXCEEDED",
]);

/** Rejections of one transaction: its decoding, signature, fee caps, nonce, funds, intrinsic gas. */
const TRANSACTION_REASON =
  /\btx\b|errors at tx|transaction (gas limit|type)|blob transaction|sender|intrinsic|gasLimit is too low|gasPrice|maxFeePerGas|maxPriorityFeePerGas|maxFeePerBlobGas|authorization list|insufficient funds|enough funds|EIP-\d+ not enabled on Common|versioned hash|upfront cost|to create contracts|cannot (equal or )?exceed MAX_/i;

/**
 * A header that does not commit to the block's transactions. Fillers build the header from
 * what their transition tool executed, which leaves an invalid transaction out: for such a
 * block the transactions-root check is where a transaction-level invalidity shows first
 * (geth's blocktests fail there too), so it counts for a `TransactionException`.
 */
const TRANSACTIONS_ROOT_REASON = /transactions? (root|trie)/i;

/** Rejections found by executing the block or hashing its body: roots, gas and blob gas used, requests. */
const BLOCK_REASON =
  /root mismatch|transactions? ?(root|trie)|receipt|bloom|state ?(root|trie)|gas ?used|requests|deposit log|withdrawals ?(root|trie)|blob gas used|system (contract|call)|rlp size|built block/i;

/** Rejections of a header field: number, parent, timestamp, gas limit, base fee, extra data, blob gas. */
const HEADER_REASON =
  /does not follow|parent hash|unknown parent|timestamp|gas ?limit|too much gas used|base ?fee|extra ?data|excess ?blob ?gas|difficulty|uncle|mixHash|beacon|header/i;

/** @ethereumjs appends the object it failed on, e.g. ` (block number=1 hash=… baseFeePerGas=7 …)`: not part of why. */
const CONTEXT_SUFFIX = / (\((vm hf|block number|block header number|tx type)=|- block number=).*$/s;

/** The category of a Meridian rejection message (as the runner records it). */
export function rejectionCategory(reason: string): RejectionCategory {
  const why = reason.replace(CONTEXT_SUFFIX, "");
  if (TRANSACTION_REASON.test(why)) return "transaction";
  if (/too much gas used|gas used \d+ above the gas limit/i.test(why)) return "header";
  if (BLOCK_REASON.test(why)) return "block";
  if (HEADER_REASON.test(why)) return "header";
  return "block";
}

/** The categories an `expectException` accepts (empty: none named, so any rejection will do). */
export function expectedCategories(expectException: string): Set<RejectionCategory> {
  const out = new Set<RejectionCategory>();
  for (const alt of expectException.split("|")) {
    const [kind, name = ""] = alt.trim().split(".");
    if (kind === "TransactionException") out.add("transaction");
    else if (kind !== "BlockException") continue;
    else if (HEADER_EXCEPTIONS.has(name)) out.add("header");
    else if (BLOCK_EXCEPTIONS.has(name)) out.add("block");
    else {
      // RLP decoding and the other block exceptions: the header or the body.
      out.add("header");
      out.add("block");
    }
  }
  return out;
}

/** Whether `reason` is a rejection of a category `expectException` names. */
export function rejectionMatches(expectException: string, reason: string): boolean {
  const want = expectedCategories(expectException);
  if (want.size === 0 || want.has(rejectionCategory(reason))) return true;
  return want.has("transaction") && TRANSACTIONS_ROOT_REASON.test(reason.replace(CONTEXT_SUFFIX, ""));
}
