/**
 * Four validators in one process: four Chains on real LevelDB in temp dirs, four consensus
 * drivers (file WALs and signer state), an in-memory transport between them. They commit with
 * +2/3 signatures and agree; bad input from a peer is dropped with a metric and a penalty, never
 * a crash; a Byzantine validator's duplicate vote becomes evidence that a later proposer puts in
 * its value, every validator checks and records beside the block; and three of four keep
 * committing when one stops.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Chain } from "@meridian/chain";
import {
  type DropReason,
  EvidencePool,
  encodeProposal,
  encodeVote,
  evidenceKey,
  proposalSignBytes,
  StaticValidatorSets,
  signDigest,
  signDigestWithKey,
  type Transport,
  ValidatorSet,
  VoteType,
  verifyCommit,
  voteSignBytes,
} from "@meridian/consensus";
import { type GenesisSpec, parseGenesis } from "@meridian/executor";
import { bytesToHex, keccak256, privateKeyToAddress, silentLogger } from "@meridian/primitives";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeValue,
  EVIDENCE_MAX_AGE_HEIGHTS,
  encodeValue,
  type RunningValidator,
  startValidator,
  ValidatorApplication,
} from "../src/validator.ts";

const N = 4;
const BLOCK_MS = 150;
const CHAIN_ID = "7331";
const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);

type Member = {
  id: string;
  key: Uint8Array;
  address: Uint8Array;
  datadir: string;
  chain: Chain;
  validator: RunningValidator;
  dropped: Map<DropReason, number>;
  running: boolean;
  /** Messages that arrived before this member's validator finished starting, delivered once it has. */
  inbox?: Array<[Uint8Array, string]>;
};

const members: Member[] = [];
/** Penalties the transport was asked to apply: `${receiver}<-${peer}:${reason}`. */
const penalties: string[] = [];
let genesis: GenesisSpec;

/** Delivers asynchronously, like a network: a receive never runs inside the sender's call. */
function deliver(to: Member, bytes: Uint8Array, from: string): void {
  setImmediate(() => {
    if (!to.running) return;
    // The others start sending while this one is still starting: hold those messages, as a
    // peer's socket buffer would, rather than lose them.
    if (to.inbox) to.inbox.push([bytes, from]);
    else to.validator.driver.receive(bytes, from);
  });
}

function transportFor(id: string): Transport {
  return {
    broadcast(bytes) {
      for (const m of members) if (m.id !== id) deliver(m, bytes, id);
    },
    send(peer, bytes) {
      const m = members.find((x) => x.id === peer);
      if (m) deliver(m, bytes, id);
    },
    penalize(peer, reason) {
      penalties.push(`${id}<-${peer}:${reason}`);
    },
  };
}

async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const running = () => members.filter((m) => m.running);
const minHeight = (ms = running()) =>
  ms.reduce(
    (min, m) => (m.chain.lastCommittedHeight() < min ? m.chain.lastCommittedHeight() : min),
    1n << 62n,
  );

function validatorSet(): ValidatorSet {
  return ValidatorSet.create(members.map((m) => ({ address: m.address, power: 1 })));
}

function signedVote(
  key: Uint8Array,
  vote: { height: bigint; round: number; valueId: Uint8Array | null; type?: 1 | 2 },
  chainId = CHAIN_ID,
) {
  const v = {
    type: vote.type ?? VoteType.Prevote,
    height: vote.height,
    round: vote.round,
    valueId: vote.valueId,
  };
  return { ...v, signature: signDigestWithKey(key, signDigest(voteSignBytes(chainId, v))) };
}

beforeAll(async () => {
  const keys = Array.from({ length: N }, () => new Uint8Array(randomBytes(32)));
  genesis = parseGenesis({
    ...genesisJson,
    // Four random keys with fixed powers: a chain without the staking section.
    staking: undefined,
    validators: keys.map((k) => ({ address: bytesToHex(privateKeyToAddress(k)), power: 1 })),
  });
  for (const [i, key] of keys.entries()) {
    const datadir = await mkdtemp(join(tmpdir(), `meridian-mv${i}-`));
    const chain = await Chain.open({ datadir, genesis, logger: silentLogger, workers: 0 });
    const dropped = new Map<DropReason, number>();
    const id = `v${i}`;
    const member = {
      id,
      key,
      address: privateKeyToAddress(key),
      datadir,
      chain,
      dropped,
      running: true,
      inbox: [] as Array<[Uint8Array, string]>,
    } as Member;
    members.push(member);
    member.validator = await startValidator({
      chain,
      genesis,
      datadir,
      privateKey: key,
      blockTimeMs: BLOCK_MS,
      emptyBlocks: true,
      logger: silentLogger,
      transport: transportFor(id),
      metrics: { messageDropped: (reason) => dropped.set(reason, (dropped.get(reason) ?? 0) + 1) },
    });
    const held = member.inbox ?? [];
    member.inbox = undefined;
    for (const [bytes, from] of held) member.validator.driver.receive(bytes, from);
  }
}, 60_000);

afterAll(async () => {
  for (const m of members) {
    const wasRunning = m.running;
    m.running = false;
    if (wasRunning) await m.validator.stop();
    await m.chain.close();
    await rm(m.datadir, { recursive: true, force: true });
  }
});

describe("four validators over an in-memory transport", () => {
  it("commit several heights with +2/3 signatures and agree on every block", async () => {
    await waitFor("height 4 everywhere", () => minHeight() >= 4n);
    const set = validatorSet();
    const proposers = new Set<string>();
    for (let h = 1n; h <= 4n; h++) {
      const hashes = await Promise.all(
        members.map(async (m) => bytesToHex((await m.chain.canonicalHash(h)) as Uint8Array)),
      );
      expect(new Set(hashes).size).toBe(1);
      for (const m of members) {
        const info = await m.chain.commitInfo(h);
        const block = await m.chain.blockByNumber(h);
        expect(info?.valueId).toBeDefined();
        // +2/3 of 4 equal powers is 3 signatures at least.
        expect(info?.signatures.length).toBeGreaterThanOrEqual(3);
        verifyCommit(set, CHAIN_ID, {
          height: h,
          round: info?.round ?? 0,
          valueId: info?.valueId as Uint8Array,
          signatures: info?.signatures ?? [],
        });
        expect(bytesToHex(block?.header.coinbase.bytes ?? new Uint8Array())).toBe(
          bytesToHex(info?.proposer ?? new Uint8Array()),
        );
        proposers.add(bytesToHex(info?.proposer ?? new Uint8Array()));
      }
    }
    // Weighted round robin with equal powers: the proposer rotates.
    expect(proposers.size).toBeGreaterThan(1);
  });

  it("drops bad input with a metric and a penalty for the peer, and keeps committing", async () => {
    const target = members[0] as Member;
    const driver = target.validator.driver;
    const h = driver.height;
    const validatorKey = (members[1] as Member).key;
    const stranger = new Uint8Array(randomBytes(32));
    const value = new Uint8Array(randomBytes(32));
    const valueId = keccak256(value);
    const good = signedVote(validatorKey, { height: h, round: 0, valueId });
    const badSig = encodeVote({ ...good, signature: new Uint8Array(65).fill(0) });
    const oversized = encodeProposal({
      height: h,
      round: 0,
      valueId,
      polRound: -1,
      value: new Uint8Array(8 * 1024 * 1024 + 1),
      signature: good.signature,
    });
    // Signed by a validator, but the value bytes do not hash to the value id.
    const badValue = (() => {
      const p = { height: h, round: 0, valueId, polRound: -1 };
      const signature = signDigestWithKey(validatorKey, signDigest(proposalSignBytes(CHAIN_ID, p)));
      return encodeProposal({ ...p, value: Uint8Array.of(1, 2, 3), signature });
    })();
    const cases: [Uint8Array, DropReason][] = [
      [Uint8Array.of(0xff, 0x01, 0x02), "malformed"],
      [new Uint8Array(0), "malformed"],
      [oversized, "malformed"],
      [badSig, "bad-signature"],
      // Signed by a validator's key but for another chain: recovers to a stranger.
      [encodeVote(signedVote(validatorKey, { height: h, round: 0, valueId }, "999")), "unknown-validator"],
      [encodeVote(signedVote(stranger, { height: h, round: 0, valueId })), "unknown-validator"],
      [encodeVote(signedVote(validatorKey, { height: h + 1000n, round: 0, valueId })), "future-height"],
      [badValue, "bad-value"],
    ];
    const before = new Map(target.dropped);
    const penaltiesBefore = penalties.length;
    for (const [bytes] of cases) expect(() => driver.receive(bytes, "evil")).not.toThrow();
    const want = new Map<DropReason, number>();
    for (const [, reason] of cases) want.set(reason, (want.get(reason) ?? 0) + 1);
    for (const [reason, n] of want)
      expect(target.dropped.get(reason) ?? 0, reason).toBeGreaterThanOrEqual((before.get(reason) ?? 0) + n);
    const newPenalties = penalties.slice(penaltiesBefore).filter((p) => p.startsWith("v0<-evil:"));
    expect(newPenalties).toHaveLength(cases.length);
    expect(new Set(newPenalties.map((p) => p.split(":")[1]))).toEqual(new Set(want.keys()));
    await waitFor("two more heights", () => minHeight() >= h + 2n);
  });

  it("turns a Byzantine duplicate vote into evidence a later proposer includes and every validator records", async () => {
    const byzantine = members[2] as Member;
    const height = minHeight() + 2n;
    // A prevote for a made-up value at a height about to start; its honest prevote there conflicts.
    const conflicting = encodeVote(
      signedVote(byzantine.key, { height, round: 0, valueId: new Uint8Array(randomBytes(32)) }),
    );
    for (const m of members) if (m.id !== byzantine.id) deliver(m, conflicting, byzantine.id);
    let recordedAt: bigint | undefined;
    await waitFor(
      "evidence in a block",
      async () => {
        const m = members[0] as Member;
        for (let h = height + 1n; h <= m.chain.lastCommittedHeight(); h++) {
          const info = await m.chain.commitInfo(h);
          if ((info?.misbehavior?.length ?? 0) > 0) {
            recordedAt = h;
            return true;
          }
        }
        return false;
      },
      30_000,
    );
    const at = recordedAt as bigint;
    await waitFor("all at the evidence height", () => minHeight() >= at);
    for (const m of members) {
      const info = await m.chain.commitInfo(at);
      expect(info?.misbehavior).toHaveLength(1);
      const e = info?.misbehavior?.[0];
      expect(bytesToHex(e?.voteA.validator ?? new Uint8Array())).toBe(bytesToHex(byzantine.address));
      expect(e?.voteA.height).toBe(height);
      expect(bytesToHex(e?.voteA.valueId ?? new Uint8Array())).not.toBe(
        bytesToHex(e?.voteB.valueId ?? new Uint8Array()),
      );
      // Recorded once: later blocks do not carry it again.
      const next = await m.chain.commitInfo(at + 1n);
      expect(next?.misbehavior ?? []).toHaveLength(0);
    }
  }, 60_000);

  it("keeps committing with three of four validators after one stops", async () => {
    const stopped = members[3] as Member;
    stopped.running = false;
    await stopped.validator.stop();
    const from = minHeight();
    await waitFor("three more heights without v3", () => minHeight() >= from + 3n, 45_000);
    const set = validatorSet();
    const m = members[0] as Member;
    for (let h = from + 1n; h <= from + 3n; h++) {
      const info = await m.chain.commitInfo(h);
      verifyCommit(set, CHAIN_ID, {
        height: h,
        round: info?.round ?? 0,
        valueId: info?.valueId as Uint8Array,
        signatures: info?.signatures ?? [],
      });
    }
  }, 60_000);

  it("rejects a value carrying forged or premature evidence (processProposal)", async () => {
    const idle = members[3] as Member; // stopped: its chain does not move
    const appOptions = {
      chain: idle.chain,
      genesis,
      datadir: idle.datadir,
      privateKey: idle.key,
      blockTimeMs: BLOCK_MS,
      emptyBlocks: true,
      logger: silentLogger,
    };
    const app = new ValidatorApplication(
      appOptions,
      CHAIN_ID,
      new StaticValidatorSets(validatorSet()),
      idle.validator.evidencePool,
    );
    const height = idle.chain.lastCommittedHeight() + 1n;
    const proposal = await idle.chain.prepareProposal({
      height,
      round: 0,
      proposer: idle.address,
      timestampMs: Date.now(),
      maxBytes: 1 << 24,
    });
    const byzantine = members[2] as Member;
    const vote = (key: Uint8Array, at: bigint, fill: number) => ({
      ...signedVote(key, { height: at, round: 0, valueId: new Uint8Array(32).fill(fill) }),
      validator: byzantine.address,
    });
    const request = (evidence: Parameters<typeof encodeValue>[1]) => ({
      height,
      round: 0,
      proposer: idle.address,
      value: encodeValue(proposal, evidence),
    });
    // Sound evidence of an earlier height is accepted.
    expect(
      await app.processProposal(
        request([{ voteA: vote(byzantine.key, height - 1n, 1), voteB: vote(byzantine.key, height - 1n, 2) }]),
      ),
    ).toMatchObject({ accept: true });
    // voteB signed by someone else: the pair does not prove an equivocation of one validator.
    const forged = await app.processProposal(
      request([{ voteA: vote(byzantine.key, height - 1n, 1), voteB: vote(idle.key, height - 1n, 2) }]),
    );
    expect(forged.accept).toBe(false);
    // Evidence of the value's own height cannot be complete yet.
    const premature = await app.processProposal(
      request([{ voteA: vote(byzantine.key, height, 1), voteB: vote(byzantine.key, height, 2) }]),
    );
    expect(premature).toMatchObject({ accept: false, reason: expect.stringMatching(/evidence of height/) });
    expect(
      await app.processProposal({ height, round: 0, proposer: idle.address, value: Uint8Array.of(0xc0) }),
    ).toMatchObject({ accept: false });
    // The same equivocation twice in one value, or again after a block recorded it.
    const sound = { voteA: vote(byzantine.key, height - 1n, 1), voteB: vote(byzantine.key, height - 1n, 2) };
    expect(await app.processProposal(request([sound, sound]))).toMatchObject({
      accept: false,
      reason: "evidence already recorded",
    });
    const recorded = await (async () => {
      for (let h = 1n; h <= idle.chain.lastCommittedHeight(); h++) {
        const m = (await idle.chain.commitInfo(h))?.misbehavior?.[0];
        if (m) return m;
      }
      return undefined;
    })();
    expect(recorded).toBeDefined();
    expect(await app.processProposal(request([recorded as NonNullable<typeof recorded>]))).toMatchObject({
      accept: false,
      reason: "evidence already recorded",
    });
    // After a restart the pool is new and empty: the chain's own record still refuses it, and a
    // proposer handed it again leaves it out of its value and drops it from its pool.
    const restartedPool = new EvidencePool({ chainId: CHAIN_ID, maxAgeHeights: EVIDENCE_MAX_AGE_HEIGHTS });
    const restarted = new ValidatorApplication(
      { ...appOptions, chain: idle.chain },
      CHAIN_ID,
      new StaticValidatorSets(validatorSet()),
      restartedPool,
    );
    const again = recorded as NonNullable<typeof recorded>;
    expect(await restarted.processProposal(request([again]))).toMatchObject({
      accept: false,
      reason: "evidence already recorded",
    });
    const value = await restarted.prepareProposal({
      height,
      round: 0,
      proposer: idle.address,
      timestampMs: Date.now(),
      maxBytes: 1 << 24,
      misbehavior: [again, sound],
    });
    expect(decodeValue(CHAIN_ID, value).evidence.map(evidenceKey)).toEqual([evidenceKey(sound)]);
    expect(restartedPool.isCommitted(again)).toBe(true);
  });
});
