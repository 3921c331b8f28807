import { join } from "node:path";
import { foundryBinary, REPO_ROOT } from "./paths.ts";
import { getFreePort } from "./ports.ts";
import { type NodeHandle, spawnManaged, startedNode } from "./process.ts";
import { makeTempDir } from "./tmp.ts";

export type AnvilOptions = {
  port?: number;
  /** Defaults to 7331 so the e2e suites run unchanged against anvil. */
  chainId?: number;
  /** Interval mining; 0 means anvil's automine (a block per tx). */
  blockTimeMs?: number;
  /** With a datadir, state is loaded from/dumped to <datadir>/state.json (dumped on SIGTERM only). */
  datadir?: string;
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** anvil's `--hardfork`; default prague. */
  hardfork?: string;
};

export async function startAnvil(opts: AnvilOptions = {}): Promise<NodeHandle> {
  const port = opts.port ?? (await getFreePort());
  const ownsDir = opts.datadir === undefined;
  const datadir = opts.datadir ?? (await makeTempDir("anvil-node-"));
  const blockTimeMs = opts.blockTimeMs ?? 250;
  const args = [
    "--port",
    String(port),
    "--host",
    "127.0.0.1",
    "--chain-id",
    String(opts.chainId ?? 7331),
    "--hardfork",
    opts.hardfork ?? "prague",
    ...(blockTimeMs > 0 ? ["--block-time", String(blockTimeMs / 1000)] : []),
    ...(ownsDir ? [] : ["--state", join(datadir, "state.json")]),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawnManaged(foundryBinary("anvil"), args, REPO_ROOT);
  return startedNode("anvil", child, port, {
    datadir,
    ownsDir,
    metricsUrl: null,
    startTimeoutMs: opts.startTimeoutMs ?? 30_000,
  });
}
