import { createFeeMarket1559Tx } from "@ethereumjs/tx";
import { bytesToHex } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chainCommon } from "../src/index.ts";
import { nativeEcrecover } from "../src/parallel/secp.ts";

const common = chainCommon({ chainId: 7331n, hardfork: "prague" });

describe("sender recovery backends", () => {
  const native = nativeEcrecover();

  it("loads the native libsecp256k1 binding on this platform", () => {
    // The `secp256k1` package ships linux-x64 prebuilds; if this fails, recovery silently runs on noble.
    expect(native.backend).toBe("native");
  });

  it("native and noble recover the same sender for random keys and messages", () => {
    const recover = native.ecrecover;
    if (!recover) return;
    fc.assert(
      fc.property(
        // Valid secret keys: 1 .. n-1 (n ≈ 2^256 - 4.3e38; this range stays below it).
        fc.bigInt({ min: 1n, max: 2n ** 255n }).map(bigintTo32),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 2n }),
        (key, nonce) => {
          const tx = createFeeMarket1559Tx(
            { nonce, gasLimit: 21_000n, maxFeePerGas: 1n, chainId: 7331n },
            { common },
          ).sign(key);
          const hash = tx.getMessageToVerifySignature();
          const pub = recover(hash, tx.v as bigint, bigintTo32(tx.r as bigint), bigintTo32(tx.s as bigint));
          // Noble path: the tx's own recovery (the common has no custom ecrecover here).
          expect(bytesToHex(pub)).toBe(bytesToHex(tx.getSenderPublicKey()));
        },
      ),
      { numRuns: 100 },
    );
  });
});

function bigintTo32(v: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(v.toString(16).padStart(64, "0"), "hex"));
}
