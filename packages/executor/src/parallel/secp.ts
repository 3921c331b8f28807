/**
 * Sender recovery backend. The native libsecp256k1 binding (`secp256k1` npm
 * package) is used when it loads; otherwise ethereumjs recovers with
 * @noble/curves (pure JS). Either way the result is the same 64-byte public key.
 */
import { createRequire } from "node:module";

export type Ecrecover = (
  msgHash: Uint8Array,
  v: bigint,
  r: Uint8Array,
  s: Uint8Array,
  chainId?: bigint,
) => Uint8Array;

type NativeSecp = {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
};

function recoveryId(v: bigint, chainId: bigint | undefined): number {
  if (v === 0n || v === 1n) return Number(v);
  const r = chainId === undefined ? v - 27n : v - (chainId * 2n + 35n);
  if (r !== 0n && r !== 1n) throw new Error("Invalid signature v value");
  return Number(r);
}

function pad32(b: Uint8Array): Uint8Array {
  if (b.length === 32) return b;
  const out = new Uint8Array(32);
  out.set(b, 32 - b.length);
  return out;
}

let cached: { ecrecover: Ecrecover | undefined; backend: "native" | "noble" } | undefined;

/** The native ecrecover when the `secp256k1` addon loads (and MERIDIAN_SECP != "noble"), else undefined. */
export function nativeEcrecover(): { ecrecover: Ecrecover | undefined; backend: "native" | "noble" } {
  if (cached) return cached;
  cached = { ecrecover: undefined, backend: "noble" };
  if (process.env.MERIDIAN_SECP === "noble") return cached;
  try {
    // The package silently falls back to pure-JS elliptic; load the native binding itself so "native" means native.
    const lib = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp;
    if (typeof lib.ecdsaRecover === "function") {
      const ecrecover: Ecrecover = (msgHash, v, r, s, chainId) => {
        const sig = new Uint8Array(64);
        sig.set(pad32(r), 0);
        sig.set(pad32(s), 32);
        return lib.ecdsaRecover(sig, recoveryId(v, chainId), msgHash, false).slice(1);
      };
      cached = { ecrecover, backend: "native" };
    }
  } catch {
    // Not installed or not built for this platform: the pure-JS path stays.
  }
  return cached;
}
