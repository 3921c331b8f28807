/**
 * The transactions the tracing tests trace on Meridian and on anvil alike: TraceProbe's
 * deployment (a CREATE in a constructor), then nested calls of every kind, CREATE/CREATE2 with
 * a SELFDESTRUCT, a revert with a reason and an inner out-of-gas. Fixed gas limits and fees,
 * one sender, nonces from 0: both chains derive the same contract addresses.
 */
import { createPublicClient, createWalletClient, encodeFunctionData, type Hex, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { DEV_KEYS, meridianChain } from "./chain.ts";
import { type Artifact, compileContract } from "./compile.ts";

export type TraceWorkload = {
  probe: Hex;
  child: Hex;
  sender: Hex;
  artifact: Artifact;
  txs: { deploy: Hex; nested: Hex; spawn: Hex; failWithReason: Hex; starve: Hex };
};

export const TRACE_SENDER_KEY = DEV_KEYS[7] as Hex;

export function traceProbe(): Artifact {
  return compileContract("TraceProbe.sol", "TraceProbe");
}

export async function runTraceWorkload(rpcUrl: string): Promise<TraceWorkload> {
  const account = privateKeyToAccount(TRACE_SENDER_KEY);
  const chain = meridianChain(rpcUrl, rpcUrl);
  const wallet = createWalletClient({ account, chain, transport: http(rpcUrl) });
  const client = createPublicClient({ chain, transport: http(rpcUrl) });
  const artifact = traceProbe();
  const fees = { maxFeePerGas: 50_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
  const mined = async (hash: Hex) => {
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50, timeout: 30_000 });
    return receipt;
  };
  const deploy = await wallet.sendTransaction({
    data: artifact.bytecode,
    value: parseEther("1"),
    gas: 3_000_000n,
    nonce: 0,
    ...fees,
  });
  const probe = (await mined(deploy)).contractAddress as Hex;
  const child = (await client.readContract({
    address: probe,
    abi: artifact.abi,
    functionName: "child",
  })) as Hex;
  const send = async (nonce: number, functionName: string, args: unknown[], value = 0n, gas = 1_000_000n) => {
    const hash = await wallet.sendTransaction({
      to: probe,
      data: encodeFunctionData({ abi: artifact.abi, functionName, args }),
      value,
      gas,
      nonce,
      ...fees,
    });
    await mined(hash);
    return hash;
  };
  const nested = await send(1, "nested", [7n], 1000n);
  const spawn = await send(2, "spawn", [`0x${"ab".repeat(32)}`], 500n);
  const failWithReason = await send(3, "failWithReason", ["no luck"]);
  const starve = await send(4, "starve", [], 0n, 200_000n);
  return {
    probe,
    child,
    sender: account.address,
    artifact,
    txs: { deploy, nested, spawn, failWithReason, starve },
  };
}
