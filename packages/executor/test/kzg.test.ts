import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { afterAll, describe, expect, it } from "vitest";
import { buildGenesis, chainCommon, kzg, parseGenesis, SequentialExecutor } from "../src/index.ts";

const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const POINT_EVALUATION = new Uint8Array(20);
POINT_EVALUATION[19] = 0x0a;

/**
 * EIP-4844 point evaluation input: versioned_hash | z | y | commitment | proof. The vector is
 * the execution-spec-tests "INF_POINT" case: commitment and proof at infinity, z = 0, y = 0
 * (the zero polynomial evaluates to 0 everywhere), versioned hash 0x01 ‖ sha256(commitment)[1:].
 */
function input(y: number): Uint8Array {
  const infinity = new Uint8Array(48);
  infinity[0] = 0xc0;
  const versioned = new Uint8Array(createHash("sha256").update(infinity).digest());
  versioned[0] = 0x01;
  const z = new Uint8Array(32);
  const yb = new Uint8Array(32);
  yb[31] = y;
  return Uint8Array.from([...versioned, ...z, ...yb, ...infinity, ...infinity]);
}

describe("KZG (EIP-4844 point evaluation)", () => {
  it("verifies the vector directly", () => {
    const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString("hex")}`;
    const inf = `0xc0${"00".repeat(47)}`;
    expect(kzg.verifyProof(inf, hex(new Uint8Array(32)), hex(new Uint8Array(32)), inf)).toBe(true);
    expect(kzg.verifyProof(inf, hex(new Uint8Array(32)), `0x${"00".repeat(31)}01`, inf)).toBe(false);
  });

  it("runs the 0x0a precompile through SequentialExecutor.call on the devnet genesis", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meridian-kzg-"));
    dirs.push(dir);
    const db = await ChainDatabase.open(join(dir, "db"));
    try {
      const store = new FlatStateStore(db);
      const spec = parseGenesis(genesisJson, "devnet.json");
      const common = chainCommon(spec);
      const genesis = await buildGenesis(spec, store, common);
      const executor = new SequentialExecutor(common);
      const call = (data: Uint8Array) =>
        executor.call({ to: POINT_EVALUATION, data }, genesis.block, genesis.state, { gasCap: 1_000_000n });

      const ok = await call(input(0));
      expect(ok.error).toBeUndefined();
      // FIELD_ELEMENTS_PER_BLOB (4096) and BLS_MODULUS, 32 bytes each.
      expect(ok.returnData).toHaveLength(64);
      expect(BigInt(`0x${Buffer.from(ok.returnData.subarray(0, 32)).toString("hex")}`)).toBe(4096n);
      expect(BigInt(`0x${Buffer.from(ok.returnData.subarray(32)).toString("hex")}`)).toBe(
        0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n,
      );

      const bad = await call(input(1));
      expect(bad.error?.kind).toBe("halt");
      expect(bad.returnData).toHaveLength(0);
      expect(genesis.state).toBeInstanceOf(FlatStateManager);
    } finally {
      await db.close();
    }
  });
});
