import { MeridianError, type MeridianErrorOptions } from "@meridian/primitives";

export const ConsensusErrorCode = {
  /** A wire message that is malformed, oversized or of an unknown type or version. */
  InvalidMessage: "CONSENSUS_INVALID_MESSAGE",
  /** A signature that does not recover, or recovers to a non-validator. */
  InvalidSignature: "CONSENSUS_INVALID_SIGNATURE",
  /** A commit without +2/3 of the power, with duplicates, or for another height. */
  InvalidCommit: "CONSENSUS_INVALID_COMMIT",
  InvalidEvidence: "CONSENSUS_INVALID_EVIDENCE",
  /** Evidence older than the pool's maximum age. */
  EvidenceExpired: "CONSENSUS_EVIDENCE_EXPIRED",
  InvalidValidatorSet: "CONSENSUS_INVALID_VALIDATOR_SET",
  /** The signer refused: the request conflicts with or regresses from what it signed before. */
  DoubleSign: "CONSENSUS_DOUBLE_SIGN",
  SignerState: "CONSENSUS_SIGNER_STATE",
  /** A WAL frame that is corrupt before the tail (a torn tail is truncated instead). */
  WalCorrupt: "CONSENSUS_WAL_CORRUPT",
  DriverStopped: "CONSENSUS_DRIVER_STOPPED",
} as const;
export type ConsensusErrorCode = (typeof ConsensusErrorCode)[keyof typeof ConsensusErrorCode];

export class ConsensusError extends MeridianError {
  override name = "ConsensusError";
  declare readonly code: ConsensusErrorCode;
  constructor(shortMessage: string, opts: MeridianErrorOptions & { code: ConsensusErrorCode }) {
    super(shortMessage, opts);
  }
}
