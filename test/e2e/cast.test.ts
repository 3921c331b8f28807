import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { blockNumber, rpc } from "../helpers/rpc.ts";
import { startNode } from "../helpers/target.ts";

const run = promisify(execFile);
const CAST = join(REPO_ROOT, "node_modules", ".bin", "cast");

let node: NodeHandle;

async function cast(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(CAST, args, { timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } });
    return stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`cast ${args.join(" ")} failed: ${err.stderr ?? err.message}`);
  }
}

beforeAll(async () => {
  node = await startNode({ blockTimeMs: 500 });
});

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

describe("cast against the node", () => {
  it("cast chain-id", async () => {
    expect(await cast("chain-id", "--rpc-url", node.rpcUrl)).toBe(String(MERIDIAN_CHAIN_ID));
  });

  it("cast block-number tracks eth_blockNumber", async () => {
    const before = await blockNumber(node.rpcUrl);
    const n = BigInt(await cast("block-number", "--rpc-url", node.rpcUrl));
    expect(n).toBeGreaterThanOrEqual(before);
    expect(n).toBeLessThanOrEqual(await blockNumber(node.rpcUrl));
  });

  it("cast send --value 1ether, then cast balance", async () => {
    const to = privateKeyToAccount(DEV_KEYS[9]).address;
    const before = BigInt(await cast("balance", to, "--rpc-url", node.rpcUrl));
    expect(before).toBeGreaterThan(0n);
    const out = await cast(
      "send",
      "--private-key",
      DEV_KEYS[0],
      "--rpc-url",
      node.rpcUrl,
      "--json",
      to,
      "--value",
      "1ether",
    );
    const receipt = JSON.parse(out) as { status: string; transactionHash: string; blockNumber: string };
    expect(BigInt(receipt.status)).toBe(1n);
    const after = BigInt(await cast("balance", to, "--rpc-url", node.rpcUrl));
    expect(after - before).toBe(10n ** 18n);

    // The receipt cast printed is the one the node serves.
    const served = await rpc<{ blockNumber: string; status: string }>(
      node.rpcUrl,
      "eth_getTransactionReceipt",
      [receipt.transactionHash],
    );
    expect(served.blockNumber).toBe(receipt.blockNumber);
    expect(await cast("balance", to, "--rpc-url", node.rpcUrl, "--ether")).toMatch(/^10001(\.0+)?$/);
  });
});
