import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from "@ethereumjs/tx";
import { Address, bytesToHex, hexToBytes } from "@ethereumjs/util";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";
import { afterAll, describe, expect, it } from "vitest";
import {
  buildGenesis,
  chainCommon,
  decodeReceipts,
  encodeReceipts,
  parseGenesis,
  SequentialExecutor,
  type TxCandidate,
  type TxSource,
} from "../src/index.ts";

const genesisJson = JSON.parse(
  readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"),
);
const KEY0 = hexToBytes("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function listSource(txs: TypedTransaction[]): TxSource {
  const queue: TxCandidate[] = txs.map((tx) => ({ tx, sender: tx.getSenderAddress().bytes }));
  return {
    peek: () => queue[0],
    shift: () => void queue.shift(),
    pop: () => void queue.shift(),
  };
}

// A contract whose constructor returns runtime code that stores CALLVALUE... simple: runtime = PUSH1 1 PUSH1 0 SSTORE STOP
const RUNTIME = "600160005500";
const INITCODE = `0x6006600c60003960066000f3${RUNTIME}`;

describe("SequentialExecutor", () => {
  it("builds a block that a fresh validator re-executes to the same roots", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meridian-exec-"));
    dirs.push(dir);
    const db = await ChainDatabase.open(join(dir, "db"));
    const store = new FlatStateStore(db);
    const spec = parseGenesis(genesisJson, "devnet.json");
    const common = chainCommon(spec);
    const genesis = await buildGenesis(spec, store, common);
    const batch = db.batch();
    await genesis.state.writeTo(batch);
    await db.write(batch);

    const executor = new SequentialExecutor(common);
    const to = hexToBytes("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    const txs = [
      createFeeMarket1559Tx(
        {
          nonce: 0n,
          to,
          value: 10n ** 18n,
          gasLimit: 21000n,
          maxFeePerGas: 2_000_000_000n,
          maxPriorityFeePerGas: 1n,
          chainId: 7331n,
        },
        { common },
      ).sign(KEY0),
      createLegacyTx(
        { nonce: 1n, data: INITCODE, gasLimit: 100_000n, gasPrice: 2_000_000_000n },
        { common },
      ).sign(KEY0),
      // Nonce gap: rejected by the builder, not fatal.
      createLegacyTx({ nonce: 9n, to, gasLimit: 21000n, gasPrice: 2_000_000_000n }, { common }).sign(KEY0),
    ];
    const root = genesis.block.header.stateRoot;
    const built = await executor.build({
      parent: genesis.block,
      state: new FlatStateManager(store, genesis.block.header.stateRoot),
      timestamp: genesis.block.header.timestamp + 1n,
      coinbase: hexToBytes(spec.validators[0]?.address ? bytesToHex(spec.validators[0].address) : "0x"),
      txs: listSource(txs),
    });
    expect(built.block.transactions.length).toBe(2);
    expect(built.rejected.length).toBe(1);
    expect(built.receipts[1]?.contractAddress).toBeDefined();
    expect(decodeReceipts(encodeReceipts(built.receipts))).toEqual(built.receipts);

    const replayed = await executor.execute(built.block, genesis.block, new FlatStateManager(store, root));
    expect(bytesToHex(await replayed.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
    expect(replayed.receipts).toEqual(built.receipts);

    // Tampering with the state root makes the block invalid.
    const { createBlock } = await import("@ethereumjs/block");
    const bad = createBlock(
      {
        header: { ...built.block.header.toJSON(), stateRoot: new Uint8Array(32) },
        transactions: built.block.transactions,
        withdrawals: [],
      },
      { common },
    );
    await expect(
      executor.execute(bad, genesis.block, new FlatStateManager(store, root)),
    ).rejects.toMatchObject({
      code: "STATE_ROOT_MISMATCH",
    });

    // eth_call and estimateGas on the committed state of the built block.
    const commitBatch = db.batch();
    const { stateRoot: newRoot, cacheUpdate } = await built.state.writeTo(commitBatch);
    await db.write(commitBatch);
    store.applyCommitted(cacheUpdate);
    const fresh = () => new FlatStateManager(store, newRoot);
    const created = built.receipts[1]?.contractAddress as Uint8Array;
    const call = await executor.call({ from: KEY0.subarray(0, 20), to: created }, built.block, fresh(), {
      gasCap: 50_000_000n,
    });
    expect(call.error).toBeUndefined();
    const gas = await executor.estimateGas({ to: created }, built.block, fresh, 50_000_000n);
    expect(gas).toBeGreaterThan(21_000n);
    const revert = await executor.call({ data: hexToBytes("0x60006000fd") }, built.block, fresh(), {
      gasCap: 1_000_000n,
    });
    expect(revert.error?.kind).toBe("revert");

    // A call that keeps touching state is aborted at its time limit (geth's "execution aborted").
    const looping = fresh();
    const loopAddress = new Address(new Uint8Array(20).fill(0x77));
    await looping.putCode(loopAddress, hexToBytes("0x5b6000545060005600"));
    await expect(
      executor.call({ to: loopAddress.bytes }, built.block, looping, { gasCap: 50_000_000n, timeoutMs: 20 }),
    ).rejects.toMatchObject({ code: "EXECUTION_TIMEOUT" });
    expect(new Address(created).toString()).toMatch(/^0x/);
    await db.close();
  });
});
