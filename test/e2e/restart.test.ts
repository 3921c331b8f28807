import { type Address, encodeDeployData, type Hex, parseEther, parseGwei } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { meridianToken } from "../helpers/compile.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { blockNumber, rpc, sleep, waitForBlock, waitUntil } from "../helpers/rpc.ts";
import { startNode, TARGET } from "../helpers/target.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const BLOCK_MS = 250;
const sender = privateKeyToAccount(DEV_KEYS[4]);
const recipients: Address[] = Array.from(
  { length: 4 },
  () => privateKeyToAccount(generatePrivateKey()).address,
);
const hex = (n: bigint | number) => `0x${n.toString(16)}`;

let datadir: string;
let node: NodeHandle | undefined;

type Receipt = Record<string, unknown> & {
  blockHash: Hex;
  blockNumber: Hex;
  status: Hex;
  contractAddress: Hex | null;
};

async function sendRaw(
  url: string,
  tx: { to?: Address; value?: bigint; data?: Hex; gas: bigint; nonce: number },
) {
  const raw = await sender.signTransaction({
    type: "eip1559",
    chainId: MERIDIAN_CHAIN_ID,
    maxFeePerGas: parseGwei("50"),
    maxPriorityFeePerGas: parseGwei("1"),
    ...tx,
  });
  return rpc<Hex>(url, "eth_sendRawTransaction", [raw]);
}

async function receiptOf(url: string, hash: Hex): Promise<Receipt> {
  return waitUntil(
    `receipt ${hash}`,
    async () => (await rpc<Receipt | null>(url, "eth_getTransactionReceipt", [hash])) ?? undefined,
    30_000,
  );
}

async function balances(url: string, addrs: Address[]): Promise<bigint[]> {
  return Promise.all(addrs.map(async (a) => BigInt(await rpc<string>(url, "eth_getBalance", [a, "latest"]))));
}

async function blockHashes(url: string, upTo: bigint): Promise<Hex[]> {
  const out: Hex[] = [];
  for (let n = 0n; n <= upTo; n++) {
    out.push((await rpc<{ hash: Hex }>(url, "eth_getBlockByNumber", [hex(n), false])).hash);
  }
  return out;
}

beforeAll(async () => {
  datadir = await makeTempDir("meridian-restart-");
});

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

describe("graceful restart on the same datadir", () => {
  const sent: Hex[] = [];
  let receipts: Receipt[] = [];
  let head = 0n;
  let hashes: Hex[] = [];
  let bals: bigint[] = [];
  let tokenAddress: Hex;
  let code: Hex;

  it("builds some history", async () => {
    node = await startNode({ datadir, blockTimeMs: BLOCK_MS });
    const url = node.rpcUrl;
    let nonce = Number(await rpc<string>(url, "eth_getTransactionCount", [sender.address, "pending"]));
    const token = meridianToken();
    sent.push(
      await sendRaw(url, {
        data: encodeDeployData({ abi: token.abi, bytecode: token.bytecode, args: ["R", "R", 1000n] }),
        gas: 2_000_000n,
        nonce: nonce++,
      }),
    );
    for (const [i, to] of recipients.entries()) {
      sent.push(await sendRaw(url, { to, value: parseEther(String(i + 1)), gas: 21_000n, nonce: nonce++ }));
    }
    receipts = [];
    for (const h of sent) receipts.push(await receiptOf(url, h));
    for (const r of receipts) expect(r.status).toBe("0x1");
    tokenAddress = receipts[0].contractAddress!;
    code = await rpc<Hex>(url, "eth_getCode", [tokenAddress, "latest"]);
    expect(code.length).toBeGreaterThan(2);

    // A few more blocks on top so the txs are not all in the head block.
    const last = BigInt(receipts[receipts.length - 1].blockNumber);
    await waitForBlock(url, last + 3n);
    head = await blockNumber(url);
    hashes = await blockHashes(url, head);
    bals = await balances(url, [sender.address, ...recipients]);
  });

  it("exits with code 0 within 10 s on SIGTERM", async () => {
    const res = await node!.stop("SIGTERM", 10_000);
    expect(res.forced, "had to SIGKILL").toBe(false);
    expect(res.code).toBe(0);
    expect(res.elapsedMs).toBeLessThan(10_000);
    node = undefined;
  });

  it("reopens with identical history, receipts, balances and code, and keeps going", async () => {
    node = await startNode({ datadir, blockTimeMs: BLOCK_MS });
    const url = node.rpcUrl;
    const newHead = await blockNumber(url);
    expect(newHead).toBeGreaterThanOrEqual(head);
    expect(await blockHashes(url, head)).toEqual(hashes);
    for (const [i, h] of sent.entries()) {
      expect(await rpc<Receipt>(url, "eth_getTransactionReceipt", [h])).toEqual(receipts[i]);
    }
    expect(await balances(url, [sender.address, ...recipients])).toEqual(bals);
    expect(await rpc<Hex>(url, "eth_getCode", [tokenAddress, "latest"])).toBe(code);

    // The chain continues: new blocks on top of the old head, linked to it, and new txs land.
    await waitForBlock(url, newHead + 2n);
    const child = await rpc<{ parentHash: Hex }>(url, "eth_getBlockByNumber", [hex(head + 1n), false]);
    expect(child.parentHash).toBe(hashes[Number(head)]);
    const nonce = Number(await rpc<string>(url, "eth_getTransactionCount", [sender.address, "pending"]));
    expect(nonce).toBe(sent.length);
    const r = await receiptOf(url, await sendRaw(url, { to: recipients[0], value: 1n, gas: 21_000n, nonce }));
    expect(r.status).toBe("0x1");
    expect(BigInt(r.blockNumber)).toBeGreaterThan(head);
  });

  it("--reset starts again from genesis", async () => {
    const res = await node!.stop("SIGTERM", 10_000);
    expect(res.code).toBe(0);
    // --no-empty-blocks rides along here to save a node start; checked in the next test.
    node = await startNode({ datadir, blockTimeMs: BLOCK_MS, reset: true, noEmptyBlocks: true });
    const url = node.rpcUrl;
    expect(await blockNumber(url)).toBeLessThan(head);
    // Meridian's devnet genesis is fixed (timestamp included); anvil stamps its genesis with "now".
    if (TARGET === "meridian") {
      expect((await rpc<{ hash: Hex }>(url, "eth_getBlockByNumber", ["0x0", false])).hash).toBe(hashes[0]);
    }
    expect(await rpc(url, "eth_getTransactionReceipt", [sent[1]])).toBeNull();
    expect(await balances(url, recipients)).toEqual(recipients.map(() => 0n));
    expect(await balances(url, [sender.address])).toEqual([parseEther("10000")]);
    expect(await rpc<Hex>(url, "eth_getCode", [tokenAddress, "latest"])).toBe("0x");
    expect(await rpc<string>(url, "eth_getTransactionCount", [sender.address, "latest"])).toBe("0x0");
  });

  // anvil has no equivalent of --no-empty-blocks.
  it.skipIf(TARGET !== "meridian")(
    "--no-empty-blocks: idle chain stays put, one tx makes one block",
    async () => {
      const url = node!.rpcUrl;
      const idle = await blockNumber(url);
      await sleep(BLOCK_MS * 6);
      expect(await blockNumber(url)).toBe(idle);
      const r = await receiptOf(
        url,
        await sendRaw(url, { to: recipients[1], value: 1n, gas: 21_000n, nonce: 0 }),
      );
      expect(BigInt(r.blockNumber)).toBe(idle + 1n);
      await sleep(BLOCK_MS * 4);
      expect(await blockNumber(url)).toBe(idle + 1n);
    },
  );
});
