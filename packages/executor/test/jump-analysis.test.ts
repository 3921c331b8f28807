/**
 * The per-code jump-analysis cache: installed, used for repeated calls to one code object,
 * and never changing a result: a call on the cached analysis returns what the same code,
 * analysed afresh, returns (random programs full of PUSHes, JUMPDESTs and jumps).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Account, Address } from "@ethereumjs/util";
import { bytesToHex } from "@meridian/primitives";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildGenesis,
  chainCommon,
  jumpAnalysesRun,
  jumpAnalysisCached,
  parseGenesis,
  SequentialExecutor,
  setJumpAnalysisCache,
} from "../src/index.ts";

const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const spec = parseGenesis(genesisJson, "devnet.json");
const common = chainCommon(spec);
const CONTRACT = new Address(new Uint8Array(20).fill(0xc0));

let dir: string;
let db: ChainDatabase;
let store: FlatStateStore;
let genesis: Awaited<ReturnType<typeof buildGenesis>>;
const executor = new SequentialExecutor(common);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "meridian-jumps-"));
  db = await ChainDatabase.open(join(dir, "db"));
  store = new FlatStateStore(db);
  genesis = await buildGenesis(spec, store, common);
  const batch = db.batch();
  await genesis.state.writeTo(batch);
  await db.write(batch);
});

afterAll(async () => {
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Calls CONTRACT holding `code` (this very object: the analysis cache is keyed by it). */
async function callCode(code: Uint8Array) {
  const state = new FlatStateManager(store, genesis.block.header.stateRoot);
  await state.putAccount(CONTRACT, new Account());
  await state.putCode(CONTRACT, code);
  // putCode keeps its own copy: hand the EVM the object under test, as a code cache does.
  state.getCode = async () => code;
  const out = await executor.call({ to: CONTRACT.bytes, gas: 1_000_000n }, genesis.block, state, {
    gasCap: 1_000_000n,
  });
  return {
    returnData: bytesToHex(out.returnData),
    gasUsed: out.gasUsed,
    error: out.error?.message ?? null,
  };
}

/** A program of whole instructions: pushes of 1-3 bytes, JUMPDESTs, jumps to pushed targets, arithmetic. */
const program = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3 }).map((imm) => [0x5f + imm.length, ...imm]),
      fc.constant([0x5b]), // JUMPDEST
      fc.integer({ min: 0, max: 40 }).map((to) => [0x60, to, 0x56]), // PUSH1 to JUMP
      fc.integer({ min: 0, max: 40 }).map((to) => [0x60, 1, 0x60, to, 0x57]), // PUSH1 1 PUSH1 to JUMPI
      fc.constantFrom([0x01], [0x50], [0x80], [0x60, 0, 0x52]), // ADD POP DUP1 MSTORE(0)
      // A push whose immediate holds a JUMPDEST byte: not a valid destination.
      fc.constant([0x61, 0x5b, 0x5b]),
    ),
    { minLength: 1, maxLength: 24 },
  )
  // End by returning the first memory word, so every run has an output to compare.
  .map((parts) => Uint8Array.from([...parts.flat(), 0x60, 0x20, 0x60, 0x00, 0xf3]));

describe("jump analysis cache", () => {
  it("is installed on this @ethereumjs/evm", () => {
    expect(jumpAnalysisCached).toBe(true);
  });

  it("analyses one code object once however often it is called", async () => {
    // PUSH1 4 JUMP INVALID JUMPDEST PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    const code = Uint8Array.from([
      0x60, 4, 0x56, 0xfe, 0x5b, 0x60, 42, 0x60, 0, 0x52, 0x60, 32, 0x60, 0, 0xf3,
    ]);
    const before = jumpAnalysesRun();
    const first = await callCode(code);
    for (let i = 0; i < 5; i++) expect(await callCode(code)).toEqual(first);
    expect(jumpAnalysesRun() - before).toBe(1);
    expect(BigInt(first.returnData)).toBe(42n);
    // The same bytes in another object are analysed again: the key is the object, not a hash.
    expect(await callCode(new Uint8Array(code))).toEqual(first);
    expect(jumpAnalysesRun() - before).toBe(2);
  });

  it("never changes a call's result, gas or error: cached analysis equals one made without the cache", async () => {
    await fc.assert(
      fc.asyncProperty(program, async (code) => {
        setJumpAnalysisCache(false);
        let fresh: Awaited<ReturnType<typeof callCode>>;
        try {
          fresh = await callCode(code);
        } finally {
          setJumpAnalysisCache(true);
        }
        // The first call fills the cache, the second is answered from it.
        expect(await callCode(code)).toEqual(fresh);
        expect(await callCode(code)).toEqual(fresh);
        expect(await callCode(new Uint8Array(code))).toEqual(fresh);
      }),
      { numRuns: 150 },
    );
  });
});
