import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { equalBytes } from "@meridian/primitives";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ConsensusError,
  ConsensusErrorCode,
  exportSigningState,
  FileSignerStateStore,
  importSigningState,
  MemorySignerStateStore,
  recoverSigner,
  Signer,
  type SignerStateStore,
  signDigest,
  VoteType,
  voteSignBytes,
} from "../../src/index.ts";
import { CHAIN_ID, testKey } from "../helpers.ts";

const KEY = testKey(0);
const vote = (height: bigint, round: number, type: VoteType, id: number | null) => ({
  type,
  height,
  round,
  valueId: id === null ? null : new Uint8Array(32).fill(id),
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "meridian-signer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stores: { name: string; make: () => SignerStateStore }[] = [
  { name: "memory", make: () => new MemorySignerStateStore() },
  { name: "file", make: () => new FileSignerStateStore(join(dir, "priv_validator_state.json")) },
];

for (const { name, make } of stores) {
  describe(`Signer over the ${name} store`, () => {
    it("signs recoverably with the validator's Ethereum address", async () => {
      const signer = await Signer.open(KEY, make());
      const v = vote(5n, 0, VoteType.Prevote, 1);
      const sig = await signer.signVote(CHAIN_ID, v);
      expect(sig.length).toBe(65);
      expect(equalBytes(recoverSigner(signDigest(voteSignBytes(CHAIN_ID, v)), sig), signer.address)).toBe(
        true,
      );
    });

    it("returns the same signature for the same request", async () => {
      const signer = await Signer.open(KEY, make());
      const v = vote(5n, 0, VoteType.Prevote, 1);
      expect(await signer.signVote(CHAIN_ID, v)).toEqual(await signer.signVote(CHAIN_ID, v));
    });

    it("refuses a conflicting vote at the same height/round/step", async () => {
      const signer = await Signer.open(KEY, make());
      await signer.signVote(CHAIN_ID, vote(5n, 0, VoteType.Prevote, 1));
      const err = await signer.signVote(CHAIN_ID, vote(5n, 0, VoteType.Prevote, 2)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConsensusError);
      expect((err as ConsensusError).code).toBe(ConsensusErrorCode.DoubleSign);
      expect((err as ConsensusError).shortMessage).toMatchInlineSnapshot(
        `"refusing to sign: conflicting data at the same height/round/step"`,
      );
    });

    it("refuses regressions in height, round and step", async () => {
      const signer = await Signer.open(KEY, make());
      await signer.signVote(CHAIN_ID, vote(5n, 2, VoteType.Precommit, 1));
      for (const v of [
        vote(4n, 9, VoteType.Precommit, 1),
        vote(5n, 1, VoteType.Precommit, 1),
        vote(5n, 2, VoteType.Prevote, 1),
      ]) {
        await expect(signer.signVote(CHAIN_ID, v)).rejects.toMatchObject({
          code: ConsensusErrorCode.DoubleSign,
        });
      }
      // Moving forward is fine.
      await signer.signVote(CHAIN_ID, vote(5n, 3, VoteType.Prevote, null));
    });

    it("keeps the last signed state across a reopen", async () => {
      const store = make();
      const first = await Signer.open(KEY, store);
      const v = vote(7n, 1, VoteType.Precommit, 3);
      const sig = await first.signVote(CHAIN_ID, v);
      const reopened = await Signer.open(KEY, name === "file" ? make() : store);
      expect(reopened.lastSigned()).toMatchObject({ height: 7n, round: 1, step: 3 });
      expect(await reopened.signVote(CHAIN_ID, v)).toEqual(sig);
      await expect(reopened.signVote(CHAIN_ID, vote(7n, 1, VoteType.Precommit, 4))).rejects.toMatchObject({
        code: ConsensusErrorCode.DoubleSign,
      });
    });

    it("exports and imports the signing state; an older import is refused", async () => {
      const store = make();
      const signer = await Signer.open(KEY, store);
      await signer.signVote(CHAIN_ID, vote(9n, 0, VoteType.Prevote, 1));
      const json = (await exportSigningState(store)) as string;
      expect(JSON.parse(json)).toMatchObject({ height: "9", round: 0, step: 2 });
      const moved = new MemorySignerStateStore();
      await importSigningState(moved, json);
      const onNewMachine = await Signer.open(KEY, moved);
      await expect(onNewMachine.signVote(CHAIN_ID, vote(9n, 0, VoteType.Prevote, 2))).rejects.toMatchObject({
        code: ConsensusErrorCode.DoubleSign,
      });
      await onNewMachine.signVote(CHAIN_ID, vote(10n, 0, VoteType.Prevote, 2));
      await expect(importSigningState(moved, json)).rejects.toMatchObject({
        code: ConsensusErrorCode.DoubleSign,
      });
    });
  });
}

describe("FileSignerStateStore", () => {
  it("a torn write (temp file never renamed) leaves the previous state in force", async () => {
    const path = join(dir, "state.json");
    const signer = await Signer.open(KEY, new FileSignerStateStore(path));
    await signer.signVote(CHAIN_ID, vote(3n, 0, VoteType.Prevote, 1));
    // A crash while writing the next state: half a JSON document in the temp file.
    await writeFile(`${path}.tmp`, '{"height":"4","rou');
    const reopened = await Signer.open(KEY, new FileSignerStateStore(path));
    expect(reopened.lastSigned()).toMatchObject({ height: 3n, step: 2 });
    await expect(readFile(`${path}.tmp`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a corrupt state file is an error, never a fresh start", async () => {
    const path = join(dir, "state.json");
    await writeFile(path, "{not json");
    await expect(Signer.open(KEY, new FileSignerStateStore(path))).rejects.toMatchObject({
      code: ConsensusErrorCode.SignerState,
    });
  });

  it("the state is on disk before the signature is returned", async () => {
    const path = join(dir, "state.json");
    const signer = await Signer.open(KEY, new FileSignerStateStore(path));
    const sig = await signer.signVote(CHAIN_ID, vote(11n, 2, VoteType.Precommit, 5));
    const onDisk = JSON.parse(await readFile(path, "utf8")) as { height: string; signature: string };
    expect(onDisk.height).toBe("11");
    expect(onDisk.signature).toBe(`0x${Buffer.from(sig).toString("hex")}`);
  });
});
