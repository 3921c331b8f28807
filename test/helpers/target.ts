import { rm } from "node:fs/promises";
import { join } from "node:path";
import { startAnvil } from "./anvil-process.ts";
import { startMeridian } from "./meridian-process.ts";
import type { NodeHandle } from "./process.ts";

export type TargetKind = "meridian" | "anvil";

// The one line to flip: which node the e2e suites run against (E2E_TARGET overrides it).
const DEFAULT_TARGET: TargetKind = "meridian";

export const TARGET: TargetKind = (process.env.E2E_TARGET as TargetKind | undefined) ?? DEFAULT_TARGET;

export type StartNodeOptions = {
  datadir?: string;
  blockTimeMs?: number;
  reset?: boolean;
  noEmptyBlocks?: boolean;
};

/** Starts the configured target with target-neutral options. */
export async function startNode(opts: StartNodeOptions = {}): Promise<NodeHandle> {
  if (TARGET === "meridian") {
    const extraArgs: string[] = [];
    if (opts.reset) extraArgs.push("--reset");
    if (opts.noEmptyBlocks) extraArgs.push("--no-empty-blocks");
    return startMeridian({ datadir: opts.datadir, blockTimeMs: opts.blockTimeMs, extraArgs });
  }
  // anvil has no --reset; dropping its state file is the equivalent. --no-empty-blocks has no analogue.
  if (opts.reset && opts.datadir) await rm(join(opts.datadir, "state.json"), { force: true });
  return startAnvil({ datadir: opts.datadir, blockTimeMs: opts.blockTimeMs });
}
