/**
 * secp256k1 for the whole node: addresses, signing digests and recovering signers. Consensus
 * votes, transaction senders (the executor's ecrecover), p2p identity and checkpoint signatures
 * all go through here, so there is one implementation to trust.
 *
 * libsecp256k1 through the `secp256k1` addon is used when it loads (about 20x faster than
 * @noble/curves); noble is the fallback, and is forced by MERIDIAN_SECP=noble. Both sign RFC 6979
 * deterministically with a low s, so their signatures are byte-identical.
 */
import { createRequire } from "node:module";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak256 } from "./hash.ts";

/** A signature as Ethereum's ecrecover takes it: r || s || v, v = 27 + recovery id. */
export const SIGNATURE_BYTES = 65;

/** Half the curve order: an s above it is the malleable twin of a low-s signature. */
export const SECP256K1_HALF_ORDER = secp256k1.Point.CURVE().n >> 1n;

type NativeSecp = {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
};

const native: NativeSecp | null = (() => {
  if (process.env.MERIDIAN_SECP === "noble") return null;
  try {
    // The package silently falls back to pure-JS elliptic; load the binding itself so that
    // "native" means native.
    const lib = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp;
    return typeof lib.ecdsaSign === "function" && typeof lib.ecdsaRecover === "function" ? lib : null;
  } catch {
    return null;
  }
})();

/** Which implementation signs and recovers in this process (or worker thread). */
export const secpBackend: "native" | "noble" = native ? "native" : "noble";

/** Ethereum address of an uncompressed (65-byte) or compressed (33-byte) public key. */
export function publicKeyToAddress(publicKey: Uint8Array): Uint8Array {
  const uncompressed =
    publicKey.length === 65 ? publicKey : secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return keccak256(uncompressed.subarray(1)).subarray(12);
}

export function privateKeyToAddress(privateKey: Uint8Array): Uint8Array {
  return publicKeyToAddress(secp256k1.getPublicKey(privateKey, false));
}

export function randomPrivateKey(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

/** Signs a 32-byte digest: r || s || v with v 27 or 28 and a low s. */
export function signDigestSecp256k1(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
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

/**
 * The uncompressed (65-byte) public key that signed `digest` with the 64-byte `r || s` and
 * recovery id 0 or 1. Throws for a signature that does not recover. It does not judge s: the
 * caller decides whether a high s is acceptable (transactions after Homestead and votes refuse it).
 */
export function recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recoveryId: number): Uint8Array {
  if (rs.length !== 64) throw new Error(`r || s must be 64 bytes, got ${rs.length}`);
  if (recoveryId !== 0 && recoveryId !== 1) throw new Error(`recovery id must be 0 or 1, got ${recoveryId}`);
  if (native) return native.ecdsaRecover(rs, recoveryId, digest, false);
  const recovered = new Uint8Array(65);
  recovered[0] = recoveryId;
  recovered.set(rs, 1);
  return secp256k1.Signature.fromBytes(recovered, "recovered").recoverPublicKey(digest).toBytes(false);
}
