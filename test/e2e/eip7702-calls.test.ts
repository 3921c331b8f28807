/**
 * EIP-7702 through every call path (issue 15), on a real node: eth_call, eth_estimateGas and
 * eth_createAccessList take an authorizationList and execute it as the type-4 transaction
 * would, so viem and cast can send set-code transactions without hand-set gas. Blob hashes
 * (type 3) are taken too.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { createPublicClient, createWalletClient, type Hex, http, numberToHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, meridianChain } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, rpcRaw, waitUntil } from "../helpers/rpc.ts";

const run = promisify(execFile);
const CAST = join(REPO_ROOT, "node_modules", ".bin", "cast");

/** Runtime code that returns the word 42: PUSH1 42; PUSH1 0; MSTORE; PUSH1 32; PUSH1 0; RETURN. */
const ANSWER_RUNTIME = "602a60005260206000f3";
const ANSWER_INIT: Hex = `0x600a600c600039600a6000f3${ANSWER_RUNTIME}`;
const WORD_42 = `0x${"2a".padStart(64, "0")}`;

let node: NodeHandle;
let delegate: Hex;

const sponsor = privateKeyToAccount(DEV_KEYS[7] as Hex);

async function receiptOf(hash: Hex): Promise<{ status: Hex; contractAddress: Hex | null }> {
  return waitUntil("receipt", () =>
    rpc<{ status: Hex; contractAddress: Hex | null } | null>(node.rpcUrl, "eth_getTransactionReceipt", [
      hash,
    ]).then((r) => r ?? undefined),
  );
}

function wallet() {
  return createWalletClient({
    account: sponsor,
    chain: meridianChain(node.rpcUrl, node.wsUrl),
    transport: http(node.rpcUrl),
  });
}

beforeAll(async () => {
  node = await startMeridian({ blockTimeMs: 250 });
  const deploy = await wallet().sendTransaction({ data: ANSWER_INIT, gas: 100_000n });
  delegate = (await receiptOf(deploy)).contractAddress as Hex;
});

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

describe("EIP-7702 in eth_call / eth_estimateGas / eth_createAccessList", () => {
  it("eth_call applies the authorization and runs the delegation code", async () => {
    const authority = privateKeyToAccount(generatePrivateKey());
    const auth = await wallet().signAuthorization({ account: authority, contractAddress: delegate });
    const authorizationList = [
      {
        chainId: `0x${auth.chainId.toString(16)}`,
        address: auth.address,
        nonce: `0x${auth.nonce.toString(16)}`,
        yParity: `0x${(auth.yParity ?? 0).toString(16)}`,
        // Quantities, as viem sends them and geth's hexutil.U256 requires: a 32-byte padded
        // r or s with a leading zero nibble (one signature in eight) is refused by both.
        r: numberToHex(BigInt(auth.r)),
        s: numberToHex(BigInt(auth.s)),
      },
    ];
    const call = { from: sponsor.address, to: authority.address, authorizationList };
    expect(await rpc<Hex>(node.rpcUrl, "eth_call", [call, "latest"])).toBe(WORD_42);
    // Without the authorization the authority is a plain account: empty return.
    expect(
      await rpc<Hex>(node.rpcUrl, "eth_call", [{ from: sponsor.address, to: authority.address }, "latest"]),
    ).toBe("0x");
    // The estimate pays for the authorization (25,000 per tuple on an empty account).
    const gas = BigInt(await rpc<string>(node.rpcUrl, "eth_estimateGas", [call, "latest"]));
    expect(gas).toBeGreaterThan(21_000n + 25_000n);
    const al = await rpc<{ gasUsed: string; error?: string }>(node.rpcUrl, "eth_createAccessList", [
      call,
      "latest",
    ]);
    expect(al.error).toBeUndefined();
    expect(BigInt(al.gasUsed)).toBeGreaterThan(21_000n + 12_500n);
  });

  it("eth_call and eth_estimateGas take blob hashes and run as a type-3 transaction", async () => {
    const hash = `0x01${"ab".repeat(31)}`;
    const reader = `0x${"b0".repeat(20)}`;
    // PUSH1 0; BLOBHASH; PUSH1 0; MSTORE; PUSH1 32; PUSH1 0; RETURN
    const overrides = { [reader]: { code: "0x60004960005260206000f3" } };
    const call = { to: reader, blobVersionedHashes: [hash] };
    expect(await rpc<Hex>(node.rpcUrl, "eth_call", [call, "latest", overrides])).toBe(hash);
    expect(
      BigInt(await rpc<string>(node.rpcUrl, "eth_estimateGas", [call, "latest", overrides])),
    ).toBeGreaterThan(21_000n);
  });

  it("rejects an authorization list on a contract creation", async () => {
    const r = await rpcRaw(node.rpcUrl, "eth_call", [{ to: null, authorizationList: [] }, "latest"]);
    expect(r.error?.code).toBe(-32602);
  });

  it("viem signAuthorization + sendTransaction (no hand-set gas) sets the delegation", async () => {
    const authority = privateKeyToAccount(generatePrivateKey());
    const client = wallet();
    const authorization = await client.signAuthorization({ account: authority, contractAddress: delegate });
    const hash = await client.sendTransaction({ to: authority.address, authorizationList: [authorization] });
    expect(BigInt((await receiptOf(hash)).status)).toBe(1n);
    const publicClient = createPublicClient({ transport: http(node.rpcUrl) });
    expect(await publicClient.getCode({ address: authority.address })).toBe(`0xef0100${delegate.slice(2)}`);
    // Calls to the authority now run the delegate's code.
    expect(await rpc<Hex>(node.rpcUrl, "eth_call", [{ to: authority.address }, "latest"])).toBe(WORD_42);
  });

  it("cast send --auth sets the delegation", async () => {
    const key = DEV_KEYS[8] as Hex;
    const self = privateKeyToAccount(key).address;
    const { stdout } = await run(
      CAST,
      ["send", "--private-key", key, "--rpc-url", node.rpcUrl, "--json", "--auth", delegate, self],
      { timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } },
    );
    const receipt = JSON.parse(stdout) as { status: string };
    expect(BigInt(receipt.status)).toBe(1n);
    const code = await rpc<Hex>(node.rpcUrl, "eth_getCode", [self, "latest"]);
    expect(code.toLowerCase()).toBe(`0xef0100${delegate.slice(2)}`.toLowerCase());
  });
});
