import type { Application, CommitInfo, PrepareProposalRequest } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import { fromApplication, SystemScheduler } from "../../src/index.ts";

/** Records what the consensus adapter passes to primitives' Application. */
class RecordingApplication implements Application {
  prepared: PrepareProposalRequest[] = [];
  processed: [bigint, Uint8Array][] = [];
  finalized: [bigint, Uint8Array, CommitInfo][] = [];
  commits = 0;
  height = 4n;
  async prepareProposal(req: PrepareProposalRequest): Promise<Uint8Array> {
    this.prepared.push(req);
    return Uint8Array.of(1, 2, 3);
  }
  async processProposal(height: bigint, proposal: Uint8Array) {
    this.processed.push([height, proposal]);
    return proposal[0] === 1
      ? { accept: true as const, blockHash: new Uint8Array(32) }
      : { accept: false as const, reason: "bad" };
  }
  async finalizeBlock(height: bigint, proposal: Uint8Array, commit: CommitInfo) {
    this.finalized.push([height, proposal, commit]);
    return { height, hash: new Uint8Array(32), txCount: 0, gasUsed: 0n };
  }
  async commit() {
    this.commits++;
    this.height++;
    return { height: this.height, hash: new Uint8Array(32), txCount: 0, gasUsed: 0n };
  }
  lastCommittedHeight(): bigint {
    return this.height;
  }
}

describe("fromApplication (consensus driving primitives' Application)", () => {
  it("maps prepare, process, finalize and commit", async () => {
    const inner = new RecordingApplication();
    const app = fromApplication(inner);
    const proposer = new Uint8Array(20).fill(7);
    expect(app.lastCommittedHeight()).toBe(4n);
    const value = await app.prepareProposal({
      height: 5n,
      round: 2,
      proposer,
      timestampMs: 1234,
      maxBytes: 99,
    });
    expect(value).toEqual(Uint8Array.of(1, 2, 3));
    expect(inner.prepared).toEqual([{ height: 5n, timestampMs: 1234, proposer, maxBytes: 99 }]);
    expect(await app.processProposal({ height: 5n, round: 2, proposer, value })).toBe(true);
    expect(await app.processProposal({ height: 5n, round: 2, proposer, value: Uint8Array.of(9) })).toBe(
      false,
    );
    const signature = new Uint8Array(65).fill(3);
    const result = await app.finalizeBlock({
      height: 5n,
      round: 2,
      proposer,
      value,
      commit: {
        height: 5n,
        round: 2,
        valueId: new Uint8Array(32),
        signatures: [{ validator: proposer, signature }],
      },
      misbehavior: [],
    });
    expect(result).toEqual({ validatorUpdates: [] });
    expect(inner.finalized).toEqual([
      [
        5n,
        value,
        { height: 5n, round: 2, proposer, signatures: [{ validator: proposer, signature, timestampMs: 0 }] },
      ],
    ]);
    await app.commit(5n);
    expect(inner.commits).toBe(1);
    expect(app.lastCommittedHeight()).toBe(5n);
  });
});

describe("SystemScheduler", () => {
  it("fires timers after their delay and not once cleared", async () => {
    const scheduler = new SystemScheduler();
    const fired: string[] = [];
    const started = scheduler.now();
    scheduler.setTimer(20, () => fired.push("a"));
    const cleared = scheduler.setTimer(10, () => fired.push("b"));
    scheduler.clearTimer(cleared);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toEqual(["a"]);
    expect(scheduler.now() - started).toBeGreaterThanOrEqual(20);
  });
});
