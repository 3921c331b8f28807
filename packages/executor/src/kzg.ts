/**
 * The KZG functions Ethereum execution needs (EIP-4844), for the Common's
 * `customCrypto.kzg`: without one @ethereumjs cannot even decode a block that
 * holds a blob transaction, and the point evaluation precompile (0x0a) fails.
 * Only `verifyProof` is needed to execute blocks (blocks carry no blobs); the
 * blob-side functions (commitments, cell proofs) are for block producers and
 * throw here. Pairings come from @noble/curves (v2) over BLS12-381.
 */
import { createRequire } from "node:module";
import type { KZG } from "@ethereumjs/util";

/** [τ]G2 of the Ethereum KZG ceremony (trusted setup g2_monomial[1]), compressed. */
const SETUP_G2_TAU =
  "b5bfd7dd8cdeb128843bc287230af38926187075cbfbefa81009a2ce615ac53d2914e5870cb452d2afaaab24f3499f72" +
  "185cbfee53492714734429b7b38608e23926c911cceceac9a36851477ba4c60b087041de621000edc98edada20c1def2";

/** Order of the BLS12-381 scalar field (BLS_MODULUS). */
const BLS_MODULUS = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n;

interface G1Point {
  add(other: G1Point): G1Point;
  negate(): G1Point;
  multiplyUnsafe(n: bigint): G1Point;
  is0(): boolean;
}
interface G2Point {
  add(other: G2Point): G2Point;
  negate(): G2Point;
  multiplyUnsafe(n: bigint): G2Point;
  is0(): boolean;
}
type Fp12 = unknown;
type Bls = {
  G1: { Point: { BASE: G1Point; fromHex(hex: string): G1Point } };
  G2: { Point: { BASE: G2Point; fromHex(hex: string): G2Point } };
  pairingBatch(pairs: { g1: G1Point; g2: G2Point }[]): Fp12;
  fields: { Fp12: { ONE: Fp12; eql(a: Fp12, b: Fp12): boolean } };
};

/**
 * @noble/curves 2.x, loaded synchronously on first use (require of an ES module, Node >= 22.12):
 * this package's own dependency, else (before `npm install` has placed it under
 * packages/executor) the copy @meridian/primitives depends on. The hoisted root copy may be
 * an older major without the `.js` subpaths, so it is checked, not trusted.
 */
function loadBls(): Bls {
  const spec = "@noble/curves/bls12-381.js";
  const bases = [import.meta.url, import.meta.resolve("@meridian/primitives")];
  let last: unknown;
  for (const base of bases) {
    try {
      const mod = createRequire(base)(spec) as { bls12_381?: Bls };
      if (mod.bls12_381?.G1.Point) return mod.bls12_381;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(
    `kzg: @noble/curves 2.x not found (${(last as Error | undefined)?.message ?? "wrong version"})`,
  );
}

const strip = (h: string) => (h.startsWith("0x") ? h.slice(2) : h);

function field(hex: string, what: string): bigint {
  const h = strip(hex);
  if (h.length !== 64) throw new Error(`kzg: ${what} must be 32 bytes`);
  const v = BigInt(`0x${h}`);
  if (v >= BLS_MODULUS) throw new Error(`kzg: ${what} is not a canonical field element`);
  return v;
}

function g1(bls: Bls, hex: string, what: string): G1Point {
  const h = strip(hex);
  if (h.length !== 96) throw new Error(`kzg: ${what} must be 48 bytes`);
  // fromHex checks the encoding, that the point is on the curve and in the subgroup.
  return bls.G1.Point.fromHex(h);
}

let bls: { bls: Bls; tauG2: G2Point } | undefined;
function curve(): { bls: Bls; tauG2: G2Point } {
  if (!bls) {
    const b = loadBls();
    bls = { bls: b, tauG2: b.G2.Point.fromHex(SETUP_G2_TAU) };
  }
  return bls;
}

const unsupported = (name: string) => (): never => {
  throw new Error(`kzg: ${name} is not implemented (execution only needs verifyProof)`);
};

/**
 * The KZG for `Common.customCrypto.kzg`. The curve library is loaded on the first
 * verification, so installing it costs nothing for chains that never see EIP-4844 data.
 */
export const kzg: KZG = {
  /** verify_kzg_proof of the EIP-4844 consensus specs. */
  verifyProof(commitment: string, zHex: string, yHex: string, proofHex: string): boolean {
    const { bls, tauG2 } = curve();
    const z = field(zHex, "z");
    const y = field(yHex, "y");
    const c = g1(bls, commitment, "commitment");
    const proof = g1(bls, proofHex, "proof");
    const xMinusZ = tauG2.add(bls.G2.Point.BASE.multiplyUnsafe((BLS_MODULUS - z) % BLS_MODULUS));
    const pMinusY = c.add(bls.G1.Point.BASE.multiplyUnsafe((BLS_MODULUS - y) % BLS_MODULUS));
    const pairs = [
      { g1: pMinusY, g2: bls.G2.Point.BASE.negate() },
      { g1: proof, g2: xMinusZ },
    ].filter((p) => !p.g1.is0() && !p.g2.is0());
    return bls.fields.Fp12.eql(bls.pairingBatch(pairs), bls.fields.Fp12.ONE);
  },
  blobToKzgCommitment: unsupported("blobToKzgCommitment"),
  computeBlobProof: unsupported("computeBlobProof"),
  verifyBlobProofBatch: unsupported("verifyBlobProofBatch"),
  computeCells: unsupported("computeCells"),
  computeCellsAndProofs: unsupported("computeCellsAndProofs"),
  recoverCellsAndProofs: unsupported("recoverCellsAndProofs"),
  verifyCellKzgProofBatch: unsupported("verifyCellKzgProofBatch"),
};

/** The same KZG, for callers written against the former async loader. */
export function loadKzg(): Promise<KZG> {
  return Promise.resolve(kzg);
}
