/**
 * One validator in process (a Chain on LevelDB, the consensus driver, file WAL and signer
 * state): the block time is the interval between blocks, whatever deciding a block costs,
 * as it was with the timer producer (the commit timeout counts from the height's start).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Chain } from "@meridian/chain";
import { parseGenesis } from "@meridian/executor";
import { bytesToHex, privateKeyToAddress, silentLogger } from "@meridian/primitives";
import { afterAll, describe, expect, it } from "vitest";
import { startValidator } from "../src/validator.ts";

const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Returns once `done()` holds or `timeoutMs` has passed (the caller's assertions then say which). */
async function pollUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

describe("single validator block time", () => {
  it("keeps --block-time as the interval when deciding a block takes half of it", async () => {
    const BLOCK_MS = 200;
    const SLOW_MS = 100;
    const key = new Uint8Array(randomBytes(32));
    const genesis = parseGenesis({
      ...genesisJson,
      // A random key with a fixed power: a chain without the staking section.
      staking: undefined,
      validators: [{ address: bytesToHex(privateKeyToAddress(key)), power: 1 }],
    });
    const datadir = await mkdtemp(join(tmpdir(), "meridian-val-"));
    dirs.push(datadir);
    const chain = await Chain.open({ datadir, genesis, logger: silentLogger, workers: 0 });
    const commits: number[] = [];
    // Each height the proposer waits SLOW_MS for "a transaction": deciding costs SLOW_MS + ε.
    let waitingSince: number | undefined;
    chain.on("committed", () => {
      commits.push(performance.now());
      waitingSince = undefined;
    });
    const validator = await startValidator({
      chain,
      genesis,
      datadir,
      privateKey: key,
      blockTimeMs: BLOCK_MS,
      emptyBlocks: false,
      hasPendingTransactions: () => {
        waitingSince ??= performance.now();
        return performance.now() - waitingSince >= SLOW_MS;
      },
      logger: silentLogger,
    });
    try {
      await pollUntil(() => commits.length >= 10, 15_000);
    } finally {
      await validator.stop();
      await chain.close();
    }
    expect(commits.length).toBeGreaterThanOrEqual(10);
    const intervals = commits.slice(2).map((t, i) => t - (commits[i + 1] as number));
    // Counted from the decision the interval would be BLOCK_MS + SLOW_MS (300 ms).
    expect(median(intervals)).toBeGreaterThanOrEqual(BLOCK_MS - 10);
    expect(median(intervals)).toBeLessThan(BLOCK_MS + SLOW_MS / 2);
  }, 30_000);

  it("runs its rounds on the genesis timeouts (meridian.timeouts)", async () => {
    // Three quarters of the power runs; the other quarter's validator is down. At the heights
    // it should propose, the round waits out the propose timeout and the next round decides:
    // those heights take the block time plus about one propose timeout, the genesis' 50 ms
    // (with the default 1 s timeout they would take over a second).
    const key = new Uint8Array(randomBytes(32));
    const absent = new Uint8Array(randomBytes(32));
    const genesis = parseGenesis({
      ...genesisJson,
      staking: undefined,
      validators: [
        { address: bytesToHex(privateKeyToAddress(key)), power: 3 },
        { address: bytesToHex(privateKeyToAddress(absent)), power: 1 },
      ],
      meridian: {
        ...genesisJson.meridian,
        timeouts: {
          proposeMs: 50,
          proposeDeltaMs: 0,
          prevoteMs: 50,
          prevoteDeltaMs: 0,
          precommitMs: 50,
          precommitDeltaMs: 0,
        },
      },
    });
    const BLOCK_MS = 100;
    const datadir = await mkdtemp(join(tmpdir(), "meridian-val-timeouts-"));
    dirs.push(datadir);
    const chain = await Chain.open({ datadir, genesis, logger: silentLogger, workers: 0 });
    const committedAt = new Map<bigint, number>();
    chain.on("committed", ({ block }: { block: { header: { number: bigint } } }) => {
      committedAt.set(block.header.number, performance.now());
    });
    const validator = await startValidator({
      chain,
      genesis,
      datadir,
      privateKey: key,
      blockTimeMs: BLOCK_MS,
      emptyBlocks: true,
      logger: silentLogger,
    });
    try {
      await pollUntil(() => committedAt.size >= 12, 15_000);
    } finally {
      await validator.stop();
    }
    const slow: number[] = [];
    for (let h = 2n; h <= BigInt(committedAt.size); h++) {
      const round = (await chain.commitInfo(h))?.round ?? 0;
      if (round > 0) slow.push((committedAt.get(h) as number) - (committedAt.get(h - 1n) as number));
    }
    await chain.close();
    expect(committedAt.size).toBeGreaterThanOrEqual(12);
    // Weighted round robin gives the absent validator one height in four.
    expect(slow.length).toBeGreaterThanOrEqual(1);
    // Generous for a loaded CI machine, and still well under the default timeout's 1 s.
    for (const ms of slow) expect(ms).toBeLessThan(BLOCK_MS + 50 + 650);
  }, 30_000);
});
