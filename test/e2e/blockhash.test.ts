/**
 * BLOCKHASH and the EIP-2935 history contract in a running node: a transaction records
 * what it sees for heights relative to its block, and each answer must be the canonical
 * hash eth_getBlockByNumber reports (or zero where Ethereum defines BLOCKHASH as zero).
 */
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  pad,
  type Transport,
  toHex,
  type WalletClient,
  zeroHash,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { compileContract } from "../helpers/compile.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, waitForBlock } from "../helpers/rpc.ts";

const HISTORY_CONTRACT: Address = "0x0000F90827F1C53a10cb7A02335B175320002935";
const artifact = compileContract("BlockHashes.sol", "BlockHashes");

let node: NodeHandle;
let pub: PublicClient<Transport, Chain>;
let wallet: WalletClient<Transport, Chain, Account>;

beforeAll(async () => {
  // Short blocks: the test needs more than 257 of them.
  node = await startMeridian({ blockTimeMs: 50 });
  const chain = meridianChain(node.rpcUrl, node.wsUrl);
  pub = createPublicClient({ chain, transport: http(node.rpcUrl), pollingInterval: 50 });
  wallet = createWalletClient({
    chain,
    transport: http(node.rpcUrl),
    account: privateKeyToAccount(DEV_KEYS[0]),
  });
});

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

async function hashAt(n: bigint): Promise<Hex> {
  const block = await rpc<{ hash: Hex } | null>(node.rpcUrl, "eth_getBlockByNumber", [toHex(n), false]);
  if (!block) throw new Error(`no block ${n}`);
  return block.hash;
}

describe("BLOCKHASH in the running node", () => {
  it("a transaction sees the 256 most recent canonical hashes, and the history contract agrees", async () => {
    const deployHash = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode });
    const deployed = await pub.waitForTransactionReceipt({ hash: deployHash, timeout: 30_000 });
    const address = deployed.contractAddress as Address;
    expect(deployed.status).toBe("success");

    // The transaction reads blockhash(n - 257): its block must be above 257.
    await waitForBlock(node.rpcUrl, 260n, 120_000);
    // An explicit gas limit: an estimate made without the block's hashes (zeros, cheaper
    // stores) would be too low, and that path is not what this test is about.
    const txHash = await wallet.writeContract({
      address,
      abi: artifact.abi,
      functionName: "record",
      gas: 500_000n,
    });
    const receipt = await pub.waitForTransactionReceipt({ hash: txHash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    const n = receipt.blockNumber;

    const read = async (functionName: string): Promise<unknown> =>
      pub.readContract({ address, abi: artifact.abi, functionName, blockNumber: n });
    expect(await read("recordedAt")).toBe(n);
    const [h1, h2, h256, h257] = await Promise.all([n - 1n, n - 2n, n - 256n, n - 257n].map(hashAt));
    expect(h1).not.toBe(zeroHash);
    expect(await read("minus1")).toBe(h1);
    expect(await read("minus2")).toBe(h2);
    expect(await read("minus256")).toBe(h256);
    // More than 256 back and the current block: zero, as Ethereum defines BLOCKHASH.
    expect(await read("minus257")).toBe(zeroHash);
    expect(await read("current")).toBe(zeroHash);
    // The EIP-2935 contract, updated by each block's system call, answers inside the
    // transaction too, and keeps more than 256 blocks (8191).
    expect(await read("historyMinus1")).toBe(h1);
    expect(await read("historyMinus257")).toBe(h257);

    // Its `get` path from outside: the 32-byte block number as calldata, at block n.
    const get = async (height: bigint): Promise<Hex | undefined> =>
      (await pub.call({ to: HISTORY_CONTRACT, data: pad(toHex(height)), blockNumber: n })).data;
    expect(await get(n - 1n)).toBe(h1);
    expect(await get(n - 257n)).toBe(h257);
  }, 180_000);
});
