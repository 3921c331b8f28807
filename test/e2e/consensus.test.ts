/**
 * The devnet runs the BFT engine: every block carries a commit of +2/3 precommit signatures
 * that anyone holding the validator set can check (meridian_getCommit, meridian_getValidators),
 * the validator's signer state and WAL live in the datadir, and a key outside the genesis
 * validator set is refused.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ValidatorSet, verifyCommit } from "@meridian/consensus";
import { hexToBytes } from "@meridian/primitives";
import { generatePrivateKey } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { MERIDIAN_BIN, startMeridian } from "../helpers/meridian-process.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { cleanupAll, type NodeHandle, spawnManaged } from "../helpers/process.ts";
import { rpc, waitForBlock } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

type ValidatorJson = { address: string; votingPower: string; proposerPriority: string };
type CommitJson = {
  height: string;
  round: string;
  blockHash: string;
  valueId: string;
  proposer: string;
  signatures: { validator: string; signature: string }[];
  misbehavior: unknown[];
};

let node: NodeHandle;

beforeAll(async () => {
  node = await startMeridian({ blockTimeMs: 200 });
  await waitForBlock(node.rpcUrl, 3n);
});

afterAll(async () => {
  await cleanupAll();
});

function validatorSetOf(json: ValidatorJson[]): ValidatorSet {
  return ValidatorSet.create(
    json.map((v) => ({ address: hexToBytes(v.address), power: Number(BigInt(v.votingPower)) })),
  );
}

describe("single-validator BFT devnet", () => {
  it("stores a commit with each block whose signatures verify against the validator set", async () => {
    for (const n of [1n, 2n, 3n]) {
      const tag = `0x${n.toString(16)}`;
      const block = await rpc<{ hash: string; miner: string }>(node.rpcUrl, "eth_getBlockByNumber", [
        tag,
        false,
      ]);
      const validators = await rpc<ValidatorJson[]>(node.rpcUrl, "meridian_getValidators", [tag]);
      const commit = await rpc<CommitJson>(node.rpcUrl, "meridian_getCommit", [tag]);
      expect(validators).toHaveLength(1);
      expect(BigInt(validators[0]?.votingPower ?? "0x0")).toBeGreaterThan(0n);
      expect(commit.height).toBe(tag);
      expect(commit.blockHash).toBe(block.hash);
      // The devnet runs proof of stake: the miner (fee recipient) is the staking contract, and
      // the proposer is reported by the commit, the only validator.
      expect(block.miner.toLowerCase()).toBe("0x0000000000000000000000000000000000001000");
      const validator = validators[0]?.address.toLowerCase();
      expect(commit.proposer.toLowerCase()).toBe(validator);
      expect(commit.signatures.map((s) => s.validator.toLowerCase())).toEqual([validator]);
      expect(commit.misbehavior).toEqual([]);
      const asCommit = {
        height: BigInt(commit.height),
        round: Number(BigInt(commit.round)),
        valueId: hexToBytes(commit.valueId),
        signatures: commit.signatures.map((s) => ({
          validator: hexToBytes(s.validator),
          signature: hexToBytes(s.signature),
        })),
      };
      verifyCommit(validatorSetOf(validators), String(MERIDIAN_CHAIN_ID), asCommit);
      // The same signatures for another block (height) do not verify.
      expect(() =>
        verifyCommit(validatorSetOf(validators), String(MERIDIAN_CHAIN_ID), {
          ...asCommit,
          height: asCommit.height + 1n,
        }),
      ).toThrow(/was made by/);
    }
  });

  it("answers null for blocks not yet committed and for the genesis block", async () => {
    expect(await rpc(node.rpcUrl, "meridian_getCommit", ["0xffffff"])).toBeNull();
    expect(await rpc(node.rpcUrl, "meridian_getValidators", ["0xffffff"])).toBeNull();
    expect(await rpc(node.rpcUrl, "meridian_getCommit", ["0x0"])).toBeNull();
    const latest = await rpc<CommitJson>(node.rpcUrl, "meridian_getCommit", []);
    expect(BigInt(latest.height)).toBeGreaterThanOrEqual(3n);
  });

  it("finalized and safe are the last committed block", async () => {
    const [finalized, latest] = await Promise.all([
      rpc<{ number: string }>(node.rpcUrl, "eth_getBlockByNumber", ["finalized", false]),
      rpc<{ number: string }>(node.rpcUrl, "eth_getBlockByNumber", ["latest", false]),
    ]);
    // One block may commit between the two reads.
    expect(BigInt(latest.number) - BigInt(finalized.number)).toBeLessThanOrEqual(1n);
    expect(await rpc(node.rpcUrl, "meridian_getCommit", [finalized.number])).not.toBeNull();
  });

  it("meridian_status reports the height consensus is deciding", async () => {
    const status = await rpc<{
      producing: boolean;
      consensus: { height: string; round: number; step: string };
    }>(node.rpcUrl, "meridian_status");
    const head = await rpc<string>(node.rpcUrl, "eth_blockNumber");
    expect(status.producing).toBe(true);
    // The head's successor, or the head itself while its commit timeout runs (decided, not yet moved on).
    expect(BigInt(status.consensus.height) - BigInt(head)).toBeGreaterThanOrEqual(0n);
    expect(BigInt(status.consensus.height) - BigInt(head)).toBeLessThanOrEqual(2n);
    expect(["propose", "prevote", "precommit", "decided"]).toContain(status.consensus.step);
  });

  it("keeps the signer state and the WAL in <datadir>/consensus", async () => {
    const state = JSON.parse(readFileSync(join(node.datadir, "consensus", "signer-state.json"), "utf8")) as {
      height: string | number;
    };
    expect(BigInt(state.height)).toBeGreaterThanOrEqual(3n);
    expect(existsSync(join(node.datadir, "consensus", "wal", "wal"))).toBe(true);
  });
});

describe("a key outside the genesis validator set", () => {
  it("is refused at start with NOT_A_VALIDATOR", async () => {
    const dir = await makeTempDir("meridian-notval-");
    const datadir = join(dir, "node");
    process.env.MERIDIAN_KEYSTORE_SCRYPT_N = "1024";
    const run = async (args: string[]) => {
      const p = spawnManaged(process.execPath, [MERIDIAN_BIN, ...args], REPO_ROOT);
      const exit = await p.exited;
      return { code: exit.code, logs: p.logs() };
    };
    expect((await run(["init", "--datadir", datadir])).code).toBe(0);
    await writeFile(join(dir, "pw"), "pw\n");
    await writeFile(join(dir, "key.hex"), generatePrivateKey());
    const imported = await run([
      "keys",
      "import",
      join(dir, "key.hex"),
      "--datadir",
      datadir,
      "--password",
      join(dir, "pw"),
    ]);
    const keystore = imported.logs.match(/Keystore:\s+(\S+)/)?.[1];
    expect(keystore).toBeDefined();
    const started = await run([
      "start",
      "--datadir",
      datadir,
      "--keystore",
      keystore ?? "",
      "--password",
      join(dir, "pw"),
      "--http.port",
      "0",
      "--metrics.port",
      "0",
    ]);
    expect(started.code).not.toBe(0);
    expect(started.logs).toMatch(/NOT_A_VALIDATOR/);
    expect(started.logs).toMatch(/not in the genesis validator set/);
  });
});
