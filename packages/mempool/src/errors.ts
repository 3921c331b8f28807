import { MeridianError } from "@meridian/primitives";

/** Error code of every admission rejection. */
export const TX_REJECTED = "TX_REJECTED";

/**
 * Rejection reasons, spelled exactly as go-ethereum's txpool/core errors: wallets and
 * libraries (ethers, viem, web3) match on these strings.
 */
export const TxErrors = {
  typeNotSupported: "transaction type not supported",
  oversizedData: "oversized data",
  maxInitCodeSizeExceeded: "max initcode size exceeded",
  invalidChainId: "invalid chain id",
  invalidSender: "invalid sender",
  gasLimit: "exceeds block gas limit",
  /** EIP-7825 (Osaka): geth appends ` (cap: 16777216, tx: <gas>)`. */
  gasLimitTooHigh: "transaction gas limit too high",
  tipAboveFeeCap: "max priority fee per gas higher than max fee per gas",
  intrinsicGas: "intrinsic gas too low",
  floorDataGas: "insufficient gas for floor data gas cost",
  underpriced: "transaction underpriced",
  alreadyKnown: "already known",
  nonceTooLow: "nonce too low",
  insufficientFunds: "insufficient funds for gas * price + value",
  replaceUnderpriced: "replacement transaction underpriced",
  accountLimitExceeded: "account limit exceeded",
  txPoolOverflow: "txpool is full",
  nonceMax: "nonce has max value",
} as const;

export type TxErrorMessage = (typeof TxErrors)[keyof typeof TxErrors];

/** A transaction the pool refused; `shortMessage` is the geth string, `details` the numbers. */
export class TxRejectedError extends MeridianError {
  override name = "TxRejectedError";

  constructor(shortMessage: string, details?: string, cause?: unknown) {
    super(shortMessage, { code: TX_REJECTED, details, cause });
  }
}

/**
 * Decode failures: the bare rlp/decoder message, as geth's eth_sendRawTransaction returns it
 * (no prefix; the code TX_REJECTED and the "rlp: " start tell them apart).
 */
export function invalidTransaction(reason: string, cause?: unknown): TxRejectedError {
  return new TxRejectedError(reason, undefined, cause);
}
