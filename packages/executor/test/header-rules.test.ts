/**
 * The block rules both executors share (header-rules.ts): a block with any header field
 * wrong, or whose EIP-7002/7251 request system call cannot run, is rejected by the
 * sequential and the parallel executor alike, with the same error code.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Block, createBlock, type HeaderData } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { createFeeMarket1559Tx, createLegacyTx } from "@ethereumjs/tx";
import { Address, bytesToHex, hexToBytes, setLengthLeft } from "@ethereumjs/util";
import { buildBlock, createVM } from "@ethereumjs/vm";
import { keccak256 } from "@meridian/primitives";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlockSizeBudget, checkHeaderRules, MAX_RLP_BLOCK_SIZE } from "../src/header-rules.ts";
import {
  accessListHash,
  type BlockAccessList,
  buildGenesis,
  chainCommon,
  type ParallelExecutedBlock,
  ParallelExecutor,
  parseGenesis,
  SequentialExecutor,
  type TxSource,
} from "../src/index.ts";

const devnetJson = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));
const KEY0 = hexToBytes("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const WITHDRAWAL_REQUESTS = "0x00000961Ef480Eb55e80D19ad83579A64c007002";
const CONSOLIDATION_REQUESTS = "0x0000BBdDc7CE488642fb579F8B00f3a590007251";
const HISTORY = new Address(hexToBytes("0x0000F90827F1C53a10cb7A02335B175320002935"));
/** Stores BLOCKHASH(NUMBER - 1) in slot 0, then emits an empty LOG0 (a non-zero bloom). */
const BLOCKHASH_PROBE = new Address(new Uint8Array(20).fill(0xb1));
const PROBE_CODE = "0x4360019003405f5560006000a000";
/** PUSH0 PUSH0 REVERT. */
const REVERTING_CODE = "0x5f5ffd";

const dirs: string[] = [];
const dbs: ChainDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type TestChain = { common: Common; genesis: Block; fresh(): FlatStateManager };

/** The devnet genesis (its system contracts included) with `edit` applied to its alloc. */
async function makeChain(edit: (alloc: Record<string, Record<string, unknown>>) => void = () => {}) {
  const json = structuredClone(devnetJson);
  json.alloc[BLOCKHASH_PROBE.toString()] = { balance: "0x0", code: PROBE_CODE };
  edit(json.alloc);
  const dir = await mkdtemp(join(tmpdir(), "meridian-rules-"));
  dirs.push(dir);
  const db = await ChainDatabase.open(join(dir, "db"));
  dbs.push(db);
  const store = new FlatStateStore(db);
  const spec = parseGenesis(json, "test-genesis");
  const common = chainCommon(spec);
  const genesis = await buildGenesis(spec, store, common);
  const batch = db.batch();
  const { cacheUpdate } = await genesis.state.writeTo(batch);
  await db.write(batch);
  store.applyCommitted(cacheUpdate);
  const root = genesis.block.header.stateRoot;
  return { common, genesis: genesis.block, fresh: () => new FlatStateManager(store, root) } as TestChain;
}

/** BLOCKHASH's source for block 1: the genesis hash for height 0, nothing else. */
const lookupFor = (chain: TestChain) => async (n: bigint) => (n === 0n ? chain.genesis.hash() : undefined);

function probeTx(common: Common) {
  return createFeeMarket1559Tx(
    {
      nonce: 0n,
      to: BLOCKHASH_PROBE.bytes,
      gasLimit: 100_000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: common.chainId(),
    },
    { common },
  ).sign(KEY0);
}

function oneTx(common: Common): TxSource {
  const queue = [probeTx(common)];
  return {
    peek: () => (queue[0] ? { tx: queue[0], sender: queue[0].getSenderAddress().bytes } : undefined),
    shift: () => void queue.shift(),
    pop: () => void queue.shift(),
  };
}

/** Every executor, as the validator path uses it: `list` is the block's access list (parallel). */
type Validator = {
  name: string;
  validate(chain: TestChain, block: Block, list: BlockAccessList): Promise<unknown>;
};

let parallel: ParallelExecutor;
const validators: Validator[] = [
  {
    name: "sequential",
    validate: (chain, block) =>
      new SequentialExecutor(chain.common).execute(block, chain.genesis, chain.fresh(), {
        blockHash: lookupFor(chain),
      }),
  },
  {
    name: "parallel",
    validate: (chain, block, list) =>
      parallel.validate(block, list, chain.genesis, chain.fresh(), { blockHash: lookupFor(chain) }),
  },
];

beforeAll(() => {
  // One worker: the worker path is exercised, and the suite stays light on shared cores.
  parallel = new ParallelExecutor(chainCommon({ chainId: 7331n, hardfork: "prague" }), { workers: 1 });
});
afterAll(async () => {
  await parallel?.close();
});

/** `block` with header fields replaced (same transactions and withdrawals). */
function withHeader(chain: TestChain, block: Block, fields: Partial<HeaderData>): Block {
  return createBlock(
    { header: { ...block.header.toJSON(), ...fields }, transactions: block.transactions, withdrawals: [] },
    { common: chain.common },
  );
}

const H = (byte: number) => new Uint8Array(32).fill(byte);

async function unchecked(chain: TestChain): Promise<Block> {
  const vm = await createVM({ common: chain.common.copy(), stateManager: chain.fresh() });
  const builder = await buildBlock(vm, {
    parentBlock: chain.genesis,
    headerData: {
      timestamp: chain.genesis.header.timestamp + 1n,
      gasLimit: chain.genesis.header.gasLimit,
      mixHash: keccak256(chain.genesis.hash()),
      parentBeaconBlockRoot: new Uint8Array(32),
      extraData: accessListHash({ txs: [] }),
    },
    withdrawals: [],
    blockOpts: { putBlockIntoBlockchain: false, common: vm.common },
  });
  return (await builder.build()).block;
}

describe("header rules shared by both executors", () => {
  let chain: TestChain;
  let built: ParallelExecutedBlock;

  beforeAll(async () => {
    chain = await makeChain();
    built = await parallel.build({
      parent: chain.genesis,
      state: chain.fresh(),
      timestamp: chain.genesis.header.timestamp + 1n,
      coinbase: new Uint8Array(20).fill(0xc0),
      txs: oneTx(chain.common),
      blockHash: lookupFor(chain),
    });
    expect(built.block.transactions).toHaveLength(1);
  });

  it.each(validators)(
    "$name accepts the block as built, BLOCKHASH and the history contract included",
    async (v) => {
      const out = (await v.validate(chain, built.block, built.accessList)) as { state: FlatStateManager };
      expect(bytesToHex(await out.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
      // BLOCKHASH(0) inside the transaction, and the EIP-2935 ring buffer slot 0 from the prologue.
      const genesisHash = bytesToHex(chain.genesis.hash());
      expect(
        bytesToHex(setLengthLeft(await out.state.getStorage(BLOCKHASH_PROBE, new Uint8Array(32)), 32)),
      ).toBe(genesisHash);
      expect(bytesToHex(setLengthLeft(await out.state.getStorage(HISTORY, new Uint8Array(32)), 32))).toBe(
        genesisHash,
      );
    },
  );

  // One wrong field per row: every executor rejects the block with the row's code. (Uncles,
  // difficulty and nonce are refused earlier, by the proof-of-stake header decoder.)
  const cases: { field: string; change: (b: Block) => Partial<HeaderData>; code: string }[] = [
    { field: "number", change: (b) => ({ number: b.header.number + 1n }), code: "INVALID_BLOCK" },
    { field: "parentHash", change: () => ({ parentHash: H(1) }), code: "INVALID_BLOCK" },
    { field: "timestamp", change: (b) => ({ timestamp: b.header.timestamp - 1n }), code: "INVALID_BLOCK" },
    { field: "gasLimit", change: (b) => ({ gasLimit: b.header.gasLimit + 1n }), code: "INVALID_BLOCK" },
    {
      field: "baseFeePerGas",
      change: (b) => ({ baseFeePerGas: (b.header.baseFeePerGas ?? 0n) + 1n }),
      code: "INVALID_BLOCK",
    },
    { field: "excessBlobGas", change: () => ({ excessBlobGas: 1n }), code: "INVALID_BLOCK" },
    { field: "withdrawalsRoot", change: () => ({ withdrawalsRoot: H(3) }), code: "INVALID_BLOCK" },
    { field: "transactionsTrie", change: () => ({ transactionsTrie: H(4) }), code: "TX_ROOT_MISMATCH" },
    { field: "gasUsed", change: (b) => ({ gasUsed: b.header.gasUsed + 1n }), code: "GAS_USED_MISMATCH" },
    { field: "logsBloom", change: () => ({ logsBloom: new Uint8Array(256) }), code: "BLOOM_MISMATCH" },
    { field: "receiptTrie", change: () => ({ receiptTrie: H(5) }), code: "RECEIPTS_ROOT_MISMATCH" },
    { field: "requestsHash", change: () => ({ requestsHash: H(6) }), code: "REQUESTS_HASH_MISMATCH" },
    { field: "blobGasUsed", change: () => ({ blobGasUsed: 131_072n }), code: "BLOB_GAS_USED_MISMATCH" },
    { field: "stateRoot", change: () => ({ stateRoot: H(7) }), code: "STATE_ROOT_MISMATCH" },
    // The EIP-4788 system call stores it: a different root is a different state.
    {
      field: "parentBeaconBlockRoot",
      change: () => ({ parentBeaconBlockRoot: H(8) }),
      code: "STATE_ROOT_MISMATCH",
    },
  ];
  for (const v of validators) {
    it.each(cases)(`${v.name} rejects a wrong $field ($code)`, async ({ change, code }) => {
      const bad = withHeader(chain, built.block, change(built.block));
      await expect(v.validate(chain, bad, built.accessList)).rejects.toMatchObject({ code });
    });
  }
});

describe("EIP-7002/7251 request system calls", () => {
  /** An empty block 1 sealed by @ethereumjs alone, which neither checks these calls. */

  const broken: {
    desc: string;
    edit: (alloc: Record<string, Record<string, unknown>>) => void;
    code: string;
  }[] = [
    {
      desc: "no withdrawal-request contract account",
      edit: (alloc) => delete alloc[WITHDRAWAL_REQUESTS],
      code: "SYSTEM_CONTRACT_EMPTY",
    },
    {
      desc: "a withdrawal-request contract without code",
      edit: (alloc) => {
        alloc[WITHDRAWAL_REQUESTS] = { balance: "0x0", nonce: "0x1" };
      },
      code: "SYSTEM_CONTRACT_EMPTY",
    },
    {
      desc: "a reverting withdrawal-request contract",
      edit: (alloc) => {
        alloc[WITHDRAWAL_REQUESTS] = { balance: "0x0", nonce: "0x1", code: REVERTING_CODE };
      },
      code: "SYSTEM_CONTRACT_CALL_FAILED",
    },
    {
      desc: "a reverting consolidation-request contract",
      edit: (alloc) => {
        alloc[CONSOLIDATION_REQUESTS] = { balance: "0x0", nonce: "0x1", code: REVERTING_CODE };
      },
      code: "SYSTEM_CONTRACT_CALL_FAILED",
    },
  ];

  it.each(broken)(
    "with $desc, both executors reject the block and refuse to build ($code)",
    async ({ edit, code }) => {
      const chain = await makeChain(edit);
      const block = await unchecked(chain);
      for (const v of validators) {
        await expect(v.validate(chain, block, { txs: [] }), v.name).rejects.toMatchObject({ code });
      }
      const request = {
        parent: chain.genesis,
        timestamp: chain.genesis.header.timestamp + 1n,
        coinbase: new Uint8Array(20),
      };
      const sequential = new SequentialExecutor(chain.common);
      await expect(sequential.build({ ...request, state: chain.fresh() })).rejects.toMatchObject({ code });
      await expect(parallel.build({ ...request, state: chain.fresh() })).rejects.toMatchObject({ code });
    },
  );
});

describe("EIP-7934: the block RLP size limit, from Osaka on", () => {
  /** Six unsigned 1.5 MB transactions: 9 MB of body, over the 8 MiB limit. */
  function bigBody(common: Common) {
    return Array.from({ length: 6 }, (_, nonce) =>
      createLegacyTx(
        {
          nonce,
          to: new Uint8Array(20).fill(0x22),
          gasLimit: 16_000_000n,
          gasPrice: 10n ** 10n,
          data: new Uint8Array(1_500_000),
        },
        { common },
      ),
    );
  }

  it.each(validators)("$name rejects an Osaka block over the limit before executing it", async (v) => {
    const chain = await makeChain();
    expect(chain.common.hardfork()).toBe("osaka");
    const base = await unchecked(chain);
    const big = createBlock(
      { header: base.header.toJSON(), transactions: bigBody(chain.common), withdrawals: [] },
      { common: chain.common },
    );
    expect(big.serialize().length).toBeGreaterThan(MAX_RLP_BLOCK_SIZE);
    const list: BlockAccessList = { txs: big.transactions.map(() => ({ reads: [], writes: [] })) as never };
    await expect(v.validate(chain, big, list)).rejects.toMatchObject({ code: "BLOCK_TOO_LARGE" });
  });

  it("does not limit a Prague block's size", async () => {
    const chain = await makeChain();
    const prague = chainCommon({ chainId: 7331n, hardfork: "prague" });
    const base = await unchecked(chain);
    const big = createBlock(
      { header: base.header.toJSON(), transactions: bigBody(prague), withdrawals: [] },
      { common: prague },
    );
    const parent = createBlock({ header: chain.genesis.header.toJSON() }, { common: prague });
    // Only the size differs from a valid header; the transactions root is checked elsewhere.
    await expect(checkHeaderRules(big, parent, "meridian")).resolves.toBeUndefined();
  });

  it("the builders' budget counts bytes only where the gas limit allows a block that large", () => {
    const osaka = chainCommon({ chainId: 7331n, hardfork: "osaka" });
    const [tx] = bigBody(osaka);
    // 30M gas: no block can reach 8 MiB, nothing is counted.
    const small = new BlockSizeBudget(osaka, 30_000_000n);
    for (let i = 0; i < 10; i++) expect(small.take(tx!)).toBeUndefined();
    // 1G gas: the sixth 1.5 MB transaction would pass the limit.
    const large = new BlockSizeBudget(osaka, 1_000_000_000n);
    for (let i = 0; i < 5; i++) expect(large.take(tx!)).toBeUndefined();
    expect(large.take(tx!)).toMatch(/size limit/);
    // Prague has no limit at any gas limit.
    const prague = new BlockSizeBudget(chainCommon({ chainId: 7331n, hardfork: "prague" }), 1_000_000_000n);
    for (let i = 0; i < 10; i++) expect(prague.take(tx!)).toBeUndefined();
  });
});
