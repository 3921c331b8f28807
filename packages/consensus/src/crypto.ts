import { createRequire } from "node:module";
import {
  bytesToBigInt,
  keccak256,
  privateKeyToAddress,
  publicKeyToAddress,
  rlpEncode,
} from "@meridian/primitives";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { ConsensusError, ConsensusErrorCode } from "./errors.ts";
import type { Proposal, Vote } from "./types.ts";

/** Domain tags: a vote digest can never be replayed as a proposal, a checkpoint or a transaction. */
export const VOTE_DOMAIN = "meridian/vote/v1";
export const PROPOSAL_DOMAIN = "meridian/proposal/v1";

export const SIGNATURE_BYTES = 65;
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

type NativeSecp = {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
};

/**
 * libsecp256k1 through the `secp256k1` addon (as the executor's sender recovery uses it) when it
 * loads, about 20x faster than @noble/curves, which is the fallback (and MERIDIAN_SECP=noble).
 * Both sign RFC 6979 deterministically with a low s, so the signatures are identical.
 */
const native: NativeSecp | null = (() => {
  if (process.env.MERIDIAN_SECP === "noble") return null;
  try {
    const lib = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp;
    return typeof lib.ecdsaSign === "function" ? lib : null;
  } catch {
    return null;
  }
})();

/** Which secp256k1 implementation signs and recovers here. */
export const secpBackend: "native" | "noble" = native ? "native" : "noble";

const HALF_ORDER = secp256k1.Point.CURVE().n >> 1n;

/** Signs a digest; the signature is Ethereum's r || s || v with v 27 or 28 and a low s. */
export function signDigestWithKey(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNATURE_BYTES);
  if (native) {
    const sig = native.ecdsaSign(digest, privateKey);
    out.set(sig.signature, 0);
    out[64] = 27 + sig.recid;
    return out;
  }
  // noble's "recovered" format is recovery || r || s; reorder to what ecrecover takes.
  const sig = secp256k1.sign(digest, privateKey, { prehash: false, format: "recovered", lowS: true });
  out.set(sig.subarray(1, 65), 0);
  out[64] = 27 + (sig[0] as number);
  return out;
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
  if (bytesToBigInt(signature.subarray(32, 64)) > HALF_ORDER)
    throw new ConsensusError("signature has a high s", { code: ConsensusErrorCode.InvalidSignature });
  try {
    if (native)
      return publicKeyToAddress(native.ecdsaRecover(signature.subarray(0, 64), v - 27, digest, false));
    const recovered = new Uint8Array(SIGNATURE_BYTES);
    recovered[0] = v - 27;
    recovered.set(signature.subarray(0, 64), 1);
    const sig = secp256k1.Signature.fromBytes(recovered, "recovered");
    return publicKeyToAddress(sig.recoverPublicKey(digest).toBytes(false));
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
