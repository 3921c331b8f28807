import {
  type Contract,
  ContractFactory,
  type ContractTransactionResponse,
  type EventLog,
  JsonRpcProvider,
  Network,
  parseEther,
  Wallet,
  WebSocketProvider,
} from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { meridianToken } from "../helpers/compile.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { waitUntil } from "../helpers/rpc.ts";
import { startNode } from "../helpers/target.ts";

const token = meridianToken();
const SUPPLY = 1_000_000n * 10n ** 18n;
const network = Network.from(MERIDIAN_CHAIN_ID);

let node: NodeHandle;
let provider: JsonRpcProvider;
let wsProvider: WebSocketProvider;
let alice: Wallet;
let bob: Wallet;
let tokenC: Contract;
let tokenAddress: string;

// Contract methods are dynamic in ethers; one narrow signature keeps the calls typed.
type Fn = (...args: unknown[]) => Promise<unknown>;
const fn = (c: Contract, name: string): Fn & { estimateGas: Fn; staticCall: Fn } =>
  c.getFunction(name) as unknown as Fn & { estimateGas: Fn; staticCall: Fn };

beforeAll(async () => {
  node = await startNode({ blockTimeMs: 500 });
  // staticNetwork: skip ethers' chain-id probing on every request.
  provider = new JsonRpcProvider(node.rpcUrl, network, { staticNetwork: network, pollingInterval: 100 });
  alice = new Wallet(DEV_KEYS[0], provider);
  bob = new Wallet(DEV_KEYS[1], provider);
});

afterAll(async () => {
  try {
    await wsProvider?.destroy();
  } catch {
    // already closed
  }
  provider?.destroy();
  await node?.stop();
  await cleanupAll();
});

describe("ethers v6 against the node", () => {
  it("reports chain id 7331", async () => {
    const net = await provider._detectNetwork();
    expect(net.chainId).toBe(BigInt(MERIDIAN_CHAIN_ID));
  });

  it("deploys the ERC-20 with ContractFactory", async () => {
    const factory = new ContractFactory(token.abi as never, token.bytecode, alice);
    const deployed = await factory.deploy("Meridian Token", "MRD", SUPPLY);
    const receipt = await deployed.deploymentTransaction()!.wait(1, 30_000);
    expect(receipt?.status).toBe(1);
    tokenAddress = await deployed.getAddress();
    expect(receipt?.contractAddress).toBe(tokenAddress);
    tokenC = deployed as unknown as Contract;
    expect(await fn(tokenC, "name")()).toBe("Meridian Token");
    expect(await fn(tokenC, "symbol")()).toBe("MRD");
    expect(await fn(tokenC, "decimals")()).toBe(18n);
    expect(await fn(tokenC, "totalSupply")()).toBe(SUPPLY);
    expect(await fn(tokenC, "balanceOf")(alice.address)).toBe(SUPPLY);
  });

  it("estimates gas, transfers, waits and queries Transfer with queryFilter", async () => {
    const amount = 500n * 10n ** 18n;
    const est = (await fn(tokenC, "transfer").estimateGas(bob.address, amount)) as bigint;
    expect(est).toBeGreaterThan(21_000n);
    expect(est).toBeLessThan(100_000n);

    const tx = (await fn(tokenC, "transfer")(bob.address, amount)) as ContractTransactionResponse;
    const receipt = await tx.wait(1, 30_000);
    expect(receipt?.status).toBe(1);
    expect(receipt!.gasUsed).toBeLessThanOrEqual(est);
    expect(await fn(tokenC, "balanceOf")(bob.address)).toBe(amount);

    const events = (await tokenC.queryFilter(
      tokenC.filters.Transfer(alice.address, bob.address),
      receipt!.blockNumber,
      receipt!.blockNumber,
    )) as EventLog[];
    expect(events).toHaveLength(1);
    expect(events[0].transactionHash).toBe(tx.hash);
    expect(events[0].blockHash).toBe(receipt!.blockHash);
    expect(events[0].args.toArray()).toEqual([alice.address, bob.address, amount]);

    const all = (await tokenC.queryFilter("Transfer", 0, "latest")) as EventLog[];
    // mint + this transfer
    expect(all.map((e) => e.args[2])).toEqual([SUPPLY, amount]);
  });

  it('receives contract.on("Transfer") over WebSocketProvider for a transfer sent after subscribing', async () => {
    wsProvider = new WebSocketProvider(node.wsUrl, network, { staticNetwork: network });
    const wsToken = tokenC.connect(wsProvider) as Contract;
    const seen: { from: string; to: string; value: bigint; hash: string }[] = [];
    await wsToken.on(
      "Transfer",
      (from: string, to: string, value: bigint, ev: { log: { transactionHash: string } }) => {
        seen.push({ from, to, value, hash: ev.log.transactionHash });
      },
    );
    try {
      // ethers installs the eth_subscribe lazily; send until one arrives (normally the first).
      const hashes: string[] = [];
      const hit = await waitUntil(
        "ethers WebSocket Transfer event",
        async () => {
          const tx = (await fn(tokenC, "transfer")(bob.address, 42n)) as ContractTransactionResponse;
          hashes.push(tx.hash);
          await tx.wait(1, 30_000);
          await new Promise((r) => setTimeout(r, 200));
          return seen.find((s) => hashes.includes(s.hash));
        },
        30_000,
        0,
      );
      expect(hit).toMatchObject({ from: alice.address, to: bob.address, value: 42n });
    } finally {
      await wsToken.removeAllListeners();
    }
  });

  it("surfaces the revert reason of fail() via error.reason / error.revert", async () => {
    const err = (await fn(tokenC, "fail")
      .staticCall()
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; reason?: string; revert?: { name: string; args: unknown[] } } | undefined;
    expect(err).toBeDefined();
    expect(err!.code).toBe("CALL_EXCEPTION");
    expect(err!.reason).toBe("always fails");
    expect(err!.revert?.name).toBe("Error");
    expect(err!.revert?.args).toEqual(["always fails"]);

    const estErr = (await fn(tokenC, "fail")
      .estimateGas()
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { reason?: string } | undefined;
    expect(estErr?.reason).toBe("always fails");
  });

  it("surfaces the ERC20 balance message for an over-balance transfer", async () => {
    const stranger = Wallet.createRandom().connect(provider);
    const asStranger = tokenC.connect(stranger) as Contract;
    const err = (await fn(asStranger, "transfer")
      .staticCall(bob.address, 1n)
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { reason?: string } | undefined;
    expect(err?.reason).toBe("ERC20: transfer amount exceeds balance");
  });

  it("sends a plain ETH transfer and balances add up", async () => {
    // Any dev account would do: the devnet's fee recipient is its own validator key, none of them.
    const payer = new Wallet(DEV_KEYS[7], provider);
    const to = Wallet.createRandom().address;
    const before = await provider.getBalance(payer.address);
    const value = parseEther("1");
    const tx = await payer.sendTransaction({ to, value });
    const receipt = await tx.wait(1, 30_000);
    expect(receipt?.status).toBe(1);
    expect(receipt!.gasUsed).toBe(21_000n);
    expect(await provider.getBalance(to)).toBe(value);
    const after = await provider.getBalance(payer.address);
    expect(before - after).toBe(value + receipt!.gasUsed * receipt!.gasPrice);

    const fetched = await provider.getTransaction(tx.hash);
    expect(fetched?.chainId).toBe(BigInt(MERIDIAN_CHAIN_ID));
    expect(fetched?.type).toBe(2);
    const block = await provider.getBlock(receipt!.blockHash);
    expect(block?.number).toBe(receipt!.blockNumber);
    expect(block?.transactions).toContain(tx.hash);
    expect(block?.baseFeePerGas).toBeTypeOf("bigint");
  });

  it("reports fee data and pending nonce", async () => {
    const fee = await provider.getFeeData();
    expect(fee.maxFeePerGas).toBeTypeOf("bigint");
    expect(fee.maxPriorityFeePerGas).toBeTypeOf("bigint");
    const latest = await provider.getTransactionCount(alice.address, "latest");
    const pending = await provider.getTransactionCount(alice.address, "pending");
    expect(pending).toBeGreaterThanOrEqual(latest);
  });
});
