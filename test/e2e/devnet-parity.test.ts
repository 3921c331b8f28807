/**
 * The devnet behaves like the local chains frameworks expect: fees go to a
 * validator that is none of the dev accounts, the CREATE2 deployer and
 * Multicall3 are at their usual addresses (forge's `new C{salt: …}` and viem's
 * `multicall` work on a fresh chain), receipts carry `blockTimestamp`, and the
 * keyless (pre-EIP-155) deployer deployment is refused unless the operator
 * opts in with `--rpc.allow-unprotected-txs`.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  getContractAddress,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  pad,
  parseAbi,
  parseEther,
  parseGwei,
  type Transport,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { runForge, writeSolcShim } from "../helpers/forge.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, rpcRaw, waitForBlock } from "../helpers/rpc.ts";
import { makeTempDir } from "../helpers/tmp.ts";

const DEVNET_VALIDATOR: Address = "0x6D58073AeeB28068c5925D618DA9f4c4F35727b3";
const STAKING_ADDRESS = "0x0000000000000000000000000000000000001000";
const CREATE2_DEPLOYER: Address = "0x4e59b44847b379578588920cA78FbF26c0B4956C";
const MULTICALL3: Address = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** keccak256 of Multicall3's deployed code, as published for 0xcA11…CA11 on every chain. */
const MULTICALL3_CODE_HASH = "0xd5c15df687b16f2ff992fc8d767b4216323184a2bbc6ee2f9c398c318e770891";
/** keccak256 of the deterministic-deployment-proxy's runtime code. */
const CREATE2_DEPLOYER_CODE_HASH = "0x2fa86add0aed31f33a762c9d88e807c475bd51d0f52bd0955754b2608f7e4989";
/**
 * The published keyless deployment of the CREATE2 deployer
 * (github.com/Arachnid/deterministic-deployment-proxy): legacy, v = 27, no chain id,
 * gas price 100 gwei, gas 100,000, from the one-time signer below.
 */
const KEYLESS_DEPLOYMENT_TX: Hex =
  "0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222222222a02222222222222222222222222222222222222222222222222222222222222222";
const KEYLESS_SIGNER: Address = "0x3fAB184622Dc19b6109349B94811493BF2a45362";
const KEYLESS_COST = parseGwei("100") * 100_000n;
/** Multicall3's block-info views (viem's multicall3Abi lists only what viem itself calls). */
const multicall3Views = parseAbi([
  "function getChainId() view returns (uint256)",
  "function getEthBalance(address) view returns (uint256)",
  "function getBlockNumber() view returns (uint256)",
]);

type GenesisJson = {
  validators: { address: string }[];
  alloc: Record<string, { balance: string; code?: Hex; nonce?: string }>;
};
const GENESIS_FILE = join(REPO_ROOT, "genesis", "devnet.json");
const genesis = JSON.parse(readFileSync(GENESIS_FILE, "utf8")) as GenesisJson;

type RawReceipt = {
  blockNumber: Hex;
  blockHash: Hex;
  blockTimestamp?: Hex;
  gasUsed: Hex;
  effectiveGasPrice: Hex;
  status: Hex;
  contractAddress: Hex | null;
};

function chainFor(node: NodeHandle): Chain {
  return defineChain({
    id: MERIDIAN_CHAIN_ID,
    name: "Meridian devnet",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [node.rpcUrl] } },
    contracts: { multicall3: { address: MULTICALL3, blockCreated: 0 } },
  });
}

function walletFor(node: NodeHandle, key: Hex) {
  return createWalletClient({
    chain: chainFor(node),
    transport: http(node.rpcUrl),
    account: privateKeyToAccount(key),
  });
}

function genesisCode(address: Address): Hex | undefined {
  const entry = Object.entries(genesis.alloc).find(([a]) => a.toLowerCase() === address.toLowerCase());
  return entry?.[1].code;
}

describe("devnet defaults (real node)", () => {
  let node: NodeHandle;
  let pub: PublicClient<Transport, Chain>;

  beforeAll(async () => {
    node = await startMeridian({ blockTimeMs: 500 });
    pub = createPublicClient({ chain: chainFor(node), transport: http(node.rpcUrl), pollingInterval: 100 });
  });

  afterAll(async () => {
    await node?.stop();
    await cleanupAll();
  });

  it("pays fees to the staking contract, which credits them to a validator that is none of the dev accounts", async () => {
    const payer = privateKeyToAccount(DEV_KEYS[0] as Hex);
    const value = parseEther("1");
    const hash = await walletFor(node, DEV_KEYS[0] as Hex).sendTransaction({
      to: privateKeyToAccount(generatePrivateKey()).address,
      value,
      maxPriorityFeePerGas: parseGwei("2"),
      maxFeePerGas: parseGwei("10"),
    });
    const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    const n = receipt.blockNumber;
    const block = await pub.getBlock({ blockNumber: n });
    // Proof of stake: the fee recipient is the staking contract (as Bor's blocks do not name
    // their signer either); meridian_getCommit names the proposer.
    expect(block.miner.toLowerCase()).toBe(STAKING_ADDRESS);
    const commit = await rpc<{ proposer: string }>(node.rpcUrl, "meridian_getCommit", [
      `0x${n.toString(16)}`,
    ]);
    expect(commit.proposer.toLowerCase()).toBe(DEVNET_VALIDATOR.toLowerCase());

    // The payer loses exactly value + gasUsed * effectiveGasPrice: no tip comes back to it.
    const payerBefore = await pub.getBalance({ address: payer.address, blockNumber: n - 1n });
    const payerAfter = await pub.getBalance({ address: payer.address, blockNumber: n });
    expect(payerBefore - payerAfter).toBe(value + receipt.gasUsed * receipt.effectiveGasPrice);

    // The contract gains the tips of every transaction in the block and the block's issuance.
    const receipts = await rpc<RawReceipt[]>(node.rpcUrl, "eth_getBlockReceipts", [`0x${n.toString(16)}`]);
    const baseFee = block.baseFeePerGas ?? 0n;
    const tips = receipts.reduce(
      (sum, r) => sum + BigInt(r.gasUsed) * (BigInt(r.effectiveGasPrice) - baseFee),
      0n,
    );
    expect(tips).toBeGreaterThanOrEqual(receipt.gasUsed * parseGwei("2"));
    const contractBefore = await pub.getBalance({ address: STAKING_ADDRESS, blockNumber: n - 1n });
    const contractAfter = await pub.getBalance({ address: STAKING_ADDRESS, blockNumber: n });
    expect(contractAfter - contractBefore).toBe(tips + parseEther("0.1"));
    // The next block splits them: the only validator's pending rewards grow by at least the tips.
    await waitForBlock(node.rpcUrl, n + 1n);
    const pending = (at: bigint) =>
      rpc<{ pendingRewards: string }>(node.rpcUrl, "meridian_getStakingInfo", [
        DEVNET_VALIDATOR,
        `0x${at.toString(16)}`,
      ]);
    const gained = BigInt((await pending(n + 1n)).pendingRewards) - BigInt((await pending(n)).pendingRewards);
    expect(gained).toBeGreaterThanOrEqual(tips);
  });

  it("puts blockTimestamp on receipts, equal to the block's timestamp", async () => {
    const hash = await walletFor(node, DEV_KEYS[1] as Hex).sendTransaction({
      to: privateKeyToAccount(generatePrivateKey()).address,
      value: 1n,
    });
    const { blockNumber } = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    const raw = await rpc<RawReceipt>(node.rpcUrl, "eth_getTransactionReceipt", [hash]);
    const block = await pub.getBlock({ blockNumber });
    expect(raw.blockTimestamp).toBe(`0x${block.timestamp.toString(16)}`);
    const inBlock = await rpc<RawReceipt[]>(node.rpcUrl, "eth_getBlockReceipts", [raw.blockHash]);
    for (const r of inBlock) expect(r.blockTimestamp).toBe(raw.blockTimestamp);
  });

  it("has the CREATE2 deployer and Multicall3 with their published code", async () => {
    for (const [address, codeHash] of [
      [CREATE2_DEPLOYER, CREATE2_DEPLOYER_CODE_HASH],
      [MULTICALL3, MULTICALL3_CODE_HASH],
    ] as const) {
      const code = await pub.getCode({ address, blockNumber: 0n });
      expect(code && keccak256(code)).toBe(codeHash);
      expect(code).toBe(genesisCode(address));
    }
  });

  it("viem multicall works on a fresh devnet", async () => {
    const [dev0] = DEV_KEYS.map((k) => privateKeyToAccount(k).address);
    const results = await pub.multicall({
      allowFailure: false,
      contracts: [
        { address: MULTICALL3, abi: multicall3Views, functionName: "getChainId" },
        { address: MULTICALL3, abi: multicall3Views, functionName: "getEthBalance", args: [dev0 as Address] },
        { address: MULTICALL3, abi: multicall3Views, functionName: "getBlockNumber" },
      ],
    });
    expect(results[0]).toBe(BigInt(MERIDIAN_CHAIN_ID));
    expect(results[1]).toBe(await pub.getBalance({ address: dev0 as Address }));
    expect(results[2]).toBeGreaterThanOrEqual(1n);
  });

  it("forge script deploys `new C{salt: …}` through the CREATE2 deployer", async () => {
    const dir = await makeTempDir("meridian-forge-");
    await mkdir(join(dir, "src"));
    await mkdir(join(dir, "script"));
    const solc = await writeSolcShim(dir);
    await writeFile(
      join(dir, "foundry.toml"),
      `[profile.default]\nsrc = "src"\nscript = "script"\nout = "out"\nlibs = []\nsolc = "${solc}"\noffline = true\nevm_version = "cancun"\n`,
    );
    await writeFile(
      join(dir, "src", "Answer.sol"),
      "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.20;\ncontract Answer { uint256 public value = 42; }\n",
    );
    await writeFile(
      join(dir, "script", "Deploy.s.sol"),
      `// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
import {Answer} from "../src/Answer.sol";
interface Vm { function startBroadcast() external; function stopBroadcast() external; }
contract Deploy {
  Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
  function run() external returns (address) {
    vm.startBroadcast();
    Answer a = new Answer{salt: bytes32(uint256(7))}();
    vm.stopBroadcast();
    return address(a);
  }
}
`,
    );
    const forge = await runForge(
      [
        "script",
        "script/Deploy.s.sol:Deploy",
        "--rpc-url",
        node.rpcUrl,
        "--private-key",
        DEV_KEYS[2] as Hex,
        "--broadcast",
      ],
      dir,
    );
    expect(forge.code, `${forge.stdout}\n${forge.stderr}`).toBe(0);
    expect(forge.stdout).toContain("ONCHAIN EXECUTION COMPLETE & SUCCESSFUL");

    const run = JSON.parse(
      await readFile(
        join(dir, "broadcast", "Deploy.s.sol", String(MERIDIAN_CHAIN_ID), "run-latest.json"),
        "utf8",
      ),
    ) as {
      transactions: { transactionType: string; contractAddress: Hex; transaction: { to: Hex } }[];
      receipts: { status: Hex }[];
    };
    const [tx] = run.transactions;
    expect(tx?.transactionType).toBe("CREATE2");
    expect(tx?.transaction.to.toLowerCase()).toBe(CREATE2_DEPLOYER.toLowerCase());
    expect(run.receipts[0]?.status).toBe("0x1");

    const artifact = JSON.parse(await readFile(join(dir, "out", "Answer.sol", "Answer.json"), "utf8")) as {
      bytecode: { object: Hex };
    };
    const expected = getContractAddress({
      opcode: "CREATE2",
      from: CREATE2_DEPLOYER,
      salt: pad("0x07"),
      bytecode: artifact.bytecode.object,
    });
    expect(tx?.contractAddress.toLowerCase()).toBe(expected.toLowerCase());
    const answer = await pub.readContract({
      address: expected,
      abi: [
        {
          type: "function",
          name: "value",
          stateMutability: "view",
          inputs: [],
          outputs: [{ type: "uint256" }],
        },
      ],
      functionName: "value",
    });
    expect(answer).toBe(42n);
  }, 180_000);

  it("refuses the keyless (pre-EIP-155) deployment transaction by default", async () => {
    const res = await rpcRaw(node.rpcUrl, "eth_sendRawTransaction", [KEYLESS_DEPLOYMENT_TX]);
    expect(res.error?.message).toBe("only replay-protected (EIP-155) transactions allowed over RPC");
    expect(await rpc(node.rpcUrl, "eth_getTransactionByHash", [keccak256(KEYLESS_DEPLOYMENT_TX)])).toBeNull();
  });
});

describe("--rpc.allow-unprotected-txs on a genesis without the predeploys (real node)", () => {
  let node: NodeHandle;

  beforeAll(async () => {
    // An operator's genesis may leave the predeploys out; the keyless deployment then puts the deployer there.
    const dir = await makeTempDir("meridian-genesis-");
    const alloc = Object.fromEntries(
      Object.entries(genesis.alloc).filter(
        ([a]) =>
          a.toLowerCase() !== CREATE2_DEPLOYER.toLowerCase() && a.toLowerCase() !== MULTICALL3.toLowerCase(),
      ),
    );
    const file = join(dir, "genesis.json");
    await writeFile(file, JSON.stringify({ ...genesis, alloc }, null, 2));
    node = await startMeridian({
      blockTimeMs: 500,
      extraArgs: ["--genesis", file, "--rpc.allow-unprotected-txs"],
    });
  });

  afterAll(async () => {
    await node?.stop();
    await cleanupAll();
  });

  it("accepts the keyless deployment, which deploys exactly the predeployed code", async () => {
    const pub = createPublicClient({
      chain: chainFor(node),
      transport: http(node.rpcUrl),
      pollingInterval: 100,
    });
    expect(await pub.getCode({ address: CREATE2_DEPLOYER })).toBeUndefined();
    const fund = await walletFor(node, DEV_KEYS[3] as Hex).sendTransaction({
      to: KEYLESS_SIGNER,
      value: KEYLESS_COST,
    });
    await pub.waitForTransactionReceipt({ hash: fund, timeout: 30_000 });

    const hash = await rpc<Hex>(node.rpcUrl, "eth_sendRawTransaction", [KEYLESS_DEPLOYMENT_TX]);
    expect(hash).toBe(keccak256(KEYLESS_DEPLOYMENT_TX));
    const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    expect(receipt.from.toLowerCase()).toBe(KEYLESS_SIGNER.toLowerCase());
    expect(receipt.contractAddress?.toLowerCase()).toBe(CREATE2_DEPLOYER.toLowerCase());
    const code = await pub.getCode({ address: CREATE2_DEPLOYER });
    expect(code).toBe(genesisCode(CREATE2_DEPLOYER));
    expect(code && keccak256(code)).toBe(CREATE2_DEPLOYER_CODE_HASH);
  });
});
