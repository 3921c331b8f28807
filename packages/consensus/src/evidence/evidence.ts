import { bytesToHex, equalBytes, hexKey } from "@meridian/primitives";
import { recoverSigner, signDigest, voteSignBytes } from "../crypto.ts";
import { ConsensusError, ConsensusErrorCode } from "../errors.ts";
import type { SignedVote } from "../types.ts";
import type { ValidatorSet } from "../validator-set.ts";

/**
 * Two signed votes of one validator for the same height, round and type with different
 * value ids (nil counts as a value). `voteA` has the lower value id (nil first), so one
 * equivocation has one encoding.
 */
export type DuplicateVoteEvidence = { voteA: SignedVote; voteB: SignedVote };

function compareValueId(a: Uint8Array | null, b: Uint8Array | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  for (let i = 0; i < a.length && i < b.length; i++)
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

export function orderEvidence(a: SignedVote, b: SignedVote): DuplicateVoteEvidence {
  return compareValueId(a.valueId, b.valueId) <= 0 ? { voteA: a, voteB: b } : { voteA: b, voteB: a };
}

/** Identity of an equivocation: validator, height, round and type (what the pool dedups on). */
export function evidenceKey(evidence: DuplicateVoteEvidence): string {
  const v = evidence.voteA;
  return `${hexKey(v.validator)}:${v.height}:${v.round}:${v.type}`;
}

function invalid(message: string): never {
  throw new ConsensusError(message, { code: ConsensusErrorCode.InvalidEvidence });
}

/**
 * Checks evidence against the validator set of its height: both votes agree on height, round
 * and type, differ in value, are in canonical order, and both signatures recover to the same
 * validator of the set.
 */
export function verifyEvidence(
  validators: ValidatorSet,
  chainId: string,
  evidence: DuplicateVoteEvidence,
): void {
  const { voteA, voteB } = evidence;
  if (voteA.height !== voteB.height || voteA.round !== voteB.round || voteA.type !== voteB.type)
    invalid("evidence votes are for different height, round or type");
  const order = compareValueId(voteA.valueId, voteB.valueId);
  if (order === 0) invalid("evidence votes are for the same value");
  if (order > 0) invalid("evidence votes are not in canonical order");
  const signerA = recoverSigner(signDigest(voteSignBytes(chainId, voteA)), voteA.signature);
  const signerB = recoverSigner(signDigest(voteSignBytes(chainId, voteB)), voteB.signature);
  if (!equalBytes(signerA, voteA.validator) || !equalBytes(signerB, voteB.validator))
    invalid("evidence signature does not recover to the named validator");
  if (!equalBytes(signerA, signerB)) invalid("evidence votes are from different validators");
  if (!validators.has(signerA)) invalid(`evidence names ${bytesToHex(signerA)}, not a validator`);
}
