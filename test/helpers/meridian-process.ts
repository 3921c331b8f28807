import { join } from "node:path";
import { REPO_ROOT } from "./paths.ts";
import { getFreePorts } from "./ports.ts";
import { type NodeHandle, spawnManaged, startedNode } from "./process.ts";
import { makeTempDir } from "./tmp.ts";

export type MeridianOptions = {
  /** Reused as-is (caller owns it); otherwise a temp dir is created and removed on stop. */
  datadir?: string;
  blockTimeMs?: number;
  extraArgs?: string[];
  startTimeoutMs?: number;
};

export const MERIDIAN_BIN = join(REPO_ROOT, "packages", "cli", "src", "bin.ts");

export async function startMeridian(opts: MeridianOptions = {}): Promise<NodeHandle> {
  const ownsDir = opts.datadir === undefined;
  const datadir = opts.datadir ?? (await makeTempDir("meridian-node-"));
  const [httpPort, metricsPort] = await getFreePorts(2);
  const args = [
    MERIDIAN_BIN,
    "devnet",
    "--datadir",
    datadir,
    "--http.port",
    String(httpPort),
    "--metrics.port",
    String(metricsPort),
    "--log.format",
    "json",
    "--block-time",
    String(opts.blockTimeMs ?? 250),
    // One worker thread per node: several nodes share two cores in CI, and the worker path is still exercised.
    "--executor.workers",
    "1",
    ...(opts.extraArgs ?? []),
  ];
  // process.execPath is node 22 under vitest; it runs the .ts entry point directly.
  const child = spawnManaged(process.execPath, args, REPO_ROOT);
  return startedNode("meridian", child, httpPort, {
    datadir,
    ownsDir,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    startTimeoutMs: opts.startTimeoutMs ?? 60_000,
  });
}
