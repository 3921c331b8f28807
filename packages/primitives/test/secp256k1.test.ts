import { secp256k1 } from "@noble/curves/secp256k1.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToBigInt,
  bytesToHex,
  keccak256,
  privateKeyToAddress,
  publicKeyToAddress,
  recoverPublicKey,
  SECP256K1_HALF_ORDER,
  secpBackend,
  signDigestSecp256k1,
} from "../src/index.ts";

/** Valid secret keys 1 .. 2^255 (below the curve order). */
const secretKey = fc.bigInt({ min: 1n, max: 2n ** 255n }).map((k) => {
  const out = new Uint8Array(32);
  out.set(Buffer.from(k.toString(16).padStart(64, "0"), "hex"));
  return out;
});
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("secp256k1 (one implementation for votes, senders, p2p and checkpoints)", () => {
  it("runs on the native libsecp256k1 addon on this platform", () => {
    // The `secp256k1` package ships linux-x64 prebuilds; without it everything runs on noble.
    expect(secpBackend).toBe(process.env.MERIDIAN_SECP === "noble" ? "noble" : "native");
  });

  it("signs exactly as noble does (RFC 6979, low s, v = 27 + recovery id) and recovers the signer", () => {
    fc.assert(
      fc.property(secretKey, digest, (key, msg) => {
        const sig = signDigestSecp256k1(key, msg);
        const noble = secp256k1.sign(msg, key, { prehash: false, format: "recovered", lowS: true });
        expect(bytesToHex(sig.subarray(0, 64))).toBe(bytesToHex(noble.subarray(1, 65)));
        expect(sig[64]).toBe(27 + (noble[0] as number));
        expect(bytesToBigInt(sig.subarray(32, 64)) <= SECP256K1_HALF_ORDER).toBe(true);
        const pub = recoverPublicKey(msg, sig.subarray(0, 64), (sig[64] as number) - 27);
        expect(bytesToHex(pub)).toBe(bytesToHex(secp256k1.getPublicKey(key, false)));
        expect(bytesToHex(publicKeyToAddress(pub))).toBe(bytesToHex(privateKeyToAddress(key)));
      }),
      { numRuns: 100 },
    );
  });

  it("refuses what cannot be a signature instead of returning some key", () => {
    const msg = keccak256(Uint8Array.of(1));
    expect(() => recoverPublicKey(msg, new Uint8Array(63), 0)).toThrow(/64 bytes/);
    expect(() => recoverPublicKey(msg, new Uint8Array(64).fill(1), 2)).toThrow(/recovery id/);
    // r = 0 is no point on the curve.
    expect(() => recoverPublicKey(msg, new Uint8Array(64), 0)).toThrow();
  });
});
