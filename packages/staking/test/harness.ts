// A real anvil (Prague rules, automine, zero fees so balances move only through the contract) and
// viem clients around the staking contract.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Address,
  BaseError,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicClient,
  type TestClient,
  type WalletClient,
} from "viem";
import {
  type GenesisValidator,
  genesisStorage,
  STAKING_ADDRESS,
  type StakingParams,
  SYSTEM_ADDRESS,
  stakingAbi,
  stakingBytecode,
  stakingDeployedBytecode,
} from "../src/index.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const ETHER = 10n ** 18n;

function anvilBinary(): string {
  const scope = join(REPO_ROOT, "node_modules", "@foundry-rs");
  for (const entry of readdirSync(scope)) {
    const candidate = join(scope, entry, "bin", "anvil");
    if (entry.startsWith("anvil-") && existsSync(candidate)) return candidate;
  }
  return join(REPO_ROOT, "node_modules", ".bin", "anvil");
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

type StakingFn = ContractFunctionName<typeof stakingAbi, "nonpayable" | "payable">;
type ViewFn = ContractFunctionName<typeof stakingAbi, "view" | "pure">;

export type Anvil = {
  proc: ChildProcess;
  rpcUrl: string;
  publicClient: PublicClient;
  testClient: TestClient;
  walletClient: WalletClient;
  accounts: Address[];
  stop(): Promise<void>;
};

export async function startAnvil(accountCount = 20): Promise<Anvil> {
  const port = await freePort();
  const args = [
    ["--host", "127.0.0.1"],
    ["--port", String(port)],
    ["--hardfork", "prague"],
    ["--accounts", String(accountCount)],
    ["--balance", "1000000"],
    ["--base-fee", "0"],
    ["--gas-price", "0"],
    ["--chain-id", "7331"],
  ].flat();
  const proc = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  proc.stdout?.on("data", (c: Buffer) => {
    output = (output + c.toString()).slice(-20_000);
  });
  proc.stderr?.on("data", (c: Buffer) => {
    output = (output + c.toString()).slice(-20_000);
  });
  const rpcUrl = `http://127.0.0.1:${port}`;
  const chain = defineChain({
    id: 7331,
    name: "anvil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await publicClient.getChainId();
      break;
    } catch (err) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`anvil did not start: ${String(err)}\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const testClient = createTestClient({ chain, transport, mode: "anvil" });
  const walletClient = createWalletClient({ chain, transport });
  const accounts = (await walletClient.getAddresses()).slice();
  await testClient.impersonateAccount({ address: SYSTEM_ADDRESS });
  return {
    proc,
    rpcUrl,
    publicClient,
    testClient,
    walletClient,
    accounts,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

/** A staking contract instance on anvil with typed helpers. */
export class StakingHarness {
  readonly anvil: Anvil;
  readonly address: Address;
  /** The deployment transaction, where deployed through the constructor. */
  readonly deployHash: Hex | null;

  constructor(anvil: Anvil, address: Address, deployHash: Hex | null = null) {
    this.anvil = anvil;
    this.address = address;
    this.deployHash = deployHash;
  }

  /** Sends a transaction (zero fees) and waits for its successful receipt. */
  async send<F extends StakingFn>(
    from: Address,
    functionName: F,
    args: ContractFunctionArgs<typeof stakingAbi, "nonpayable" | "payable", F>,
    value = 0n,
  ) {
    const { publicClient, walletClient } = this.anvil;
    const hash = await walletClient.writeContract({
      chain: walletClient.chain,
      account: from,
      address: this.address,
      abi: stakingAbi,
      functionName,
      args,
      value,
      maxFeePerGas: 0n,
      maxPriorityFeePerGas: 0n,
      gas: 10_000_000n,
    } as never);
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    if (receipt.status !== "success") throw new Error(`${functionName} reverted in ${hash}`);
    return receipt;
  }

  /** A system call (impersonated SYSTEM_ADDRESS). */
  system<F extends "distributeRewards" | "recordMissed" | "slash" | "endEpoch">(
    functionName: F,
    args: ContractFunctionArgs<typeof stakingAbi, "nonpayable", F>,
  ) {
    return this.send(SYSTEM_ADDRESS, functionName, args as never);
  }

  /** The custom error name a call would revert with (eth_call from `from`), or null if it succeeds. */
  async revertOf<F extends StakingFn>(
    from: Address,
    functionName: F,
    args: ContractFunctionArgs<typeof stakingAbi, "nonpayable" | "payable", F>,
    value = 0n,
  ): Promise<{ errorName: string; args: readonly unknown[] } | null> {
    try {
      await this.anvil.publicClient.simulateContract({
        account: from,
        address: this.address,
        abi: stakingAbi,
        functionName,
        args,
        value,
      } as never);
      return null;
    } catch (err) {
      if (err instanceof BaseError) {
        const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
        if (reverted instanceof ContractFunctionRevertedError && reverted.data) {
          return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
        }
      }
      throw err;
    }
  }

  read<F extends ViewFn>(
    functionName: F,
    args?: ContractFunctionArgs<typeof stakingAbi, "view" | "pure", F>,
  ) {
    return this.anvil.publicClient.readContract({
      address: this.address,
      abi: stakingAbi,
      functionName,
      args,
    } as never) as Promise<import("viem").ContractFunctionReturnType<typeof stakingAbi, "view" | "pure", F>>;
  }

  balance(address: Address): Promise<bigint> {
    return this.anvil.publicClient.getBalance({ address });
  }

  /** Credits `amount` wei to the contract, as the node credits the per-block issuance. */
  async credit(amount: bigint): Promise<void> {
    const current = await this.balance(this.address);
    await this.anvil.testClient.setBalance({ address: this.address, value: current + amount });
  }
}

/** Deploys through the constructor: the state reached by real calls. */
export async function deployStaking(
  anvil: Anvil,
  params: StakingParams,
  validators: readonly GenesisValidator[],
): Promise<StakingHarness> {
  const stake = validators.reduce((s, v) => s + v.stake, 0n);
  const hash = await anvil.walletClient.deployContract({
    chain: anvil.walletClient.chain,
    account: anvil.accounts[0]!,
    abi: stakingAbi,
    bytecode: stakingBytecode,
    args: [params, validators],
    value: stake,
    maxFeePerGas: 0n,
    maxPriorityFeePerGas: 0n,
    gas: 15_000_000n,
  });
  const receipt = await anvil.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  if (receipt.status !== "success" || !receipt.contractAddress) throw new Error("staking deployment failed");
  return new StakingHarness(anvil, receipt.contractAddress, hash);
}

/** Installs code + genesisStorage + the staked balance at `address`: the state a genesis alloc gives. */
export async function installGenesis(
  anvil: Anvil,
  params: StakingParams,
  validators: readonly GenesisValidator[],
  address: Address = STAKING_ADDRESS,
): Promise<StakingHarness> {
  const { testClient } = anvil;
  await testClient.setCode({ address, bytecode: stakingDeployedBytecode });
  for (const [slot, value] of Object.entries(genesisStorage(params, validators))) {
    await testClient.setStorageAt({ address, index: slot as Hex, value: value as Hex });
  }
  await testClient.setBalance({ address, value: validators.reduce((s, v) => s + v.stake, 0n) });
  return new StakingHarness(anvil, address);
}

export const baseParams: StakingParams = {
  minStake: 10n * ETHER,
  powerUnit: ETHER,
  issuancePerBlock: 2n * ETHER,
  epochLength: 10n,
  unbondingEpochs: 2n,
  jailEpochs: 2n,
  downtimeWindow: 10n,
  maxValidators: 3,
  downtimeMaxMissedBps: 3_000,
  slashFractionBps: 1_000,
  proposerBonusBps: 1_000,
};
