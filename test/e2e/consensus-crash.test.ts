/**
 * kill -9 of a validator in the middle of a height, then a restart on the same datadir: the node
 * replays its consensus WAL, continues from the right height, and never tries to sign a second,
 * different message for a (height, round, step) it signed. Checked on a real process: the signer
 * state file's HRS never goes backwards across restarts, no double-sign refusal is ever logged,
 * a restart after a kill with votes of the current height in the WAL logs the replay, and every
 * block keeps a commit that verifies against the validator set.
 *
 * Kills are timed off the `committed block` log line: right after it (the block is durable, the
 * WAL's end-of-height marker may not be) or about one block time later, when the next height's
 * proposal and votes are being logged (a seeded PRNG picks the offset; CONSENSUS_CRASH_SEED
 * replays a run).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { scanFrames, ValidatorSet, verifyCommit } from "@meridian/consensus";
import { hexToBytes } from "@meridian/primitives";
import { afterAll, describe, expect, it } from "vitest";
import { MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { prng } from "../helpers/prng.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { blockNumber, rpc, waitForBlock } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const BLOCK_MS = 300;
const MAX_KILLS = 10;
const MIN_KILLS = 5;
/** Kills that found votes or a proposal of the current height in the WAL. */
const WANT_MID_HEIGHT = 2;
const SEED = Number(process.env.CONSENSUS_CRASH_SEED ?? 0x5eed);

type Hrs = { height: bigint; round: number; step: number };

function readSignerState(datadir: string): Hrs {
  const raw = JSON.parse(readFileSync(join(datadir, "consensus", "signer-state.json"), "utf8")) as {
    height: string;
    round: number;
    step: number;
  };
  return { height: BigInt(raw.height), round: raw.round, step: raw.step };
}

function compareHrs(a: Hrs, b: Hrs): number {
  if (a.height !== b.height) return a.height < b.height ? -1 : 1;
  if (a.round !== b.round) return a.round - b.round;
  return a.step - b.step;
}

/** True when the WAL holds a proposal or vote of a height after its last end-of-height marker. */
function walMidHeight(datadir: string): boolean {
  const data = new Uint8Array(readFileSync(join(datadir, "consensus", "wal", "wal")));
  const { records } = scanFrames(data);
  let closed = 0n;
  let open = false;
  for (const r of records) {
    if (r.type === "endHeight") {
      closed = r.height;
      open = false;
    } else if (r.input.type === "Vote" && r.input.vote.height > closed) open = true;
    else if (r.input.type === "Proposal" && r.input.proposal.height > closed) open = true;
  }
  return open;
}

/** Kills `node` with SIGKILL `delayMs` after its next `committed block` log line. */
async function killAfterNextCommit(node: NodeHandle, delayMs: number): Promise<void> {
  const stdout = node.proc.stdout;
  if (stdout === null) throw new Error("no stdout");
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString("utf8").includes('"msg":"committed block"')) return;
      stdout.off("data", onData);
      if (delayMs === 0) node.proc.kill("SIGKILL");
      else setTimeout(() => node.proc.kill("SIGKILL"), delayMs);
      resolve();
    };
    stdout.on("data", onData);
  });
  await node.exited;
}

afterAll(async () => {
  await cleanupAll();
});

describe("validator crash safety (kill -9 mid-height, real process)", () => {
  it("replays the WAL, resumes at the right height and never signs backwards", async () => {
    const rand = prng(SEED);
    const datadir = await makeTempDir("meridian-cs-crash-");
    let node = await startMeridian({ datadir, blockTimeMs: BLOCK_MS });
    let kills = 0;
    let midHeight = 0;
    let replays = 0;
    const allLogs: string[] = [];
    const started = Date.now();
    while (kills < MAX_KILLS && (kills < MIN_KILLS || midHeight < WANT_MID_HEIGHT)) {
      if (Date.now() - started > 150_000) break;
      await waitForBlock(node.rpcUrl, (await blockNumber(node.rpcUrl)) + 1n);
      // Even kills: at once (between the commit and the WAL's end marker, or just after);
      // odd: around one block time later, while the next height proposes and votes.
      const delay = kills % 2 === 0 ? 0 : Math.round(BLOCK_MS - 15 + rand() * 45);
      await killAfterNextCommit(node, delay);
      kills++;
      allLogs.push(node.logs());
      const before = readSignerState(datadir);
      const mid = walMidHeight(datadir);
      if (mid) midHeight++;

      node = await startMeridian({ datadir, blockTimeMs: BLOCK_MS });
      const head = await blockNumber(node.rpcUrl);
      // Resumes from the committed head, not from genesis or a height past it.
      expect(head).toBeGreaterThanOrEqual(before.height - 1n);
      await waitForBlock(node.rpcUrl, head + 2n);
      const after = readSignerState(datadir);
      expect(
        compareHrs(after, before),
        `signer state went from ${JSON.stringify(before, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
      ).toBeGreaterThanOrEqual(0);
      if (node.logs().includes('"msg":"consensus WAL replayed"')) replays++;
      else
        expect(mid, "votes of the current height were in the WAL but the restart did not replay them").toBe(
          false,
        );
    }
    allLogs.push(node.logs());
    const logs = allLogs.join("\n");
    expect(logs).not.toMatch(
      /DOUBLE_SIGN|double sign|vote not signed|proposal not signed|consensus loop failed/i,
    );
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(
      midHeight,
      `only ${midHeight} of ${kills} kills landed mid-height (seed ${SEED})`,
    ).toBeGreaterThanOrEqual(1);
    expect(replays).toBeGreaterThanOrEqual(midHeight);

    // Every block of the chain, across all restarts, has a commit that verifies.
    const head = await blockNumber(node.rpcUrl);
    const validators = await rpc<{ address: string; votingPower: string }[]>(
      node.rpcUrl,
      "meridian_getValidators",
      ["latest"],
    );
    const set = ValidatorSet.create(
      validators.map((v) => ({ address: hexToBytes(v.address), power: Number(BigInt(v.votingPower)) })),
    );
    for (let n = 1n; n <= head; n++) {
      const tag = `0x${n.toString(16)}`;
      const commit = await rpc<{
        height: string;
        round: string;
        blockHash: string;
        valueId: string;
        signatures: { validator: string; signature: string }[];
      }>(node.rpcUrl, "meridian_getCommit", [tag]);
      const block = await rpc<{ hash: string }>(node.rpcUrl, "eth_getBlockByNumber", [tag, false]);
      expect(commit.blockHash).toBe(block.hash);
      verifyCommit(set, String(MERIDIAN_CHAIN_ID), {
        height: BigInt(commit.height),
        round: Number(BigInt(commit.round)),
        valueId: hexToBytes(commit.valueId),
        signatures: commit.signatures.map((s) => ({
          validator: hexToBytes(s.validator),
          signature: hexToBytes(s.signature),
        })),
      });
    }
    console.log(
      `consensus crash: seed=${SEED} kills=${kills} midHeight=${midHeight} replays=${replays} head=${head}`,
    );
  }, 240_000);
});
