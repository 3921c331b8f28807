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
      const until = Date.now() + 15_000;
      while (commits.length < 10 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
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
});
