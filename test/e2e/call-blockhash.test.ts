/**
 * BLOCKHASH in eth_call, eth_estimateGas, eth_createAccessList and debug_traceTransaction
 * (issue 13), on a real node past 257 blocks: the 256 most recent canonical hashes relative
 * to the block the call runs in, zero for the block itself and further back.
 */
import type { Hex } from "viem";
import { createWalletClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, waitUntil } from "../helpers/rpc.ts";

const ZERO = `0x${"00".repeat(32)}`;
/** Distances back from block.number the contract reads, in its return order. */
const DISTANCES = [1, 2, 256, 257, 0];

/**
 * Runtime code returning blockhash(n - d) for each d of DISTANCES, then n = block.number:
 * per d, PUSH2 d; NUMBER; SUB; BLOCKHASH; PUSH1 offset; MSTORE. Then NUMBER; PUSH1 0xa0;
 * MSTORE; PUSH1 0xc0; PUSH1 0; RETURN.
 */
function blockHashesRuntime(): string {
  let code = "";
  DISTANCES.forEach((d, i) => {
    code += `61${d.toString(16).padStart(4, "0")}430340`;
    code += `60${(i * 32).toString(16).padStart(2, "0")}52`;
  });
  return `${code}4360a05260c06000f3`;
}

/** Init code that copies the runtime after it into memory and returns it. */
function deployCode(runtime: string): Hex {
  const len = (runtime.length / 2).toString(16).padStart(2, "0");
  return `0x60${len}600c60003960${len}6000f3${runtime}`;
}

/** EIP-2935's history contract: get(n) answers block n's hash from its storage ring. */
const HISTORY_CONTRACT = "0000f90827f1c53a10cb7a02335b175320002935";

/**
 * Runtime code returning the history contract's answer for block.number - 1, which only the
 * block's own EIP-2935 system call has stored: NUMBER PUSH1 1 SWAP1 SUB PUSH1 0 MSTORE, then
 * STATICCALL(gas, history, 0, 32, 0, 32), POP, RETURN(0, 32).
 */
const HISTORY_READER_RUNTIME = `4360019003600052602060006020600073${HISTORY_CONTRACT}5afa5060206000f3`;

let node: NodeHandle;
let contract: Hex;
let deployTx: Hex;

async function blockHash(n: bigint): Promise<string> {
  if (n < 0n) return ZERO;
  const b = await rpc<{ hash: string } | null>(node.rpcUrl, "eth_getBlockByNumber", [
    `0x${n.toString(16)}`,
    false,
  ]);
  return b?.hash ?? ZERO;
}

/** The words of the contract's answer: five hashes and the block number it ran in. */
function words(ret: Hex): string[] {
  return Array.from({ length: 6 }, (_, i) => `0x${ret.slice(2 + i * 64, 2 + (i + 1) * 64)}`);
}

/** What Ethereum's BLOCKHASH gives in block n for each distance. */
async function expected(n: bigint): Promise<string[]> {
  return Promise.all(DISTANCES.map((d) => (d === 0 || d > 256 ? ZERO : blockHash(n - BigInt(d)))));
}

beforeAll(async () => {
  node = await startMeridian({ blockTimeMs: 60 });
  const wallet = createWalletClient({
    account: privateKeyToAccount(DEV_KEYS[6] as Hex),
    chain: meridianChain(node.rpcUrl, node.wsUrl),
    transport: http(node.rpcUrl),
  });
  deployTx = await wallet.sendTransaction({ data: deployCode(blockHashesRuntime()), gas: 200_000n });
  const receipt = await waitUntil("deploy receipt", () =>
    rpc<{ contractAddress: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [deployTx]).then(
      (r) => r ?? undefined,
    ),
  );
  contract = receipt.contractAddress;
  // Past 257 blocks, so every distance the contract reads exists at the blocks called below.
  await waitUntil(
    "block 300",
    async () => (BigInt(await rpc<string>(node.rpcUrl, "eth_blockNumber")) >= 300n ? true : undefined),
    120_000,
    200,
  );
}, 180_000);

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

describe("BLOCKHASH in calls and traces", () => {
  it("eth_call at latest sees the 256 most recent canonical hashes, zero for n and n-257", async () => {
    const ret = await rpc<Hex>(node.rpcUrl, "eth_call", [{ to: contract }, "latest"]);
    const w = words(ret);
    const n = BigInt(w[5] as string);
    expect(n).toBeGreaterThanOrEqual(300n);
    const want = await expected(n);
    expect(w.slice(0, 5)).toEqual(want);
    // Not the zero stand-in: the recent hashes are real.
    expect(want[0]).not.toBe(ZERO);
    expect(want[2]).not.toBe(ZERO);
  });

  it("eth_call at an older block sees hashes relative to that block", async () => {
    const head = BigInt(await rpc<string>(node.rpcUrl, "eth_blockNumber"));
    const older = head - 20n;
    const ret = await rpc<Hex>(node.rpcUrl, "eth_call", [{ to: contract }, `0x${older.toString(16)}`]);
    const w = words(ret);
    expect(BigInt(w[5] as string)).toBe(older);
    expect(w.slice(0, 5)).toEqual(await expected(older));
  });

  it("eth_estimateGas and eth_createAccessList run with the same hashes (BLOCKHASH cost is fixed)", async () => {
    const gas = BigInt(await rpc<string>(node.rpcUrl, "eth_estimateGas", [{ to: contract }, "latest"]));
    expect(gas).toBeGreaterThan(21_000n);
    const al = await rpc<{ gasUsed: string; error?: string }>(node.rpcUrl, "eth_createAccessList", [
      { to: contract },
      "latest",
    ]);
    expect(al.error).toBeUndefined();
  });

  it("debug_traceTransaction replays the block's system calls first (EIP-2935 history contract)", async () => {
    const wallet = createWalletClient({
      account: privateKeyToAccount(DEV_KEYS[6] as Hex),
      chain: meridianChain(node.rpcUrl, node.wsUrl),
      transport: http(node.rpcUrl),
    });
    const deploy = await wallet.sendTransaction({ data: deployCode(HISTORY_READER_RUNTIME), gas: 200_000n });
    const { contractAddress: reader } = await waitUntil("reader deployed", () =>
      rpc<{ contractAddress: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [deploy]).then(
        (r) => r ?? undefined,
      ),
    );
    const hash = await wallet.sendTransaction({ to: reader, gas: 100_000n });
    const receipt = await waitUntil("call receipt", () =>
      rpc<{ blockNumber: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [hash]).then(
        (r) => r ?? undefined,
      ),
    );
    const n = BigInt(receipt.blockNumber);
    const trace = await rpc<{ output: string; calls?: { to: string; output: string }[] }>(
      node.rpcUrl,
      "debug_traceTransaction",
      [hash, { tracer: "callTracer" }],
    );
    const parentHash = await blockHash(n - 1n);
    expect(parentHash).not.toBe(ZERO);
    // Without the system call, the history contract's slot for n-1 is still empty in the parent state.
    expect(trace.calls?.[0]?.to).toBe(`0x${HISTORY_CONTRACT}`);
    expect(trace.calls?.[0]?.output).toBe(parentHash);
    expect(trace.output).toBe(parentHash);
  });

  it("debug_traceTransaction replays a call to the contract with the block's hashes", async () => {
    const wallet = createWalletClient({
      account: privateKeyToAccount(DEV_KEYS[6] as Hex),
      chain: meridianChain(node.rpcUrl, node.wsUrl),
      transport: http(node.rpcUrl),
    });
    const hash = await wallet.sendTransaction({ to: contract, gas: 100_000n });
    const receipt = await waitUntil("call receipt", () =>
      rpc<{ blockNumber: Hex } | null>(node.rpcUrl, "eth_getTransactionReceipt", [hash]).then(
        (r) => r ?? undefined,
      ),
    );
    const n = BigInt(receipt.blockNumber);
    const trace = await rpc<{ structLogs: { op: string; stack: string[] }[] }>(
      node.rpcUrl,
      "debug_traceTransaction",
      [hash, {}],
    );
    // The stack top after each BLOCKHASH is the value it pushed (struct logs show the stack before each op).
    const pushed: string[] = [];
    trace.structLogs.forEach((log, i) => {
      if (log.op !== "BLOCKHASH") return;
      const next = trace.structLogs[i + 1] as { stack: string[] };
      pushed.push(
        `0x${BigInt(next.stack[next.stack.length - 1] as string)
          .toString(16)
          .padStart(64, "0")}`,
      );
    });
    expect(pushed).toEqual(await expected(n));
  });
});
