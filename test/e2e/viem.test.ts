import {
  type Account,
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  getAbiItem,
  type Hex,
  http,
  type Log,
  type PublicClient,
  parseEther,
  type Transport,
  type WalletClient,
  webSocket,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeBlockHash, type RawBlock } from "../helpers/block-hash.ts";
import { DEV_KEYS, MERIDIAN_CHAIN_ID, meridianChain } from "../helpers/chain.ts";
import { meridianToken } from "../helpers/compile.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { blockNumber, rpc, rpcRaw, waitUntil } from "../helpers/rpc.ts";
import { startNode } from "../helpers/target.ts";

const token = meridianToken();
const SUPPLY = 1_000_000n * 10n ** 18n;

let node: NodeHandle;
let chain: Chain;
let pub: PublicClient<Transport, Chain>;
let wsPub: PublicClient<Transport, Chain>;
let wallet: WalletClient<Transport, Chain, Account>;
const alice = privateKeyToAccount(DEV_KEYS[0]);
const bob = privateKeyToAccount(DEV_KEYS[1]);
let tokenAddress: Address;

beforeAll(async () => {
  node = await startNode({ blockTimeMs: 500 });
  chain = meridianChain(node.rpcUrl, node.wsUrl);
  pub = createPublicClient({ chain, transport: http(node.rpcUrl), pollingInterval: 100 });
  wsPub = createPublicClient({ chain, transport: webSocket(node.wsUrl), pollingInterval: 100 });
  wallet = createWalletClient({ chain, transport: http(node.rpcUrl), account: alice });
});

afterAll(async () => {
  try {
    const ws = await (
      wsPub?.transport as { getRpcClient?: () => Promise<{ close(): void }> }
    )?.getRpcClient?.();
    ws?.close();
  } catch {
    // socket may already be gone
  }
  await node?.stop();
  await cleanupAll();
});

describe("viem against the node", () => {
  it("reports chain id 7331", async () => {
    expect(await pub.getChainId()).toBe(MERIDIAN_CHAIN_ID);
  });

  it("deploys the ERC-20 and reads its views", async () => {
    const hash = await wallet.deployContract({
      abi: token.abi,
      bytecode: token.bytecode,
      args: ["Meridian Token", "MRD", SUPPLY],
    });
    const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    expect(receipt.contractAddress).toMatch(/^0x[0-9a-fA-F]{40}$/);
    tokenAddress = receipt.contractAddress!;
    expect((await pub.getCode({ address: tokenAddress }))?.toLowerCase()).toBe(token.deployedBytecode);

    const read = (functionName: string, args: unknown[] = []) =>
      pub.readContract({ address: tokenAddress, abi: token.abi, functionName, args });
    expect(await read("name")).toBe("Meridian Token");
    expect(await read("symbol")).toBe("MRD");
    expect(await read("decimals")).toBe(18);
    expect(await read("totalSupply")).toBe(SUPPLY);
    expect(await read("balanceOf", [alice.address])).toBe(SUPPLY);
    // The constructor's mint is a Transfer from the zero address.
    expect(receipt.logs).toHaveLength(1);
  });

  it("estimates gas, transfers, and finds the Transfer event via getLogs and getContractEvents", async () => {
    const amount = 1234n * 10n ** 18n;
    const est = await pub.estimateContractGas({
      address: tokenAddress,
      abi: token.abi,
      functionName: "transfer",
      args: [bob.address, amount],
      account: alice,
    });
    expect(est).toBeGreaterThan(21_000n);
    expect(est).toBeLessThan(100_000n);

    const hash = await wallet.writeContract({
      address: tokenAddress,
      abi: token.abi,
      functionName: "transfer",
      args: [bob.address, amount],
    });
    const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    expect(receipt.gasUsed).toBeLessThanOrEqual(est);
    expect(receipt.logs).toHaveLength(1);

    const bal = await pub.readContract({
      address: tokenAddress,
      abi: token.abi,
      functionName: "balanceOf",
      args: [bob.address],
    });
    expect(bal).toBe(amount);

    const transferEvent = getAbiItem({ abi: token.abi, name: "Transfer" });
    const logs = await pub.getLogs({
      address: tokenAddress,
      event: transferEvent as Extract<typeof transferEvent, { type: "event" }>,
      fromBlock: receipt.blockNumber,
      toBlock: receipt.blockNumber,
    });
    expect(logs).toHaveLength(1);
    expect(logs[0].transactionHash).toBe(hash);
    expect(logs[0].blockHash).toBe(receipt.blockHash);
    expect(logs[0].args).toEqual({ from: alice.address, to: bob.address, value: amount });

    const events = await pub.getContractEvents({
      address: tokenAddress,
      abi: token.abi,
      eventName: "Transfer",
      args: { to: bob.address },
      fromBlock: 0n,
    });
    expect(events).toHaveLength(1);
    expect((events[0] as unknown as { args: unknown }).args).toEqual({
      from: alice.address,
      to: bob.address,
      value: amount,
    });
    // Topic filter on `from` = zero address finds only the mint.
    const mints = await pub.getContractEvents({
      address: tokenAddress,
      abi: token.abi,
      eventName: "Transfer",
      args: { from: "0x0000000000000000000000000000000000000000" },
      fromBlock: 0n,
    });
    expect(mints).toHaveLength(1);
  });

  it("delivers a Transfer sent after subscribing over WebSocket (eth_subscribe logs)", async () => {
    const received: Log[] = [];
    const transport = wsPub.transport as unknown as {
      subscribe(args: {
        params: unknown[];
        onData: (d: { result: Log }) => void;
        onError?: (e: unknown) => void;
      }): Promise<{ subscriptionId: Hex; unsubscribe: () => Promise<unknown> }>;
    };
    // Awaiting subscribe means the node acknowledged it, so the transfer below must be delivered.
    const sub = await transport.subscribe({
      params: ["logs", { address: tokenAddress }],
      onData: (d) => received.push(d.result),
    });
    expect(sub.subscriptionId).toMatch(/^0x[0-9a-f]+$/i);
    try {
      const hash = await wallet.writeContract({
        address: tokenAddress,
        abi: token.abi,
        functionName: "transfer",
        args: [bob.address, 7n],
      });
      const log = await waitUntil(
        "WebSocket log",
        async () => received.find((l) => l.transactionHash === hash),
        30_000,
      );
      const decoded = decodeEventLog({ abi: token.abi, data: log.data, topics: log.topics });
      expect(decoded.eventName).toBe("Transfer");
      expect(decoded.args).toEqual({ from: alice.address, to: bob.address, value: 7n });
      const receipt = await pub.waitForTransactionReceipt({ hash });
      expect(log.blockHash).toBe(receipt.blockHash);
    } finally {
      await sub.unsubscribe();
    }
  });

  it("watchContractEvent over WebSocket sees a transfer", async () => {
    const seen: Hex[] = [];
    const unwatch = wsPub.watchContractEvent({
      address: tokenAddress,
      abi: token.abi,
      eventName: "Transfer",
      onLogs: (logs) => {
        for (const l of logs) if (l.transactionHash) seen.push(l.transactionHash);
      },
    });
    try {
      // viem subscribes asynchronously with no ready signal: keep sending until one lands.
      const hashes: Hex[] = [];
      await waitUntil(
        "watchContractEvent delivery",
        async () => {
          hashes.push(
            await wallet.writeContract({
              address: tokenAddress,
              abi: token.abi,
              functionName: "transfer",
              args: [bob.address, 1n],
            }),
          );
          await pub.waitForTransactionReceipt({ hash: hashes[hashes.length - 1] });
          return seen.some((h) => hashes.includes(h)) ? true : undefined;
        },
        30_000,
        0,
      );
    } finally {
      unwatch();
    }
  });

  it("newHeads subscription delivers blocks", async () => {
    const heads = await new Promise<bigint[]>((resolve, reject) => {
      const got: bigint[] = [];
      const timer = setTimeout(() => reject(new Error("no newHeads within 15 s")), 15_000);
      const unwatch = wsPub.watchBlockNumber({
        emitOnBegin: false,
        onBlockNumber: (n) => {
          got.push(n);
          if (got.length >= 2) {
            clearTimeout(timer);
            unwatch();
            resolve(got);
          }
        },
        onError: reject,
      });
    });
    expect(heads[1]).toBeGreaterThan(heads[0]);
  });

  it("rejects fail() with the revert reason 'always fails'", async () => {
    const err = await pub
      .simulateContract({ address: tokenAddress, abi: token.abi, functionName: "fail", account: alice })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(BaseError);
    const revert = (err as BaseError).walk((e) => e instanceof ContractFunctionRevertedError);
    expect(revert).toBeInstanceOf(ContractFunctionRevertedError);
    expect((revert as ContractFunctionRevertedError).reason).toBe("always fails");

    // Wire level: geth answers code 3 with the ABI-encoded Error(string) in data.
    const raw = await rpcRaw(node.rpcUrl, "eth_call", [
      { from: alice.address, to: tokenAddress, data: "0xa9cc4718" },
      "latest",
    ]);
    expect(raw.error?.code).toBe(3);
    expect(raw.error?.message).toContain("always fails");
    expect(String(raw.error?.data)).toMatch(/^0x08c379a0/);
  });

  it("reverts a transfer exceeding the balance with the ERC20 message, in call and estimateGas", async () => {
    // Funded with ETH but holding no tokens (a fundless sender would fail on gas, not on the revert).
    const holderless = privateKeyToAccount(DEV_KEYS[8]);
    const call = pub.simulateContract({
      address: tokenAddress,
      abi: token.abi,
      functionName: "transfer",
      args: [bob.address, 1n],
      account: holderless,
    });
    await expect(call).rejects.toThrow(/ERC20: transfer amount exceeds balance/);
    const est = pub.estimateContractGas({
      address: tokenAddress,
      abi: token.abi,
      functionName: "transfer",
      args: [bob.address, 1n],
      account: holderless,
    });
    await expect(est).rejects.toThrow(/ERC20: transfer amount exceeds balance/);
  });

  it("sends a plain ETH transfer and balances add up", async () => {
    // Any dev account would do: the devnet's fee recipient is its own validator key, none of them.
    const payer = privateKeyToAccount(DEV_KEYS[6]);
    const payerWallet = createWalletClient({ chain, transport: http(node.rpcUrl), account: payer });
    const to = privateKeyToAccount(generatePrivateKey()).address;
    const before = await pub.getBalance({ address: payer.address });
    const value = parseEther("1");
    const hash = await payerWallet.sendTransaction({ to, value });
    const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    expect(receipt.gasUsed).toBe(21_000n);
    expect(receipt.type).toBe("eip1559");
    expect(await pub.getBalance({ address: to })).toBe(value);
    const after = await pub.getBalance({ address: payer.address });
    expect(before - after).toBe(value + receipt.gasUsed * receipt.effectiveGasPrice);

    const tx = await pub.getTransaction({ hash });
    expect(tx.from.toLowerCase()).toBe(payer.address.toLowerCase());
    expect(tx.to?.toLowerCase()).toBe(to.toLowerCase());
    expect(tx.value).toBe(value);
    expect(tx.chainId).toBe(MERIDIAN_CHAIN_ID);
    expect(tx.blockHash).toBe(receipt.blockHash);
  });

  it("returns well-formed blocks whose hash is keccak(RLP(header))", async () => {
    const latest = await pub.getBlock({ blockTag: "latest", includeTransactions: false });
    expect(latest.number).toBeGreaterThan(0n);
    const byHash = await pub.getBlock({ blockHash: latest.hash });
    const byNumber = await pub.getBlock({ blockNumber: latest.number });
    expect(byHash).toEqual(latest);
    expect(byNumber).toEqual(latest);
    expect(latest.baseFeePerGas).toBeTypeOf("bigint");
    expect(latest.gasLimit).toBeGreaterThan(0n);
    expect(latest.timestamp).toBeGreaterThan(0n);

    // Wire shape: every standard field present, quantities minimal hex, hashes 32 bytes.
    const wire = await rpc<RawBlock>(node.rpcUrl, "eth_getBlockByHash", [latest.hash, false]);
    const hash32 = /^0x[0-9a-f]{64}$/;
    const quantity = /^0x(0|[1-9a-f][0-9a-f]*)$/;
    for (const k of [
      "hash",
      "parentHash",
      "sha3Uncles",
      "stateRoot",
      "transactionsRoot",
      "receiptsRoot",
      "mixHash",
    ]) {
      expect(wire[k], k).toMatch(hash32);
    }
    for (const k of ["number", "difficulty", "gasLimit", "gasUsed", "timestamp", "size", "baseFeePerGas"]) {
      expect(wire[k], k).toMatch(quantity);
    }
    expect(wire.miner).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(wire.logsBloom).toMatch(/^0x[0-9a-f]{512}$/);
    expect(wire.nonce).toMatch(/^0x[0-9a-f]{16}$/);
    expect(wire.extraData).toMatch(/^0x([0-9a-f]{2})*$/);
    expect(wire.transactions).toBeInstanceOf(Array);
    expect(wire.uncles).toEqual([]);

    // Recompute hashes from the raw wire form for the last few blocks and for genesis.
    const head = await blockNumber(node.rpcUrl);
    const numbers = [0n, ...Array.from({ length: 5 }, (_, i) => head - BigInt(i)).filter((n) => n > 0n)];
    for (const n of numbers) {
      const raw = await rpc<RawBlock>(node.rpcUrl, "eth_getBlockByNumber", [`0x${n.toString(16)}`, false]);
      expect(computeBlockHash(raw), `block ${n}`).toBe(raw.hash);
      if (n > 0n) {
        const parent = await rpc<RawBlock>(node.rpcUrl, "eth_getBlockByNumber", [
          `0x${(n - 1n).toString(16)}`,
          false,
        ]);
        expect(raw.parentHash).toBe(parent.hash);
      }
    }

    // A block with transactions: full objects and hashes agree.
    const txHash = await wallet.sendTransaction({ to: bob.address, value: 1n });
    const receipt = await pub.waitForTransactionReceipt({ hash: txHash });
    const full = await pub.getBlock({ blockHash: receipt.blockHash, includeTransactions: true });
    const thin = await pub.getBlock({ blockHash: receipt.blockHash });
    expect(full.transactions.map((t) => t.hash)).toEqual(thin.transactions);
    expect(thin.transactions).toContain(txHash);
    const rawWithTx = await rpc<RawBlock>(node.rpcUrl, "eth_getBlockByHash", [receipt.blockHash, false]);
    expect(computeBlockHash(rawWithTx)).toBe(receipt.blockHash);
  });

  it("counts pending vs latest nonces", async () => {
    const sender = privateKeyToAccount(DEV_KEYS[2]);
    const w = createWalletClient({ chain, transport: http(node.rpcUrl), account: sender });
    const start = await pub.getTransactionCount({ address: sender.address, blockTag: "latest" });
    const bnBefore = await blockNumber(node.rpcUrl);
    const hashes: Hex[] = [];
    for (let i = 0; i < 3; i++) {
      hashes.push(await w.sendTransaction({ to: bob.address, value: 1n, nonce: start + i }));
    }
    const pending = await pub.getTransactionCount({ address: sender.address, blockTag: "pending" });
    const latest = await pub.getTransactionCount({ address: sender.address, blockTag: "latest" });
    const bnAfter = await blockNumber(node.rpcUrl);
    expect(pending).toBe(start + 3);
    expect(latest).toBeLessThanOrEqual(pending);
    // Only if no block landed meanwhile is it certain the txs are still pool-only.
    if (bnAfter === bnBefore) expect(latest).toBe(start);

    for (const hash of hashes) await pub.waitForTransactionReceipt({ hash });
    expect(await pub.getTransactionCount({ address: sender.address, blockTag: "latest" })).toBe(start + 3);
    expect(await pub.getTransactionCount({ address: sender.address, blockTag: "pending" })).toBe(start + 3);
  });
});
