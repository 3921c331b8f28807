import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexKey, privateKeyToAddress } from "@meridian/primitives";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ConsensusDriver,
  type ConsensusInput,
  defaultConsensusParams,
  EvidencePool,
  FileSignerStateStore,
  FileWal,
  Signer,
  StaticValidatorSets,
  ValidatorSet,
  VoteType,
} from "../../src/index.ts";
import { FakeApplication } from "../../src/sim/fake-app.ts";
import { Prng } from "../../src/sim/prng.ts";
import { VirtualClock } from "../../src/sim/virtual-clock.ts";
import { CHAIN_ID, testKey } from "../helpers.ts";

const KEY = testKey(0);
const set = ValidatorSet.create([{ address: privateKeyToAddress(KEY), power: 1 }]);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "meridian-driver-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Node = { driver: ConsensusDriver; wal: FileWal; inputs: ConsensusInput[]; decided: Map<bigint, string> };

/** A one-validator chain on real files: the driver's WAL and the signer's state file. */
async function startNode(
  app: FakeApplication,
  clock: VirtualClock,
  decided: Map<bigint, string>,
  crashAt?: (input: ConsensusInput) => boolean,
): Promise<Node> {
  const wal = await FileWal.open(join(dir, "cs.wal"));
  const signer = await Signer.open(KEY, new FileSignerStateStore(join(dir, "priv_validator_state.json")));
  const inputs: ConsensusInput[] = [];
  const driver = new ConsensusDriver({
    chainId: CHAIN_ID,
    params: defaultConsensusParams,
    signer,
    wal,
    app,
    transport: { broadcast: () => {}, send: () => {} },
    scheduler: clock,
    validatorSets: new StaticValidatorSets(set),
    evidencePool: new EvidencePool({ chainId: CHAIN_ID, maxAgeHeights: 100n }),
    observer: {
      input: (input) => {
        inputs.push(input);
        // Crash the moment the core has taken this input: nothing after it is performed.
        if (crashAt?.(input)) void driver.stop();
      },
      decided: (height, _round, proposal) => {
        const id = hexKey(proposal.valueId);
        const before = decided.get(height);
        if (before !== undefined && before !== id)
          throw new Error(`height ${height} decided twice differently`);
        decided.set(height, id);
      },
    },
  });
  await driver.start();
  return { driver, wal, inputs, decided };
}

/** Lets the driver's real file I/O finish: virtual time must not move while it is under way. */
async function settle(driver: ConsensusDriver): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (driver.settled) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error("driver did not settle");
}

/** Runs virtual time forward one event at a time, settling in between, until `done` or the bound. */
async function runUntil(driver: ConsensusDriver, clock: VirtualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !done(); i++) {
    await settle(driver);
    if (done()) return;
    clock.runNext(Number.MAX_SAFE_INTEGER);
  }
}

describe("ConsensusDriver crash recovery on real files", () => {
  it("resumes mid-height from the WAL after a crash, with the same proposal and no double sign", async () => {
    const clock = new VirtualClock();
    const app = new FakeApplication({ rng: new Prng(7), byzantine: false });
    const decided = new Map<bigint, string>();
    const ownPrevoteAt3 = (i: ConsensusInput) =>
      i.type === "Vote" && i.vote.height === 3n && i.vote.type === VoteType.Prevote;
    const first = await startNode(app, clock, decided, ownPrevoteAt3);
    await runUntil(first.driver, clock, () => app.lastCommittedHeight() >= 2n);
    expect(app.lastCommittedHeight()).toBe(2n);

    // Crash at height 3 right after our own prevote is in the WAL (the proposal is signed and logged too).
    await runUntil(first.driver, clock, () => first.inputs.some(ownPrevoteAt3));
    await first.driver.stop();
    await first.wal.close();
    const proposalBeforeCrash = first.inputs.find((i) => i.type === "Proposal" && i.proposal.height === 3n);
    expect(proposalBeforeCrash).toBeDefined();
    expect(app.lastCommittedHeight()).toBe(2n);
    // The crash also tore the frame being written.
    await appendFile(join(dir, "cs.wal"), Uint8Array.of(0, 0, 0, 9, 0, 0, 0, 40, 1, 2, 3));

    const second = await startNode(app, clock, decided);
    expect(second.wal.truncatedBytes).toBe(11);
    // Replay fed the logged height-3 inputs back to the core: the same proposal, our own prevote.
    const replayedProposal = second.inputs.find((i) => i.type === "Proposal");
    expect(replayedProposal).toEqual(proposalBeforeCrash);
    await runUntil(second.driver, clock, () => app.lastCommittedHeight() >= 5n);
    // Our height-3 prevote was not signed again differently: the one before the crash is the only one.
    const prevotesAt3 = second.inputs.filter(ownPrevoteAt3);
    expect(prevotesAt3).toEqual([first.inputs.find(ownPrevoteAt3)]);
    expect(app.lastCommittedHeight()).toBe(5n);
    // Height 3 was decided with the value proposed before the crash.
    if (proposalBeforeCrash?.type !== "Proposal") throw new Error("unreachable");
    expect(decided.get(3n)).toBe(hexKey(proposalBeforeCrash.proposal.valueId));
    await second.driver.stop();
    await second.wal.close();
  }, 60_000);
});
