import {
  bytesToBigInt,
  keccak256,
  privateKeyToAddress,
  publicKeyToAddress,
  recoverPublicKey,
  rlpEncode,
  SECP256K1_HALF_ORDER,
  SIGNATURE_BYTES,
  secpBackend,
  signDigestSecp256k1,
} from "@meridian/primitives";
import { ConsensusError, ConsensusErrorCode } from "./errors.ts";
import type { Proposal, Vote } from "./types.ts";

/** Domain tags: a vote digest can never be replayed as a proposal, a checkpoint or a transaction. */
export const VOTE_DOMAIN = "meridian/vote/v1";
export const PROPOSAL_DOMAIN = "meridian/proposal/v1";

export { SIGNATURE_BYTES };

const EMPTY = new Uint8Array(0);

/** The canonical bytes a vote signature covers: RLP of the domain tag, chain id and the vote. */
export function voteSignBytes(chainId: string, vote: Vote): Uint8Array {
  return rlpEncode([VOTE_DOMAIN, chainId, vote.height, vote.round, vote.type, vote.valueId ?? EMPTY]);
}

/**
 * The canonical bytes a proposal signature covers. `polRound` is written as polRound + 1 so that
 * -1 (no proof of lock) is 0: RLP has no negative integers.
 */
export function proposalSignBytes(chainId: string, proposal: Proposal): Uint8Array {
  return rlpEncode([
    PROPOSAL_DOMAIN,
    chainId,
    proposal.height,
    proposal.round,
    proposal.valueId,
    proposal.polRound + 1,
  ]);
}

/** The 32 bytes that are signed: keccak256 of the sign bytes, as Ethereum's ecrecover expects. */
export function signDigest(signBytes: Uint8Array): Uint8Array {
  return keccak256(signBytes);
}

/** Which secp256k1 implementation signs and recovers here (primitives' choice). */
export { secpBackend };

/** Signs a digest; the signature is Ethereum's r || s || v with v 27 or 28 and a low s. */
export function signDigestWithKey(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  return signDigestSecp256k1(privateKey, digest);
}

/** The Ethereum address that signed `digest`; throws InvalidSignature for a malformed signature. */
export function recoverSigner(digest: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES)
    throw new ConsensusError(`signature must be ${SIGNATURE_BYTES} bytes, got ${signature.length}`, {
      code: ConsensusErrorCode.InvalidSignature,
    });
  const v = signature[64] as number;
  if (v !== 27 && v !== 28)
    throw new ConsensusError(`signature v must be 27 or 28, got ${v}`, {
      code: ConsensusErrorCode.InvalidSignature,
    });
  // High-s signatures are malleable copies of a low-s one: one message, one signature.
  if (bytesToBigInt(signature.subarray(32, 64)) > SECP256K1_HALF_ORDER)
    throw new ConsensusError("signature has a high s", { code: ConsensusErrorCode.InvalidSignature });
  try {
    return publicKeyToAddress(recoverPublicKey(digest, signature.subarray(0, 64), v - 27));
  } catch (cause) {
    throw new ConsensusError("signature does not recover", {
      code: ConsensusErrorCode.InvalidSignature,
      cause,
    });
  }
}

export function addressOfKey(privateKey: Uint8Array): Uint8Array {
  return privateKeyToAddress(privateKey);
}
