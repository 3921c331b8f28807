/**
 * Sender recovery backend. When primitives' secp256k1 runs on the native libsecp256k1 addon,
 * ethereumjs is handed it as its ecrecover; otherwise ethereumjs recovers with its own
 * @noble/curves path. Either way the result is the same 64-byte public key.
 */
import { recoverPublicKey, secpBackend } from "@meridian/primitives";

export type Ecrecover = (
  msgHash: Uint8Array,
  v: bigint,
  r: Uint8Array,
  s: Uint8Array,
  chainId?: bigint,
) => Uint8Array;

function recoveryId(v: bigint, chainId: bigint | undefined): number {
  if (v === 0n || v === 1n) return Number(v);
  const r = chainId === undefined ? v - 27n : v - (chainId * 2n + 35n);
  if (r !== 0n && r !== 1n) throw new Error("Invalid signature v value");
  return Number(r);
}

/** `r || s`, each left-padded to 32 bytes (ethereumjs strips leading zeros). */
function rs64(r: Uint8Array, s: Uint8Array): Uint8Array {
  const out = new Uint8Array(64);
  out.set(r, 32 - r.length);
  out.set(s, 64 - s.length);
  return out;
}

const ecrecover: Ecrecover = (msgHash, v, r, s, chainId) =>
  recoverPublicKey(msgHash, rs64(r, s), recoveryId(v, chainId)).slice(1);

/** The native ecrecover when the `secp256k1` addon loaded (and MERIDIAN_SECP != "noble"), else undefined. */
export function nativeEcrecover(): { ecrecover: Ecrecover | undefined; backend: "native" | "noble" } {
  return secpBackend === "native"
    ? { ecrecover, backend: "native" }
    : { ecrecover: undefined, backend: "noble" };
}
