/**
 * JSON-RPC methods on a real node process with real transactions (the rpc
 * package's own tests use an in-memory backend): eth_getProof verified against
 * block headers with @ethereumjs/mpt, eth_feeHistory against the blocks,
 * eth_createAccessList, eth_call state overrides, poll filters, txpool_content
 * and eth_getBlockReceipts. One node for the whole file; it makes blocks only
 * when there are transactions, so "latest" holds still between sends.
 */
import { verifyMerkleProof } from "@ethereumjs/mpt";
import {
  type Address,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  fromRlp,
  type Hex,
  hexToBigInt,
  hexToBytes,
  http,
  keccak256,
  numberToHex,
  type PublicClient,
  pad,
  parseGwei,
  type Transport,
  toHex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, MERIDIAN_CHAIN_ID } from "../helpers/chain.ts";
import { startMeridian } from "../helpers/meridian-process.ts";
import { cleanupAll, type NodeHandle } from "../helpers/process.ts";
import { rpc, rpcRaw } from "../helpers/rpc.ts";

/**
 * A contract whose constructor stores 42 in slot 0 and 7 in slot 5, and whose
 * code stores its first calldata word in slot 0 and logs it as topic 0:
 *   runtime: PUSH1 0 CALLDATALOAD DUP1 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 LOG1 STOP
 */
const STORE_AND_LOG_INIT: Hex = "0x602a6000556007600555600d8060156000396000f36000358060005560006000a100";
/** Returns the storage slot named by its first calldata word: SLOAD(CALLDATALOAD(0)). */
const SLOT_READER: Hex = "0x6000355460005260206000f3";
const MULTICALL3: Address = "0xcA11bde05977b3631167028862bE2a173976CA11";
const GET_ETH_BALANCE = "0x4d2301cc"; // getEthBalance(address)
const EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421";
const EMPTY_CODE_HASH = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
const TIP = parseGwei("3");

type StorageProof = { key: Hex; value: Hex; proof: Hex[] };
type AccountProof = {
  address: Hex;
  accountProof: Hex[];
  balance: Hex;
  codeHash: Hex;
  nonce: Hex;
  storageHash: Hex;
  storageProof: StorageProof[];
};
type RawBlock = {
  number: Hex;
  hash: Hex;
  stateRoot: Hex;
  baseFeePerGas: Hex;
  gasUsed: Hex;
  gasLimit: Hex;
  transactions: Hex[];
};
type RawLog = { address: Hex; topics: Hex[]; transactionHash: Hex; blockHash: Hex; blockNumber: Hex };
type FeeHistory = {
  oldestBlock: Hex;
  baseFeePerGas: Hex[];
  gasUsedRatio: number[];
  baseFeePerBlobGas: Hex[];
  blobGasUsedRatio: number[];
  reward?: Hex[][];
};

let node: NodeHandle;
let pub: PublicClient<Transport, Chain>;
let contract: Address;
let deployBlock: bigint;

const slot = (n: number): Hex => pad(toHex(n));
const word = (n: bigint | number): Hex => pad(toHex(n));
const q = (n: bigint): Hex => numberToHex(n);
/** An RLP integer: zero is the empty string. */
const rlpInt = (h: Hex | undefined): bigint => (h === undefined || h === "0x" ? 0n : hexToBigInt(h));

function wallet(index: number) {
  const chain = defineChain({
    id: MERIDIAN_CHAIN_ID,
    name: "Meridian devnet",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [node.rpcUrl] } },
  });
  return createWalletClient({
    chain,
    transport: http(node.rpcUrl),
    account: privateKeyToAccount(DEV_KEYS[index] as Hex),
  });
}

async function send(index: number, tx: { to?: Address; data?: Hex; value?: bigint; nonce?: number }) {
  return wallet(index).sendTransaction({
    ...tx,
    to: tx.to ?? null,
    maxPriorityFeePerGas: TIP,
    maxFeePerGas: parseGwei("20"),
  } as Parameters<ReturnType<typeof wallet>["sendTransaction"]>[0]);
}

async function mined(hash: Hex) {
  const receipt = await pub.waitForTransactionReceipt({ hash, timeout: 30_000, pollingInterval: 100 });
  expect(receipt.status).toBe("success");
  return receipt;
}

const getBlock = (tag: Hex | "latest") => rpc<RawBlock>(node.rpcUrl, "eth_getBlockByNumber", [tag, false]);

beforeAll(async () => {
  node = await startMeridian({ blockTimeMs: 300, extraArgs: ["--no-empty-blocks"] });
  pub = createPublicClient({ transport: http(node.rpcUrl), pollingInterval: 100 }) as PublicClient<
    Transport,
    Chain
  >;
  const receipt = await mined(await send(4, { data: STORE_AND_LOG_INIT }));
  contract = receipt.contractAddress as Address;
  deployBlock = receipt.blockNumber;
});

afterAll(async () => {
  await node?.stop();
  await cleanupAll();
});

/** Verifies an eth_getProof answer against `stateRoot`; returns the proven storage values by slot. */
async function verifyProof(p: AccountProof, stateRoot: Hex): Promise<Map<Hex, bigint>> {
  const account = await verifyMerkleProof(
    hexToBytes(p.address),
    p.accountProof.map((h) => hexToBytes(h)),
    {
      root: hexToBytes(stateRoot),
      useKeyHashing: true,
    },
  );
  if (account === null) {
    // A valid proof of absence: the fields are those of an empty account.
    expect([p.balance, p.nonce, p.codeHash, p.storageHash]).toEqual([
      "0x0",
      "0x0",
      EMPTY_CODE_HASH,
      EMPTY_TRIE_ROOT,
    ]);
  } else {
    const [nonce, balance, storageRoot, codeHash] = fromRlp(toHex(account), "hex") as Hex[];
    expect(rlpInt(nonce)).toBe(hexToBigInt(p.nonce));
    expect(rlpInt(balance)).toBe(hexToBigInt(p.balance));
    expect(storageRoot).toBe(p.storageHash);
    expect(codeHash).toBe(p.codeHash);
  }
  const values = new Map<Hex, bigint>();
  for (const s of p.storageProof) {
    if (p.storageHash === EMPTY_TRIE_ROOT) {
      // No storage trie: the empty root itself proves every slot is zero; there are no nodes.
      expect(s).toMatchObject({ value: "0x0", proof: [] });
      values.set(pad(s.key), 0n);
      continue;
    }
    const leaf = await verifyMerkleProof(
      hexToBytes(pad(s.key)),
      s.proof.map((h) => hexToBytes(h)),
      {
        root: hexToBytes(p.storageHash),
        useKeyHashing: true,
      },
    );
    const proven = leaf === null ? 0n : rlpInt(fromRlp(toHex(leaf), "hex") as Hex);
    expect(proven).toBe(hexToBigInt(s.value));
    values.set(pad(s.key), proven);
  }
  return values;
}

describe("eth_getProof (real node)", () => {
  it("account and storage proofs verify against the header's state root, at latest and at an older block", async () => {
    await mined(await send(4, { to: contract, data: word(0x99) }));
    const absent = privateKeyToAccount(generatePrivateKey()).address;
    const slots = [slot(0), slot(5), slot(1)];

    // latest: slot 0 was overwritten, slot 5 kept, slot 1 never written.
    const head = await getBlock("latest");
    const latest = await rpc<AccountProof>(node.rpcUrl, "eth_getProof", [contract, slots, "latest"]);
    expect(await getBlock("latest")).toEqual(head); // no block in between: "latest" was `head`
    const now = await verifyProof(latest, head.stateRoot);
    expect([...now.values()]).toEqual([0x99n, 7n, 0n]);
    expect(latest.storageHash).not.toBe(EMPTY_TRIE_ROOT);
    expect(latest.codeHash).toBe(keccak256((await pub.getCode({ address: contract })) as Hex));

    // The deployment block: the constructor's values, against that block's root.
    const old = await getBlock(q(deployBlock));
    const then = await verifyProof(
      await rpc<AccountProof>(node.rpcUrl, "eth_getProof", [contract, slots, q(deployBlock)]),
      old.stateRoot,
    );
    expect([...then.values()]).toEqual([42n, 7n, 0n]);

    // An account that does not exist, with a slot: proofs of absence.
    const none = await rpc<AccountProof>(node.rpcUrl, "eth_getProof", [absent, [slot(0)], "latest"]);
    expect((await verifyProof(none, head.stateRoot)).get(slot(0))).toBe(0n);
    expect(none.storageProof[0]?.proof).toEqual([]);

    // An externally owned account with a balance: proven balance and nonce.
    const payer = privateKeyToAccount(DEV_KEYS[4] as Hex).address;
    const eoa = await rpc<AccountProof>(node.rpcUrl, "eth_getProof", [payer, [], "latest"]);
    await verifyProof(eoa, head.stateRoot);
    expect(hexToBigInt(eoa.balance)).toBe(await pub.getBalance({ address: payer }));
    expect(Number(eoa.nonce)).toBe(2);

    // A proof checked against the wrong root must not verify.
    await expect(verifyProof(latest, old.stateRoot)).rejects.toThrow();
  });
});

describe("eth_feeHistory (real node)", () => {
  it("matches the blocks' base fees, gas ratios and tips", async () => {
    // Two more blocks of one transaction each, with a known tip (slot 0 keeps 0x99).
    for (const index of [5, 6]) await mined(await send(index, { to: contract, value: 1n, data: word(0x99) }));
    const newest = hexToBigInt((await getBlock("latest")).number);
    const count = 3n;
    const history = await rpc<FeeHistory>(node.rpcUrl, "eth_feeHistory", [q(count), q(newest), [10, 90]]);
    expect(history.oldestBlock).toBe(q(newest - count + 1n));
    expect(history.baseFeePerGas).toHaveLength(Number(count) + 1);
    expect(history.gasUsedRatio).toHaveLength(Number(count));
    expect(history.baseFeePerBlobGas).toHaveLength(Number(count) + 1);
    expect(history.blobGasUsedRatio).toEqual([0, 0, 0]);
    expect(history.reward).toHaveLength(Number(count));

    let last: RawBlock | undefined;
    for (let i = 0n; i < count; i++) {
      const block = await getBlock(q(newest - count + 1n + i));
      expect(history.baseFeePerGas[Number(i)]).toBe(block.baseFeePerGas);
      expect(history.gasUsedRatio[Number(i)]).toBeCloseTo(Number(block.gasUsed) / Number(block.gasLimit), 12);
      // One transaction per block here, each paying TIP: both percentiles are that tip.
      expect(block.transactions).toHaveLength(1);
      expect(history.reward?.[Number(i)]).toEqual([q(TIP), q(TIP)]);
      last = block;
    }
    // The extra entry is the base fee of the next block (EIP-1559, elasticity 2, denominator 8).
    const base = hexToBigInt(last?.baseFeePerGas ?? "0x0");
    const used = hexToBigInt(last?.gasUsed ?? "0x0");
    const target = hexToBigInt(last?.gasLimit ?? "0x0") / 2n;
    const next =
      used === target
        ? base
        : used > target
          ? base + (base * (used - target)) / target / 8n || 1n
          : base - (base * (target - used)) / target / 8n;
    expect(history.baseFeePerGas[Number(count)]).toBe(q(next));
  });
});

describe("eth_createAccessList (real node)", () => {
  it("lists the contract and the slot a call writes, with the gas used", async () => {
    const from = privateKeyToAccount(DEV_KEYS[4] as Hex).address;
    const result = await rpc<{ accessList: { address: Hex; storageKeys: Hex[] }[]; gasUsed: Hex }>(
      node.rpcUrl,
      "eth_createAccessList",
      [{ from, to: contract, data: word(0x55) }, "latest"],
    );
    expect(result.accessList).toEqual([{ address: contract.toLowerCase(), storageKeys: [slot(0)] }]);
    expect(hexToBigInt(result.gasUsed)).toBeGreaterThan(21_000n);
    // Nothing was written.
    expect(await pub.getStorageAt({ address: contract, slot: slot(0) })).toBe(word(0x99));
  });
});

describe("eth_call with state overrides (real node)", () => {
  const call = (to: Address, data: Hex, overrides?: Record<string, unknown>) =>
    rpc<Hex>(
      node.rpcUrl,
      "eth_call",
      overrides ? [{ to, data }, "latest", overrides] : [{ to, data }, "latest"],
    );

  it("overrides balance", async () => {
    const who = privateKeyToAccount(generatePrivateKey()).address;
    const data = `${GET_ETH_BALANCE}${pad(who).slice(2)}` as Hex;
    expect(await call(MULTICALL3, data)).toBe(word(0));
    expect(await call(MULTICALL3, data, { [who]: { balance: "0x1234" } })).toBe(word(0x1234));
  });

  it("overrides code", async () => {
    const empty = privateKeyToAccount(generatePrivateKey()).address;
    expect(await call(empty, slot(0))).toBe("0x");
    // The reader's own storage is empty: slot 0 reads zero, as a 32-byte word.
    expect(await call(empty, slot(0), { [empty]: { code: SLOT_READER } })).toBe(word(0));
  });

  it("state replaces the whole storage, stateDiff patches single slots", async () => {
    const state = { [contract]: { code: SLOT_READER, state: { [slot(0)]: word(0x77) } } };
    expect(await call(contract, slot(0), state)).toBe(word(0x77));
    expect(await call(contract, slot(5), state)).toBe(word(0)); // gone with the rest of the storage
    const diff = { [contract]: { code: SLOT_READER, stateDiff: { [slot(0)]: word(0x77) } } };
    expect(await call(contract, slot(0), diff)).toBe(word(0x77));
    expect(await call(contract, slot(5), diff)).toBe(word(7)); // untouched
    // Overrides are per call: the chain still holds what the transactions wrote.
    expect(await pub.getStorageAt({ address: contract, slot: slot(0) })).toBe(word(0x99));
  });
});

describe("poll filters (real node)", () => {
  it("newFilter, newBlockFilter and newPendingTransactionFilter report changes once; uninstallFilter removes them", async () => {
    const logFilter = await rpc<Hex>(node.rpcUrl, "eth_newFilter", [{ address: contract }]);
    const blockFilter = await rpc<Hex>(node.rpcUrl, "eth_newBlockFilter");
    const pendingFilter = await rpc<Hex>(node.rpcUrl, "eth_newPendingTransactionFilter");
    const changes = <T>(id: Hex) => rpc<T[]>(node.rpcUrl, "eth_getFilterChanges", [id]);
    expect(await changes(logFilter)).toEqual([]);
    expect(await changes(blockFilter)).toEqual([]);

    const hash = await send(7, { to: contract, data: word(0xabc) });
    const receipt = await mined(hash);

    expect(await changes<Hex>(pendingFilter)).toContain(hash);
    expect(await changes<Hex>(blockFilter)).toContain(receipt.blockHash);
    const logs = await changes<RawLog>(logFilter);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      address: contract.toLowerCase(),
      topics: [word(0xabc)],
      transactionHash: hash,
      blockHash: receipt.blockHash,
    });
    // Changes are reported once; the filter's logs stay queryable.
    expect(await changes(logFilter)).toEqual([]);
    expect(await changes(blockFilter)).toEqual([]);
    expect(await rpc<RawLog[]>(node.rpcUrl, "eth_getFilterLogs", [logFilter])).toEqual(logs);

    for (const id of [logFilter, blockFilter, pendingFilter]) {
      expect(await rpc(node.rpcUrl, "eth_uninstallFilter", [id])).toBe(true);
      expect(await rpc(node.rpcUrl, "eth_uninstallFilter", [id])).toBe(false);
      expect((await rpcRaw(node.rpcUrl, "eth_getFilterChanges", [id])).error?.message).toBe(
        "filter not found",
      );
    }
    expect((await rpcRaw(node.rpcUrl, "eth_getFilterLogs", [logFilter])).error?.message).toBe(
      "filter not found",
    );
  });
});

describe("txpool_content (real node)", () => {
  it("shows a nonce-gapped transaction as queued, and neither once the gap is filled and both are mined", async () => {
    const sender = privateKeyToAccount(DEV_KEYS[8] as Hex).address;
    const nonce = await pub.getTransactionCount({ address: sender });
    const gapped = await send(8, { to: contract, data: word(1), nonce: nonce + 1 });
    type Content = Record<"pending" | "queued", Record<string, Record<string, { hash: Hex; nonce: Hex }>>>;
    const bySender = (c: Content, kind: "pending" | "queued") =>
      Object.entries(c[kind]).find(([a]) => a.toLowerCase() === sender.toLowerCase())?.[1];

    const content = await rpc<Content>(node.rpcUrl, "txpool_content");
    expect(bySender(content, "queued")?.[String(nonce + 1)]).toMatchObject({
      hash: gapped,
      nonce: q(BigInt(nonce + 1)),
    });
    expect(bySender(content, "pending")).toBeUndefined();
    expect(await rpc(node.rpcUrl, "txpool_status")).toMatchObject({ queued: "0x1" });

    await mined(await send(8, { to: contract, data: word(2), nonce }));
    await mined(gapped);
    const after = await rpc<Content>(node.rpcUrl, "txpool_content");
    expect(bySender(after, "pending")).toBeUndefined();
    expect(bySender(after, "queued")).toBeUndefined();
  });
});

describe("eth_getBlockReceipts (real node)", () => {
  it("returns every receipt of a block by number, hash or tag, as eth_getTransactionReceipt does", async () => {
    // Two transactions from different senders, usually in one block.
    const hashes = await Promise.all([
      send(9, { to: contract, data: word(3) }),
      send(5, { to: privateKeyToAccount(generatePrivateKey()).address, value: 5n }),
    ]);
    const receipts = await Promise.all(hashes.map(mined));
    const blockNumber = receipts[0]?.blockNumber ?? 0n;
    const block = await getBlock(q(blockNumber));
    const byNumber = await rpc<{ transactionHash: Hex }[]>(node.rpcUrl, "eth_getBlockReceipts", [
      q(blockNumber),
    ]);
    expect(byNumber.map((r) => r.transactionHash)).toEqual(block.transactions);
    const single = await Promise.all(
      block.transactions.map((h) => rpc(node.rpcUrl, "eth_getTransactionReceipt", [h])),
    );
    expect(byNumber).toEqual(single);
    expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", [block.hash])).toEqual(byNumber);
    expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", [{ blockHash: block.hash }])).toEqual(byNumber);
    if ((await getBlock("latest")).hash === block.hash)
      expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", ["latest"])).toEqual(byNumber);
    expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", [q(blockNumber + 1000n)])).toBeNull();
    expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", [pad("0x01")])).toBeNull();
    expect(await rpc(node.rpcUrl, "eth_getBlockReceipts", ["0x0"])).toEqual([]);
  });
});
