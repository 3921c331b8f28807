/**
 * ethereum/tests BlockchainTests fixtures: finding the files, listing the
 * cases in them, and mapping a fixture's `network` to a hardfork.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { Hardfork } from "@ethereumjs/common";

export type FixtureAccount = {
  balance: string;
  nonce: string;
  code: string;
  storage: Record<string, string>;
};

export type FixtureBlock = {
  rlp: string;
  blockHeader?: { hash: string; number: string; stateRoot: string };
  blocknumber?: string;
  chainname?: string;
  expectException?: string;
};

export type FixtureCase = {
  network: string;
  sealEngine?: string;
  genesisBlockHeader: { hash: string; stateRoot: string };
  genesisRLP: string;
  pre: Record<string, FixtureAccount>;
  blocks: FixtureBlock[];
  postState?: Record<string, FixtureAccount>;
  postStateHash?: string;
  lastblockhash: string;
};

/** One test case: the file it lives in and its name in that file. */
export type CaseRef = {
  /** Absolute path of the fixture file. */
  file: string;
  /** The file relative to the directory it was found under (the file name for a file argument). */
  rel: string;
  name: string;
};

/** Every `.json` file under the given files and directories, sorted, each once. */
export function fixtureFiles(paths: string[]): { file: string; rel: string }[] {
  const out = new Map<string, string>();
  const walk = (dir: string, root: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, root);
      else if (e.isFile() && e.name.endsWith(".json")) out.set(p, relative(root, p));
    }
  };
  for (const p of paths) {
    const abs = resolve(p);
    const st = statSync(abs); // throws ENOENT with the path for a missing argument
    if (st.isDirectory()) walk(abs, abs);
    else out.set(abs, basename(abs));
  }
  return [...out].map(([file, rel]) => ({ file, rel }));
}

export function readFixtureFile(file: string): Record<string, FixtureCase> {
  const json = JSON.parse(readFileSync(file, "utf8")) as unknown;
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error(`${file}: not a BlockchainTests fixture (expected an object of test cases)`);
  }
  return json as Record<string, FixtureCase>;
}

/** The test id used by --filter and KNOWN_FAILURES: `<file relative to its root>:<case name>`. */
export function caseId(ref: Pick<CaseRef, "rel" | "name">): string {
  return `${ref.rel}:${ref.name}`;
}

const NETWORKS: Record<string, string> = {
  Merge: Hardfork.Paris,
  Paris: Hardfork.Paris,
  Shanghai: Hardfork.Shanghai,
  Cancun: Hardfork.Cancun,
  Prague: Hardfork.Prague,
  Osaka: Hardfork.Osaka,
};

const PRE_MERGE = new Set([
  "Frontier",
  "Homestead",
  "EIP150",
  "EIP158",
  "Byzantium",
  "Constantinople",
  "ConstantinopleFix",
  "Petersburg",
  "Istanbul",
  "MuirGlacier",
  "Berlin",
  "London",
  "ArrowGlacier",
  "GrayGlacier",
]);

/**
 * The hardforks a fixture runs at: `forks[i]` applies from timestamp `forks[i].fromTime` on
 * (the first from 0). One entry for a single-fork network; two for a timestamp transition
 * such as `PragueToOsakaAtTime15k` (Prague before timestamp 15,000, Osaka from it).
 */
export type NetworkSchedule = { forks: { hardfork: string; fromTime: bigint }[] };

/** The hardfork of a block with timestamp `time` under `schedule`. */
export function scheduleHardfork(schedule: NetworkSchedule, time: bigint): string {
  let fork = schedule.forks[0]?.hardfork as string;
  for (const f of schedule.forks) if (time >= f.fromTime) fork = f.hardfork;
  return fork;
}

/** The hardfork(s) a fixture runs at, or why the runner skips it. */
export function networkHardfork(network: string): NetworkSchedule | { skip: string } {
  const hardfork = NETWORKS[network];
  if (hardfork) return { forks: [{ hardfork, fromTime: 0n }] };
  const transition = /^(\w+?)To(\w+)AtTime(\d+)k$/.exec(network);
  if (transition) {
    const [, fromName = "", toName = "", thousands = "0"] = transition;
    const from = NETWORKS[fromName];
    const to = NETWORKS[toName];
    // Only transitions between proof-of-stake forks this runner knows; Paris→Shanghai is the first.
    if (from && to && from !== Hardfork.Paris) {
      return {
        forks: [
          { hardfork: from, fromTime: 0n },
          { hardfork: to, fromTime: BigInt(thousands) * 1000n },
        ],
      };
    }
    return { skip: `transition network ${network}: not a transition between forks the runner knows` };
  }
  if (/To.+At/.test(network)) {
    return { skip: `transition network ${network}: block-number transitions are pre-merge, out of scope` };
  }
  if (PRE_MERGE.has(network)) {
    return {
      skip: `pre-merge network ${network}: proof-of-work rules (difficulty, uncles, rewards) are out of scope`,
    };
  }
  return { skip: `unsupported network ${network}` };
}
