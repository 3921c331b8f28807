/**
 * debug_traceTransaction / debug_traceCall / debug_traceBlockBy* on a real node, and the
 * same transactions traced by anvil (at Osaka, as Meridian's devnet genesis): callTracer,
 * struct logger, prestateTracer (both modes) and 4byteTracer output compared field by field.
 * Chain-specific fields (documented in docs/architecture.md "Tracing"): the coinbase account
 * and the sender's balance in prestate traces (each chain's fees and miner differ).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createWalletClient, encodeFunctionData, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAnvil } from "../helpers/anvil-process.ts";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, rpcRaw, waitUntil } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";
import { runTraceWorkload, type TraceWorkload } from "../helpers/trace-workload.ts";

let meridian: NodeHandle;
let anvil: NodeHandle;
let ours: TraceWorkload;
let theirs: TraceWorkload;

beforeAll(async () => {
  [meridian, anvil] = await Promise.all([
    startMeridian({ blockTimeMs: 250 }),
    // --steps-tracing: anvil records opcode steps (struct logs) only with it.
    startAnvil({ hardfork: "osaka", blockTimeMs: 0, extraArgs: ["--steps-tracing"] }),
  ]);
  [ours, theirs] = await Promise.all([runTraceWorkload(meridian.rpcUrl), runTraceWorkload(anvil.rpcUrl)]);
}, 120_000);

afterAll(cleanupAll);

type Json = Record<string, unknown>;
const TX_NAMES = ["deploy", "nested", "spawn", "failWithReason", "starve"] as const;

async function traceBoth(name: (typeof TX_NAMES)[number], config: Json): Promise<[unknown, unknown]> {
  return Promise.all([
    rpc(meridian.rpcUrl, "debug_traceTransaction", [ours.txs[name], config]),
    rpc(anvil.rpcUrl, "debug_traceTransaction", [theirs.txs[name], config]),
  ]);
}

/** Copy of a prestate result without the chain-specific accounts (coinbase) and sender balance. */
function withoutChainSpecific(state: unknown, coinbases: string[], sender: string): unknown {
  const out: Record<string, Json> = {};
  for (const [address, account] of Object.entries(state as Record<string, Json>)) {
    if (coinbases.includes(address)) continue;
    out[address] = address === sender.toLowerCase() ? { ...account, balance: "(chain-specific)" } : account;
  }
  return out;
}

/** A call of TraceProbe.spawn: CREATE, CREATE2, a CALL and a SELFDESTRUCT. */
function spawnCall(w: TraceWorkload) {
  return {
    from: w.sender,
    to: w.probe,
    data: encodeFunctionData({ abi: w.artifact.abi, functionName: "spawn", args: [`0x${"cd".repeat(32)}`] }),
    gas: "0x100000",
  };
}

describe("traces equal anvil's", () => {
  it("deploys at the same addresses on both", () => {
    expect(ours.probe.toLowerCase()).toBe(theirs.probe.toLowerCase());
    expect(ours.child.toLowerCase()).toBe(theirs.child.toLowerCase());
  });

  for (const name of TX_NAMES) {
    it(`callTracer with logs: ${name}`, async () => {
      const [mine, anvils] = await traceBoth(name, { tracer: "callTracer", tracerConfig: { withLog: true } });
      expect(mine).toEqual(anvils);
    });
    it(`struct logger with memory and return data: ${name}`, async () => {
      const [mine, anvils] = (await traceBoth(name, { enableReturnData: true, enableMemory: true })) as [
        { structLogs: Json[] },
        { structLogs: Json[] },
      ];
      // anvil 1.7.1 writes the step that ran out of gas as error "Some(OutOfGas)" (Rust's debug
      // form) with gasCost 0; geth, and Meridian, write "out of gas" and the op's cost.
      for (const [i, step] of anvils.structLogs.entries()) {
        if (step.error !== "Some(OutOfGas)") continue;
        expect(mine.structLogs[i]?.error).toBe("out of gas");
        step.error = "out of gas";
        step.gasCost = mine.structLogs[i]?.gasCost;
      }
      expect(mine).toEqual(anvils);
    });
    it(`4byteTracer: ${name}`, async () => {
      const [mine, anvils] = await traceBoth(name, { tracer: "4byteTracer" });
      expect(mine).toEqual(anvils);
    });
    it(`prestateTracer: ${name}`, async () => {
      const [mine, anvils] = await traceBoth(name, { tracer: "prestateTracer" });
      const coinbases = await Promise.all(
        [meridian, anvil].map(async (n) => {
          const b = await rpc<{ miner: string }>(n.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
          return b.miner.toLowerCase();
        }),
      );
      coinbases.push("0x0000000000000000000000000000000000000000");
      expect(withoutChainSpecific(mine, coinbases, ours.sender)).toEqual(
        withoutChainSpecific(anvils, coinbases, ours.sender),
      );
    });
    it(`prestateTracer diffMode: ${name}`, async () => {
      const [mine, anvils] = (await traceBoth(name, {
        tracer: "prestateTracer",
        tracerConfig: { diffMode: true },
      })) as [{ pre: Json; post: Json }, { pre: Json; post: Json }];
      const coinbases = ["0x0000000000000000000000000000000000000000"];
      for (const n of [meridian, anvil]) {
        const b = await rpc<{ miner: string }>(n.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
        coinbases.push(b.miner.toLowerCase());
      }
      for (const part of ["pre", "post"] as const)
        expect(withoutChainSpecific(mine[part], coinbases, ours.sender)).toEqual(
          withoutChainSpecific(anvils[part], coinbases, ours.sender),
        );
    });
  }

  it("debug_traceCall with callTracer", async () => {
    const call = (w: TraceWorkload) => ({
      from: w.sender,
      to: w.probe,
      data: encodeFunctionData({ abi: w.artifact.abi, functionName: "nested", args: [3n] }),
      gas: "0x100000",
    });
    const [mine, anvils] = await Promise.all([
      rpc(meridian.rpcUrl, "debug_traceCall", [call(ours), "latest", { tracer: "callTracer" }]),
      rpc(anvil.rpcUrl, "debug_traceCall", [call(theirs), "latest", { tracer: "callTracer" }]),
    ]);
    expect(mine).toEqual(anvils);
  });

  it("debug_traceCall with struct logger and prestateTracer (both modes)", async () => {
    const configs = [
      { enableReturnData: true },
      { tracer: "prestateTracer" },
      { tracer: "prestateTracer", tracerConfig: { diffMode: true } },
    ];
    for (const config of configs) {
      const [mine, anvils] = await Promise.all([
        rpc(meridian.rpcUrl, "debug_traceCall", [spawnCall(ours), "latest", config]),
        rpc(anvil.rpcUrl, "debug_traceCall", [spawnCall(theirs), "latest", config]),
      ]);
      if (config.tracer !== "prestateTracer") {
        expect(mine).toEqual(anvils);
        continue;
      }
      const coinbases = ["0x0000000000000000000000000000000000000000"];
      for (const n of [meridian, anvil]) {
        const b = await rpc<{ miner: string }>(n.rpcUrl, "eth_getBlockByNumber", ["latest", false]);
        coinbases.push(b.miner.toLowerCase());
      }
      const parts = config.tracerConfig
        ? (["pre", "post"] as const).map((k) => [
            (mine as Record<string, unknown>)[k],
            (anvils as Record<string, unknown>)[k],
          ])
        : [[mine, anvils]];
      for (const [m, a] of parts)
        expect(withoutChainSpecific(m, coinbases, ours.sender)).toEqual(
          withoutChainSpecific(a, coinbases, ours.sender),
        );
    }
  });

  it("debug_traceCall with 4byteTracer (anvil 1.7.1 has none for calls: hand-computed)", async () => {
    const four = await rpc(meridian.rpcUrl, "debug_traceCall", [
      spawnCall(ours),
      "latest",
      { tracer: "4byteTracer" },
    ]);
    // spawn(bytes32) at the top, destroy(address) on the created child; CREATE/CREATE2 not counted.
    expect(four).toEqual({ "0x911c37ae-32": 1, "0x00f55d9d-32": 1 });
  });

  it("debug_traceCall with stateOverrides and blockOverrides", async () => {
    // NUMBER, TIMESTAMP and COINBASE stored at 0, 32 and 64, returned: PUSH0 MSTORE ... RETURN.
    const code = "0x435f52426020524160405260605ff3";
    const target = "0x00000000000000000000000000000000000c0de1";
    const config = {
      tracer: "callTracer",
      stateOverrides: { [target]: { code } },
      blockOverrides: {
        number: "0x12345",
        time: "0x7fffffff",
        feeRecipient: "0x00000000000000000000000000000000000fee01",
      },
    };
    const [mine, anvils] = await Promise.all(
      [meridian, anvil].map((n) =>
        rpc<{ output: string }>(n.rpcUrl, "debug_traceCall", [
          { from: ours.sender, to: target, gas: "0x30000" },
          "latest",
          config,
        ]),
      ),
    );
    expect(mine?.output).toBe(
      `0x${"12345".padStart(64, "0")}${"7fffffff".padStart(64, "0")}${"fee01".padStart(64, "0")}`,
    );
    expect(mine).toEqual(anvils);
    const refused = await rpcRaw(meridian.rpcUrl, "debug_traceCall", [
      { from: ours.sender, to: target },
      "latest",
      { blockOverrides: { blobBaseFee: "0x1" } },
    ]);
    expect(refused.error?.code).toBe(-32602);
  });

  it("debug_traceBlockByNumber of a one-transaction block equals anvil's", async () => {
    const [mine, anvils] = await Promise.all(
      [
        [meridian, ours],
        [anvil, theirs],
      ].map(async ([n, w]) => {
        const node = n as NodeHandle;
        const r = await rpc<{ blockNumber: string }>(node.rpcUrl, "eth_getTransactionReceipt", [
          (w as TraceWorkload).txs.spawn,
        ]);
        return rpc(node.rpcUrl, "debug_traceBlockByNumber", [r.blockNumber, { tracer: "callTracer" }]);
      }),
    );
    expect(mine).toEqual(anvils);
  });
});

describe("Meridian's debug_* methods", () => {
  it("debug_traceBlockByNumber and ByHash trace every transaction of a block with callTracer", async () => {
    const account = privateKeyToAccount(DEV_KEYS[8] as Hex);
    const wallet = createWalletClient({
      account,
      chain: meridianChain(meridian.rpcUrl, meridian.rpcUrl),
      transport: http(meridian.rpcUrl),
    });
    const data = encodeFunctionData({ abi: ours.artifact.abi, functionName: "nested", args: [5n] });
    // Nonces 2 and 1 wait in the pool's queue until nonce 0 arrives and promotes all three at
    // once, so they land in one block whenever the producer seals (sending 0, 1, 2 in parallel
    // could straddle a 250 ms block boundary).
    const send = (nonce: number) =>
      wallet.sendTransaction({ to: ours.probe, data, gas: 500_000n, nonce, value: 1n });
    const third = await send(2);
    const second = await send(1);
    const hashes = [await send(0), second, third];
    const receipts = await Promise.all(
      hashes.map((h) =>
        waitUntil("receipt", () =>
          rpc<{ blockNumber: string; blockHash: string } | null>(
            meridian.rpcUrl,
            "eth_getTransactionReceipt",
            [h],
          ).then((r) => r ?? undefined),
        ),
      ),
    );
    const blocks = new Set(receipts.map((r) => r.blockNumber));
    expect(blocks.size).toBe(1);
    const [number] = [...blocks];
    const traces = await rpc<{ txHash: string; result: { type: string; calls: unknown[] } }[]>(
      meridian.rpcUrl,
      "debug_traceBlockByNumber",
      [number, { tracer: "callTracer" }],
    );
    expect(traces.map((t) => t.txHash)).toEqual(hashes);
    for (const t of traces) {
      expect(t.result.type).toBe("CALL");
      expect(t.result.calls).toHaveLength(4);
      // Each equals the transaction's own trace.
      expect(t.result).toEqual(
        await rpc(meridian.rpcUrl, "debug_traceTransaction", [t.txHash, { tracer: "callTracer" }]),
      );
    }
    const byHash = await rpc(meridian.rpcUrl, "debug_traceBlockByHash", [
      receipts[0]?.blockHash,
      { tracer: "callTracer" },
    ]);
    expect(byHash).toEqual(traces);
  });

  it("refuses an unknown tracer with geth's error", async () => {
    for (const method of ["debug_traceTransaction", "debug_traceBlockByNumber"]) {
      const first = method === "debug_traceTransaction" ? ours.txs.nested : "0x1";
      const r = await rpcRaw(meridian.rpcUrl, method, [first, { tracer: "nopeTracer" }]);
      expect(r.error).toEqual({ code: -32000, message: "tracer not found" });
    }
  });

  it("debug_traceCall applies stateOverrides", async () => {
    const r = await rpc<{ output: string }>(meridian.rpcUrl, "debug_traceCall", [
      {
        from: ours.sender,
        to: ours.probe,
        data: encodeFunctionData({ abi: ours.artifact.abi, functionName: "stored" }),
      },
      "latest",
      {
        tracer: "callTracer",
        stateOverrides: { [ours.probe]: { stateDiff: { [`0x${"0".repeat(64)}`]: `0x${"0".repeat(62)}2a` } } },
      },
    ]);
    expect(BigInt(r.output)).toBe(42n);
  });
});

describe("response size cap", () => {
  let capped: NodeHandle;
  beforeAll(async () => {
    const dir = await makeTempDir("trace-cap-");
    const config = join(dir, "cap.toml");
    writeFileSync(config, ["[rpc]", "max_response_bytes = 4096", ""].join("\n"));
    capped = await startMeridian({ extraArgs: ["--config", config] });
  }, 90_000);

  it("stops a block trace (one response) and a transaction trace at max_response_bytes", async () => {
    const w = await runTraceWorkload(capped.rpcUrl);
    const receipt = await rpc<{ blockNumber: string }>(capped.rpcUrl, "eth_getTransactionReceipt", [
      w.txs.nested,
    ]);
    const error = { code: -32000, message: "trace exceeds the response size limit (4096 bytes)" };
    expect((await rpcRaw(capped.rpcUrl, "debug_traceTransaction", [w.txs.nested, {}])).error).toEqual(error);
    expect(
      (await rpcRaw(capped.rpcUrl, "debug_traceBlockByNumber", [receipt.blockNumber, {}])).error,
    ).toEqual(error);
    // A trace under the cap still comes back.
    const four = await rpc(capped.rpcUrl, "debug_traceBlockByNumber", [
      receipt.blockNumber,
      { tracer: "4byteTracer" },
    ]);
    expect(four).toHaveLength(1);
    // The `timeout` option bounds a whole block's trace too (the pool ends the worker at it).
    const late = await rpcRaw(capped.rpcUrl, "debug_traceBlockByNumber", [
      receipt.blockNumber,
      { tracer: "callTracer", timeout: "1ns" },
    ]);
    expect(late.error).toEqual({ code: -32000, message: "execution timeout" });
  });
});
