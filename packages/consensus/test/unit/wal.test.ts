import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256 } from "@meridian/primitives";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ConsensusErrorCode,
  encodeFrame,
  FileWal,
  type LoggedInput,
  MemoryWal,
  scanFrames,
  type Wal,
} from "../../src/index.ts";
import { prevote, signedProposal, testValidators, value } from "../helpers.ts";

const { vals } = testValidators([1, 1, 1, 1]);
const V = value(1);
const inputs: LoggedInput[] = [
  { type: "Proposal", proposal: signedProposal(vals[0]!, 1n, 0, V) },
  { type: "Vote", vote: prevote(vals[1]!, 1n, 0, keccak256(V)) },
  { type: "Vote", vote: prevote(vals[2]!, 1n, 0, null) },
  { type: "TimeoutFired", timeout: { kind: "prevote", height: 1n, round: 0 } },
  { type: "ValueReady", height: 1n, round: 0, valueId: keccak256(V), value: V },
  { type: "ProposalValidated", height: 1n, valueId: keccak256(V), valid: true },
];

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "meridian-wal-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const wals: { name: string; open: () => Promise<Wal>; reopen: (w: Wal) => Promise<Wal> }[] = [
  { name: "memory", open: async () => new MemoryWal(), reopen: async (w) => w },
  {
    name: "file",
    open: () => FileWal.open(join(dir, "cs.wal")),
    reopen: async (w) => {
      await w.close();
      return FileWal.open(join(dir, "cs.wal"));
    },
  },
];

for (const { name, open, reopen } of wals) {
  describe(`${name} WAL`, () => {
    it("replays every logged input of the height after a restart, byte for byte", async () => {
      const wal = await open();
      for (const input of inputs) await wal.append({ type: "input", input }, input.type === "Vote");
      const replayed = await (await reopen(wal)).inputsFor(1n);
      expect(replayed).toEqual(inputs);
    });

    it("replays only the inputs after the previous height's end marker", async () => {
      let wal = await open();
      await wal.append({ type: "input", input: inputs[1]! }, false);
      await wal.append(
        {
          type: "endHeight",
          height: 1n,
          proof: { proposal: Uint8Array.of(1), precommits: [Uint8Array.of(2)] },
        },
        true,
      );
      const next: LoggedInput = { type: "TimeoutFired", timeout: { kind: "propose", height: 2n, round: 0 } };
      await wal.append({ type: "input", input: next }, false);
      wal = await reopen(wal);
      expect(await wal.inputsFor(2n)).toEqual([next]);
      expect(await wal.lastEndHeight()).toEqual({
        height: 1n,
        proof: { proposal: Uint8Array.of(1), precommits: [Uint8Array.of(2)] },
      });
    });
  });
}

describe("FileWal crash handling", () => {
  it("serialises appends made without waiting (the driver's loop and its end-of-height marker)", async () => {
    const path = join(dir, "cs.wal");
    const wal = await FileWal.open(path);
    // Not awaited one by one: each write must land after the previous, never at the same offset.
    await Promise.all([
      ...inputs.map((input, i) => wal.append({ type: "input", input }, i % 2 === 0)),
      wal.append({ type: "endHeight", height: 1n, proof: null }, true),
      wal.append({ type: "input", input: inputs[3]! }, false),
    ]);
    await wal.close();
    const { records, tornBytes } = scanFrames(new Uint8Array(await readFile(path)));
    expect(tornBytes).toBe(0);
    expect(records).toEqual([
      ...inputs.map((input) => ({ type: "input", input })),
      { type: "endHeight", height: 1n, proof: null },
      { type: "input", input: inputs[3] },
    ]);
  });

  it("truncates a torn last frame and keeps what came before", async () => {
    const path = join(dir, "cs.wal");
    const wal = await FileWal.open(path);
    for (const input of inputs.slice(0, 3)) await wal.append({ type: "input", input }, true);
    await wal.close();
    const whole = (await stat(path)).size;
    // The crash cut the last frame short.
    await truncate(path, whole - 7);
    const reopened = await FileWal.open(path);
    expect(reopened.truncatedBytes).toBeGreaterThan(0);
    expect(await reopened.inputsFor(1n)).toEqual(inputs.slice(0, 2));
    // Appending after the truncation yields a clean log.
    await reopened.append({ type: "input", input: inputs[3]! }, true);
    await reopened.close();
    expect(await (await FileWal.open(path)).inputsFor(1n)).toEqual([inputs[0], inputs[1], inputs[3]]);
  });

  it("truncates a torn header and a last frame whose checksum fails", async () => {
    const path = join(dir, "cs.wal");
    const wal = await FileWal.open(path);
    await wal.append({ type: "input", input: inputs[0]! }, true);
    await wal.close();
    await appendFile(path, Uint8Array.of(0, 0, 1));
    expect(await (await FileWal.open(path)).inputsFor(1n)).toEqual([inputs[0]]);
    const frame = encodeFrame({ type: "input", input: inputs[1]! });
    frame[frame.length - 1] ^= 0xff;
    await appendFile(path, frame);
    const reopened = await FileWal.open(path);
    expect(reopened.truncatedBytes).toBe(frame.length);
    expect(await reopened.inputsFor(1n)).toEqual([inputs[0]]);
  });

  it("a corrupt frame in the middle is an error, not silently dropped", async () => {
    const frames = inputs.slice(0, 3).map((input) => encodeFrame({ type: "input", input }));
    (frames[1] as Uint8Array)[10] ^= 0xff;
    const data = Buffer.concat(frames);
    expect(() => scanFrames(data)).toThrow(expect.objectContaining({ code: ConsensusErrorCode.WalCorrupt }));
    await writeFile(join(dir, "bad.wal"), data);
    await expect(FileWal.open(join(dir, "bad.wal"))).rejects.toMatchObject({
      code: ConsensusErrorCode.WalCorrupt,
    });
  });

  it("rotates to a file holding just the end marker once it grows past the limit", async () => {
    const path = join(dir, "cs.wal");
    const wal = await FileWal.open(path, { rotateBytes: 200 });
    for (const input of inputs) await wal.append({ type: "input", input }, false);
    await wal.append({ type: "endHeight", height: 1n, proof: null }, true);
    await wal.close();
    const data = await readFile(path);
    expect(scanFrames(data).records).toEqual([{ type: "endHeight", height: 1n, proof: null }]);
  });
});
