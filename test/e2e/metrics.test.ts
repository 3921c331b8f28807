import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { blockNumber, waitUntil } from "../helpers/rpc.ts";
import { startNode, TARGET } from "../helpers/target.ts";

let node: NodeHandle;

/** Value of an unlabelled (or first-labelled) sample in Prometheus text format. */
function sample(text: string, name: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (m && m[1] === name) return Number(m[3]);
  }
  return undefined;
}

async function metrics(): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${node.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

// anvil has no metrics server; this file only means something against Meridian.
describe.skipIf(TARGET !== "meridian")("metrics and health", () => {
  beforeAll(async () => {
    node = await startNode({ blockTimeMs: 250 });
  });

  afterAll(async () => {
    await node?.stop();
    await cleanupAll();
  });

  it("serves /health with 200", async () => {
    const res = await fetch(`${node.metricsUrl}/health`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it("exposes meridian_chain_head_block in Prometheus text format and it increases", async () => {
    const first = await metrics();
    expect(first.status).toBe(200);
    expect(first.type).toMatch(/text\/plain/);
    expect(first.text).toMatch(/^meridian_chain_head_block(\{[^}]*\})?\s/m);
    const h1 = sample(first.text, "meridian_chain_head_block");
    expect(h1).toBeTypeOf("number");
    expect(Number.isFinite(h1)).toBe(true);

    const h2 = await waitUntil(
      "meridian_chain_head_block to increase",
      async () => {
        const v = sample((await metrics()).text, "meridian_chain_head_block");
        return v !== undefined && v > h1! ? v : undefined;
      },
      15_000,
      200,
    );
    expect(h2).toBeGreaterThan(h1!);
    // The gauge tracks the chain head the RPC reports (allowing for blocks produced in between).
    const rpcHead = Number(await blockNumber(node.rpcUrl));
    expect(rpcHead).toBeGreaterThanOrEqual(h2);
    expect(rpcHead - h2).toBeLessThan(20);
  });
});
