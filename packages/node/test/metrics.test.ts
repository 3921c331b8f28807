import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, type MetricsServer, startMetricsServer } from "../src/metrics.ts";

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("createMetrics", () => {
  it("registers the Meridian instruments on a private registry", async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.observeBlock({ height: 12n, txCount: 3, gasUsed: 63_000n, seconds: 0.02 });
    m.observeBlock({ height: 13n, txCount: 0, gasUsed: 0n });
    m.setTxpool({ pending: 4, queued: 1 });
    m.observeRpc("eth_call", 0.003, true);
    m.observeRpc("eth_call", 0.004, false);
    const text = await m.registry.metrics();
    expect(text).toContain("meridian_chain_head_block 13");
    expect(text).toContain("meridian_chain_blocks_total 2");
    expect(text).toContain("meridian_chain_txs_total 3");
    expect(text).toContain("meridian_chain_block_gas_used 0");
    expect(text).toContain("meridian_block_process_seconds_count 1");
    expect(text).toContain("meridian_txpool_pending 4");
    expect(text).toContain("meridian_txpool_queued 1");
    expect(text).toContain('meridian_rpc_requests_total{method="eth_call",status="ok"} 1');
    expect(text).toContain('meridian_rpc_requests_total{method="eth_call",status="error"} 1');
    expect(text).toContain('meridian_rpc_request_seconds_count{method="eth_call"} 2');
  });

  it("includes prefixed Node.js default metrics", async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toContain("meridian_process_cpu_user_seconds_total");
    expect(text).toContain("meridian_nodejs_heap_size_total_bytes");
  });

  it("keeps registries independent (two nodes in one process)", async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.chainHead.set(5);
    expect(await b.registry.metrics()).toContain("meridian_chain_head_block 0");
  });

  it("bounds rpc method label cardinality", async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.observeRpc("<script>", 0.001, false);
    m.observeRpc("x".repeat(200), 0.001, false);
    for (let i = 0; i < 300; i++) m.observeRpc(`junk_m${i}`, 0.001, false);
    const values = (await m.rpcRequestsTotal.get()).values;
    expect(values.length).toBeLessThanOrEqual(257);
    expect(values.find((v) => v.labels.method === "other")?.value).toBe(2 + 300 - 256);
  });
});

describe("startMetricsServer", () => {
  it("serves /metrics and /health on a free port", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.chainHead.set(42);
    let ok = true;
    const server = await startMetricsServer({
      addr: "127.0.0.1",
      port: 0,
      metrics,
      health: () => ({ ok, head: 42n, peers: 0 }),
    });
    servers.push(server);
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(metrics.registry.contentType);
    expect(await res.text()).toContain("meridian_chain_head_block 42");

    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get("content-type")).toBe("application/json");
    expect(await health.json()).toEqual({ ok: true, head: "42", peers: 0 });

    ok = false;
    const down = await fetch(`${server.url}/health?verbose=1`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ ok: false });

    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metricsx`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: "POST" })).status).toBe(405);
    const head = await fetch(`${server.url}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
  });

  it("reports 503 when the health check throws or is async", async () => {
    const server = await startMetricsServer({
      addr: "127.0.0.1",
      port: 0,
      metrics: createMetrics({ defaultMetrics: false }),
      health: async () => {
        throw new Error("db closed");
      },
    });
    servers.push(server);
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, error: "db closed" });
  });

  it("fails clearly when the port is taken, and close() is idempotent", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const first = await startMetricsServer({
      addr: "127.0.0.1",
      port: 0,
      metrics,
      health: () => ({ ok: true }),
    });
    await expect(
      startMetricsServer({ addr: "127.0.0.1", port: first.port, metrics, health: () => ({ ok: true }) }),
    ).rejects.toMatchObject({ code: "METRICS_LISTEN_FAILED" });
    await first.close();
    await first.close();
    await expect(fetch(`${first.url}/health`)).rejects.toThrow();
  });
});
