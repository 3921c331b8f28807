import { bytesToHex, hexKey, keccak256, type Logger, privateKeyToAddress } from "@meridian/primitives";
import { decodeMessage, encodeProposal, encodeVote, MessageType } from "../codec/wire.ts";
import type { Mutation } from "../core/state.ts";
import { proposalSignBytes, signDigest, signDigestWithKey, voteSignBytes } from "../crypto.ts";
import {
  ConsensusDriver,
  type MessageRecoverer,
  recoverMessage,
  type SignedMessage,
} from "../driver/driver.ts";
import { EpochValidatorSets } from "../driver/epoch-validator-sets.ts";
import type { Transport } from "../driver/interfaces.ts";
import { StaticValidatorSets } from "../driver/validator-sets.ts";
import { MemoryWal } from "../driver/wal.ts";
import { evidenceKey } from "../evidence/evidence.ts";
import { EvidencePool } from "../evidence/pool.ts";
import { Signer } from "../signer/signer.ts";
import { MemorySignerStateStore } from "../signer/store.ts";
import { defaultConsensusParams, VoteType } from "../types.ts";
import { ValidatorSet } from "../validator-set.ts";
import { FakeApplication, isValidValue, makeValue } from "./fake-app.ts";
import { Prng } from "./prng.ts";
import { defaultSimStakingParams, SimStaking, type SimStakingParams } from "./staking-model.ts";
import { VirtualClock } from "./virtual-clock.ts";

export type SimulationOptions = {
  seed: number;
  validators: number;
  mutation?: Mutation;
  /** Virtual milliseconds during which faults are injected (default: drawn from the seed, 4-10 s). */
  faultWindowMs?: number;
  /** Heights every honest node must commit after the faults stop (default 2). */
  heightsAfterHeal?: number;
  /** Virtual time allowed for those heights (default 60 s). */
  livenessBoundMs?: number;
  /** Receives the drivers' logs (the CLI's --verbose). */
  logger?: Logger;
  /**
   * Proof of stake in the application (staking-model.ts): equivocators are slashed and jailed,
   * the set changes every epoch; checked: every node's updates agree, and the Byzantine
   * validators never hold a third of any height's power. `true`: the default parameters.
   */
  staking?: SimStakingParams | true;
};

export type SimulationResult = {
  seed: number;
  validators: number;
  byzantine: number;
  /** Heights every honest node committed. */
  heights: number;
  safetyViolations: string[];
  livenessFailure: string | null;
  evidenceMissed: number;
  evidenceCaught: number;
  virtualMs: number;
  /** With staking: Byzantine validators jailed by the end, and heights whose set changed. */
  jailed?: number;
  setChanges?: number;
};

type FaultPlan = {
  faultEnd: number;
  dropRate: number;
  duplicateRate: number;
  maxDelayMs: number;
  partitions: { start: number; end: number; side: Set<number> }[];
  crashes: { node: number; at: number; restartAt: number }[];
  /** Chance that the first node to decide a height is isolated right away. */
  isolateDeciderRate: number;
};

type SimNode = {
  index: number;
  id: string;
  key: Uint8Array;
  address: Uint8Array;
  byzantine: boolean;
  app: FakeApplication;
  wal: MemoryWal;
  signerStore: MemorySignerStateStore;
  driver: ConsensusDriver | null;
  rng: Prng;
  /** Conflicting votes this incarnation's core took in: key → value ids seen. */
  votesSeen: Map<string, Set<string>>;
  evidence: Set<string>;
};

const CHAIN_ID = "meridian-sim";

/** Runs one seeded schedule of faults over N validators and checks agreement, validity, evidence and liveness. */
export async function runSimulation(opts: SimulationOptions): Promise<SimulationResult> {
  const rng = new Prng(opts.seed);
  const n = opts.validators;
  const clock = new VirtualClock();
  const keys = Array.from({ length: n }, (_, i) => {
    const k = new Uint8Array(32);
    k[31] = i + 1;
    k[0] = 0x11;
    return k;
  });
  const powers = keys.map(() => rng.int(1, 5));
  const set = ValidatorSet.create(
    keys.map((k, i) => ({ address: privateKeyToAddress(k), power: powers[i] as number })),
  );
  const stakingParams =
    opts.staking === true ? defaultSimStakingParams : opts.staking === undefined ? undefined : opts.staking;
  const epochSets = stakingParams ? new EpochValidatorSets(set) : undefined;
  const sets = epochSets ?? new StaticValidatorSets(set);
  /** Height → the updates the first node to commit it returned (the others must agree). */
  const committedUpdates = new Map<bigint, string>();

  // Byzantine validators: a random subset holding less than a third of the power.
  const byzantine = new Set<number>();
  let byzPower = 0;
  const maxByz = rng.int(0, Math.floor((n - 1) / 3));
  for (const i of rng.shuffle(keys.map((_, i) => i))) {
    if (byzantine.size >= maxByz) break;
    const p = powers[i] as number;
    if (3 * (byzPower + p) < set.totalPower) {
      byzantine.add(i);
      byzPower += p;
    }
  }

  const plan = drawFaults(rng, n, opts.faultWindowMs);
  const safetyViolations: string[] = [];
  const stakingFor = (id: string) =>
    stakingParams && epochSets
      ? {
          chainId: CHAIN_ID,
          model: new SimStaking(stakingParams, set),
          sets: epochSets,
          committed: (height: bigint, updates: readonly { address: Uint8Array; power: number }[]) => {
            const key = updates.map((u) => `${hexKey(u.address)}=${u.power}`).join(",");
            const first = committedUpdates.get(height);
            if (first === undefined) {
              committedUpdates.set(height, key);
              epochSets.record(height, updates);
            } else if (first !== key)
              safetyViolations.push(
                `staking: ${id} committed updates [${key}] at height ${height}, another [${first}]`,
              );
          },
        }
      : undefined;
  const decided = new Map<bigint, string>();
  const recoverCache = new Map<string, SignedMessage | Error>();
  const recover: MessageRecoverer = (chainId, bytes, message) => {
    const key = hexKey(bytes);
    let hit = recoverCache.get(key);
    if (hit === undefined) {
      try {
        hit = recoverMessage(chainId, bytes, message);
      } catch (err) {
        hit = err as Error;
      }
      recoverCache.set(key, hit);
    }
    if (hit instanceof Error) throw hit;
    return hit;
  };

  const nodes: SimNode[] = keys.map((key, index) => {
    const nodeRng = rng.fork();
    const staking = stakingFor(`n${index}`);
    return {
      index,
      id: `n${index}`,
      key,
      address: privateKeyToAddress(key),
      byzantine: byzantine.has(index),
      app: new FakeApplication({
        rng: nodeRng.fork(),
        byzantine: byzantine.has(index),
        ...(staking ? { staking } : {}),
      }),
      wal: new MemoryWal(),
      signerStore: new MemorySignerStateStore(),
      driver: null,
      rng: nodeRng,
      votesSeen: new Map(),
      evidence: new Set(),
    };
  });
  const crashed = new Set<number>();

  const partitioned = (from: number, to: number, at: number): boolean => {
    for (const p of plan.partitions) {
      if (at >= p.start && at < p.end && p.side.has(from) !== p.side.has(to)) return true;
    }
    return false;
  };

  const deliver = (from: number, to: number, bytes: Uint8Array): void => {
    const now = clock.now();
    const faulty = now < plan.faultEnd;
    if (faulty && (partitioned(from, to, now) || rng.chance(plan.dropRate))) return;
    const copies = faulty && rng.chance(plan.duplicateRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const delay = faulty ? rng.int(1, plan.maxDelayMs) : rng.int(1, 40);
      clock.setTimer(delay, () => {
        // A partition that began while the message was in flight cuts it too.
        if (clock.now() < plan.faultEnd && partitioned(from, to, clock.now())) return;
        if (!crashed.has(to)) nodes[to]?.driver?.receive(bytes, nodes[from]?.id ?? "");
      });
    }
  };

  const transportFor = (node: SimNode): Transport => {
    const honest: Transport = {
      broadcast: (bytes) => {
        for (const peer of nodes) if (peer.index !== node.index) deliver(node.index, peer.index, bytes);
      },
      send: (peer, bytes) => deliver(node.index, Number(peer.slice(1)), bytes),
    };
    return node.byzantine ? byzantineTransport(node, honest, nodes, deliver) : honest;
  };

  const startNode = async (node: SimNode): Promise<void> => {
    node.votesSeen = new Map();
    node.evidence = new Set();
    const signer = await Signer.open(node.key, node.signerStore);
    const driver = new ConsensusDriver({
      chainId: CHAIN_ID,
      params: defaultConsensusParams,
      signer,
      wal: node.wal,
      app: node.app,
      transport: transportFor(node),
      scheduler: clock,
      validatorSets: sets,
      evidencePool: new EvidencePool({ chainId: CHAIN_ID, maxAgeHeights: 100n }),
      recover,
      ...(opts.logger ? { logger: opts.logger.child({ module: node.id }) } : {}),
      ...(opts.mutation !== undefined && !node.byzantine ? { mutation: opts.mutation } : {}),
      observer: node.byzantine
        ? {}
        : {
            decided: (height, round, proposal) => {
              const id = hexKey(proposal.valueId);
              const first = decided.get(height);
              if (first === undefined) {
                decided.set(height, id);
                // The adversary controls the network: sometimes it cuts the first decider off at
                // once, so the others must finish the height without its commit (locks matter).
                const now = clock.now();
                if (now < plan.faultEnd && rng.chance(plan.isolateDeciderRate))
                  plan.partitions.push({
                    start: now,
                    end: Math.min(plan.faultEnd, now + rng.int(1_000, 5_000)),
                    side: new Set([node.index]),
                  });
              } else if (first !== id)
                safetyViolations.push(
                  `agreement: ${node.id} decided ${id.slice(0, 12)} at height ${height} round ${round}, another node ${first.slice(0, 12)}`,
                );
              if (!isValidValue(proposal.value, height))
                safetyViolations.push(`validity: ${node.id} decided an invalid value at height ${height}`);
            },
            evidence: (e) => node.evidence.add(evidenceKey(e)),
            input: (input) => {
              if (input.type !== "Vote") return;
              const core = node.driver?.currentState;
              const v = input.vote;
              // Only votes the core took at its height can be compared (others are ignored).
              if (core === undefined || core.height !== v.height) return;
              const key = `${hexKey(v.validator)}:${v.height}:${v.round}:${v.type}`;
              const seen = node.votesSeen.get(key) ?? new Set<string>();
              seen.add(v.valueId === null ? "nil" : hexKey(v.valueId));
              node.votesSeen.set(key, seen);
            },
          },
    });
    node.driver = driver;
    await driver.start();
  };

  for (const node of nodes) await startNode(node);
  for (const crash of plan.crashes) {
    const node = nodes[crash.node] as SimNode;
    clock.setTimer(crash.at, () => {
      crashed.add(node.index);
      void node.driver?.stop();
      node.driver = null;
    });
    clock.setTimer(crash.restartAt, () => {
      crashed.delete(node.index);
      void startNode(node);
    });
  }

  const honest = nodes.filter((node) => !node.byzantine);
  const minHonestHeight = (): bigint =>
    honest.reduce(
      (min, node) => (node.app.lastCommittedHeight() < min ? node.app.lastCommittedHeight() : min),
      1n << 62n,
    );

  const describe = (): string =>
    honest
      .map((x) => {
        const st = x.driver?.currentState;
        return `${x.id}:h${x.app.lastCommittedHeight()}${st ? `/r${st.round}/${st.step}` : "/down"}`;
      })
      .join(" ");
  const heightsAfterHeal = BigInt(opts.heightsAfterHeal ?? 2);
  const bound = plan.faultEnd + (opts.livenessBoundMs ?? 60_000);
  let target: bigint | null = null;
  let livenessFailure: string | null = null;
  for (;;) {
    if (target === null && clock.now() >= plan.faultEnd) {
      const maxHeight = honest.reduce(
        (m, node) => (node.app.lastCommittedHeight() > m ? node.app.lastCommittedHeight() : m),
        0n,
      );
      target = maxHeight + heightsAfterHeal;
    }
    if (target !== null && minHonestHeight() >= target) break;
    if (clock.now() > bound) {
      livenessFailure = `honest nodes at ${describe()} ${bound - plan.faultEnd} ms after the faults stopped, needed height ${target}`;
      break;
    }
    const until = target === null ? plan.faultEnd : bound + 1;
    if (!clock.runNext(until)) {
      if (target === null) {
        // Nothing due before the faults end: jump there.
        clock.setTimer(plan.faultEnd - clock.now(), () => {});
        continue;
      }
      livenessFailure = `honest nodes stuck at ${describe()} with nothing left to do`;
      break;
    }
    // Let the promise continuations of that event settle before the next one.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  for (const node of nodes) await node.driver?.stop();

  let evidenceMissed = 0;
  let evidenceCaught = 0;
  for (const node of honest) {
    for (const [key, values] of node.votesSeen) {
      if (values.size < 2) continue;
      if (node.evidence.has(key)) evidenceCaught++;
      else evidenceMissed++;
    }
  }
  // Every honest node's chain must be a prefix of one chain (agreement on committed blocks too).
  const longest = honest.reduce((a, b) => (a.app.chain.length >= b.app.chain.length ? a : b)).app.chain;
  for (const node of honest) {
    node.app.chain.forEach((value, i) => {
      if (bytesToHex(keccak256(value)) !== bytesToHex(keccak256(longest[i] as Uint8Array)))
        safetyViolations.push(`agreement: ${node.id} committed a different block at height ${i + 1}`);
    });
  }
  let stakingStats: { jailed: number; setChanges: number } | undefined;
  if (epochSets) {
    // Rewards never lift the Byzantine minority to a third of any height's power.
    const byzAddresses = new Set([...byzantine].map((i) => hexKey(nodes[i]?.address as Uint8Array)));
    const top = honest.reduce(
      (m, node) => (node.app.lastCommittedHeight() > m ? node.app.lastCommittedHeight() : m),
      0n,
    );
    let jailedAtEnd = 0;
    for (let h = 1n; h <= top + 1n; h++) {
      const at = epochSets.at(h);
      const byzPower = at.validators
        .filter((v) => byzAddresses.has(hexKey(v.address)))
        .reduce((sum, v) => sum + v.power, 0);
      if (3 * byzPower >= at.totalPower)
        safetyViolations.push(
          `staking: Byzantine validators hold ${byzPower} of ${at.totalPower} at height ${h}`,
        );
      if (h === top + 1n)
        jailedAtEnd =
          byzAddresses.size - at.validators.filter((v) => byzAddresses.has(hexKey(v.address))).length;
    }
    stakingStats = { jailed: jailedAtEnd, setChanges: epochSets.entries().length };
  }
  return {
    seed: opts.seed,
    validators: n,
    byzantine: byzantine.size,
    heights: Number(minHonestHeight()),
    safetyViolations,
    livenessFailure,
    evidenceMissed,
    evidenceCaught,
    virtualMs: clock.now(),
    ...(stakingStats ? { jailed: stakingStats.jailed, setChanges: stakingStats.setChanges } : {}),
  };
}

function drawFaults(rng: Prng, n: number, faultWindowMs: number | undefined): FaultPlan {
  const faultEnd = faultWindowMs ?? rng.int(4_000, 10_000);
  const partitions: FaultPlan["partitions"] = [];
  const partitionCount = rng.int(0, 6);
  for (let i = 0; i < partitionCount; i++) {
    const start = rng.int(0, faultEnd - 500);
    const side = new Set(rng.shuffle(Array.from({ length: n }, (_, j) => j)).slice(0, rng.int(1, n - 1)));
    partitions.push({ start, end: Math.min(faultEnd, start + rng.int(300, 3_000)), side });
  }
  const crashes: FaultPlan["crashes"] = [];
  const crashCount = rng.int(0, 2);
  for (let i = 0; i < crashCount; i++) {
    const at = rng.int(100, faultEnd - 200);
    crashes.push({ node: rng.int(0, n - 1), at, restartAt: Math.min(faultEnd, at + rng.int(100, 3_000)) });
  }
  // One crash per node at a time: drop overlapping crashes of the same node.
  const kept = crashes.filter(
    (c, i) => !crashes.some((o, j) => j < i && o.node === c.node && c.at < o.restartAt && o.at < c.restartAt),
  );
  return {
    faultEnd,
    dropRate: rng.next() * 0.2,
    duplicateRate: rng.next() * 0.1,
    maxDelayMs: rng.int(5, 400),
    partitions,
    crashes: kept,
    isolateDeciderRate: rng.chance(0.5) ? rng.next() * 0.5 : 0,
  };
}

/**
 * A Byzantine validator: it runs the honest driver, but some of what it broadcasts is doubled
 * with a conflicting message signed with its raw key (no double-sign protection): a vote for
 * another value (or nil), or a second proposal with another (possibly invalid) value. Each peer
 * gets one of the two, some peers get both.
 */
function byzantineTransport(
  node: SimNode,
  honest: Transport,
  nodes: readonly SimNode[],
  deliver: (from: number, to: number, bytes: Uint8Array) => void,
): Transport {
  return {
    send: honest.send,
    broadcast: (bytes) => {
      const conflicting = node.rng.chance(0.6) ? conflictingMessage(node, bytes) : null;
      if (conflicting === null) return honest.broadcast(bytes);
      // Amnesia: in a later round, half the time everyone gets only the fresh value, never
      // the re-proposal of the valid value, which is what locked validators must resist.
      const amnesia = bytes[0] === MessageType.Proposal && node.rng.chance(0.5);
      const sent = decodeMessage(bytes);
      const isPrecommit = sent.type === "vote" && sent.vote.type === VoteType.Precommit;
      for (const peer of nodes) {
        if (peer.index === node.index) continue;
        // Precommits go one way or the other to each peer, never both: split views of a round.
        const pick = amnesia ? 1 : node.rng.int(0, isPrecommit ? 1 : 2);
        if (pick !== 1) deliver(node.index, peer.index, bytes);
        if (pick !== 0) deliver(node.index, peer.index, conflicting);
      }
    },
  };
}

function conflictingMessage(node: SimNode, bytes: Uint8Array): Uint8Array | null {
  const message = decodeMessage(bytes);
  if (message.type === "vote") {
    const vote = message.vote;
    // Prefer another value that was really proposed at this height: conflicting votes for real
    // values are what could split honest nodes; otherwise nil or a made-up id.
    const proposed = [...(node.driver?.currentState.proposals.values() ?? [])]
      .flat()
      .map((p) => p.valueId)
      .filter((id) => vote.valueId === null || hexKey(id) !== hexKey(vote.valueId));
    const valueId =
      proposed.length > 0 && node.rng.chance(0.7)
        ? (proposed[node.rng.int(0, proposed.length - 1)] as Uint8Array)
        : vote.valueId === null || node.rng.chance(0.5)
          ? node.rng.bytes(32)
          : null;
    const other = { type: vote.type, height: vote.height, round: vote.round, valueId };
    const signature = signDigestWithKey(node.key, signDigest(voteSignBytes(CHAIN_ID, other)));
    return encodeVote({ ...other, signature });
  }
  const p = message.proposal;
  const value = makeValue(node.rng, p.height, node.rng.chance(0.5));
  const other = { height: p.height, round: p.round, valueId: keccak256(value), polRound: -1 };
  const signature = signDigestWithKey(node.key, signDigest(proposalSignBytes(CHAIN_ID, other)));
  return encodeProposal({ ...other, value, signature });
}

export { VoteType };
