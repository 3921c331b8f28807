/**
 * The validator's proposal path: block and access list decoded from the bytes
 * received, transactions kept as received (no re-encoding), the list's
 * commitment hashed from its bytes. Same result as validating the objects;
 * a list whose bytes do not match the header is rejected.
 */

import { Worker } from "node:worker_threads";
import { createAccessList2930Tx, createLegacyTx, type TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex } from "@ethereumjs/util";
import {
  decodeBlock,
  decodeProposal,
  encodeAccessList,
  encodeProposal,
  ParallelExecutor,
  transactionBytes,
} from "@meridian/executor";
import {
  DecodeError,
  keccak256,
  orderedTrieRoot,
  type RlpDecoded,
  rlpDecode,
  rlpEncode,
} from "@meridian/primitives";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildOnGenesis, type Chain, call, makeChain, signTx } from "../helpers/executor-workloads.ts";

/** Every distinct buffer behind the byte views in a message (what posting it copies). */
function buffersIn(message: unknown): Set<ArrayBufferLike> {
  const found = new Set<ArrayBufferLike>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== "object") return;
    if (ArrayBuffer.isView(x)) found.add(x.buffer);
    else if (x instanceof Map)
      for (const [k, v] of x) {
        walk(k);
        walk(v);
      }
    else for (const v of Object.values(x)) walk(v);
  };
  walk(message);
  return found;
}

describe("proposal path", () => {
  let chain: Chain;
  let executor: ParallelExecutor;
  beforeAll(async () => {
    chain = await makeChain(3);
    executor = new ParallelExecutor(chain.common, { workers: 1 });
  });
  afterAll(async () => {
    await executor?.close();
  });

  /** One transaction of each envelope: legacy (an RLP list in the body), 2930 and 1559 (byte strings). */
  function mixedTxs(): TypedTransaction[] {
    const to = new Uint8Array(20).fill(0x42);
    const gasPrice = 10n * chain.genesis.header.calcNextBaseFee();
    const opts = { common: chain.common };
    return [
      createLegacyTx({ nonce: 0n, to, value: 1n, gasLimit: 21_000n, gasPrice }, opts).sign(
        chain.keys[0] as Uint8Array,
      ),
      createAccessList2930Tx(
        { nonce: 0n, to, value: 2n, gasLimit: 30_000n, gasPrice, chainId: chain.common.chainId() },
        opts,
      ).sign(chain.keys[1] as Uint8Array),
      signTx(chain, 2, 0n, to, { value: 3n }),
    ];
  }

  it("keeps every transaction's bytes as received and equal to its encoding", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    expect(built.block.transactions).toHaveLength(3);
    const decoded = decodeBlock(built.block.serialize(), chain.common);
    expect(bytesToHex(decoded.hash())).toBe(bytesToHex(built.block.hash()));
    const received = transactionBytes(decoded).map(bytesToHex);
    expect(received).toEqual(built.block.transactions.map((tx) => bytesToHex(tx.serialize())));
    // A block made here (not decoded) has its transactions encoded on demand.
    expect(transactionBytes(built.block).map(bytesToHex)).toEqual(received);
  });

  it("rejects truncated or padded block bytes with a DecodeError", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    const bytes = built.block.serialize();
    expect(() => decodeBlock(bytes.subarray(0, bytes.length - 1), chain.common)).toThrow(DecodeError);
    expect(() => decodeBlock(Uint8Array.from([...bytes, 0]), chain.common)).toThrow(DecodeError);
    expect(() => decodeBlock(Uint8Array.of(0xc0), chain.common)).toThrow(DecodeError);
  });

  it("validates from the proposal bytes to the same block, and rejects list bytes the header does not commit to", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    const proposal = decodeProposal(encodeProposal(built.block, built.accessList), chain.common);
    const ok = await executor.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
      accessListRlp: proposal.accessListRlp,
    });
    expect(bytesToHex(await ok.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
    expect(ok.receipts.map((r) => r.status)).toEqual([1, 1, 1]);

    // The same list with one write's balance changed: its bytes no longer hash to extraData.
    const tampered = { txs: structuredClone(proposal.accessList.txs) };
    const write = tampered.txs[0]?.writes.find((w) => w.balance !== undefined);
    if (!write) throw new Error("expected a balance write");
    write.balance = (write.balance as bigint) + 1n;
    // With one worker this thread checks the hash before the results; with two a worker hashes
    // the list while the results come back, which already show the changed write: the block is
    // still rejected for its list.
    const two = new ParallelExecutor(chain.common, { workers: 2 });
    try {
      for (const v of [executor, two])
        await expect(
          v.validate(proposal.block, tampered, chain.genesis, chain.fresh(), {
            accessListRlp: encodeAccessList(tampered),
          }),
        ).rejects.toMatchObject({ code: "BAL_HASH_MISMATCH" });
      const ok2 = await two.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
        accessListRlp: proposal.accessListRlp,
      });
      expect(bytesToHex(await ok2.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
    } finally {
      await two.close();
    }
  });

  /**
   * The block's bytes with transaction `index` replaced by `tx` (typed: type byte and field
   * list) and the header's transactions root made to match, so that only the transaction is wrong.
   */
  function withTransaction(blockRlp: Uint8Array, index: number, tx: Uint8Array): Uint8Array {
    const [header, txs, ...rest] = rlpDecode(blockRlp, blockRlp.length) as RlpDecoded[][];
    const body = [...(txs as RlpDecoded[])];
    body[index] = tx;
    const fields = [...(header as Uint8Array[])];
    // A legacy transaction sits in the body as a list; the trie holds its encoding.
    fields[4] = orderedTrieRoot(body.map((t) => (t instanceof Uint8Array ? t : rlpEncode(t))));
    return rlpEncode([fields, body, ...rest] as never);
  }

  it("builds a proposal's transaction objects only when asked, equal to the originals", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    const proposal = decodeProposal(encodeProposal(built.block, built.accessList), chain.common);
    const ok = await executor.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
      accessListRlp: proposal.accessListRlp,
    });
    // Type and price come from the workers (this thread never decoded the transactions).
    expect(ok.receipts.map((r) => [r.type, r.effectiveGasPrice])).toEqual(
      built.receipts.map((r) => [r.type, r.effectiveGasPrice]),
    );
    const txs = proposal.block.transactions;
    expect(txs.map((tx) => bytesToHex(tx.hash()))).toEqual(
      built.block.transactions.map((tx) => bytesToHex(tx.hash())),
    );
    expect(txs.map((tx) => tx.getSenderAddress().toString())).toEqual(
      built.senders.map((s) => bytesToHex(s)),
    );
    // Built once: the same objects on every access.
    expect(proposal.block.transactions[0]).toBe(txs[0]);
    expect(bytesToHex(proposal.block.serialize())).toBe(bytesToHex(built.block.serialize()));
  });

  it("rejects a transaction of an unknown type when decoding, and one with a malformed field when validating", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    const blockRlp = built.block.serialize();
    const listRlp = encodeAccessList(built.accessList);
    const eip1559 = transactionBytes(built.block)[2] as Uint8Array;

    const unknownType = Uint8Array.from([0x05, ...eip1559.subarray(1)]);
    expect(() =>
      decodeProposal(encodeProposal(withTransaction(blockRlp, 2, unknownType), listRlp), chain.common),
    ).toThrow(DecodeError);

    // The 1559 transaction's nonce (field 1) with a leading zero byte: the envelope is fine, the
    // field is not canonical. The workers decode it, so validation names it.
    const fields = rlpDecode(eip1559.subarray(1), eip1559.length) as Uint8Array[];
    fields[1] = Uint8Array.of(0, 1);
    const badNonce = Uint8Array.from([0x02, ...rlpEncode(fields)]);
    const proposal = decodeProposal(
      encodeProposal(withTransaction(blockRlp, 2, badNonce), listRlp),
      chain.common,
    );
    expect(() => proposal.block.transactions).toThrow(DecodeError);
    await expect(
      executor.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
        accessListRlp: proposal.accessListRlp,
      }),
    ).rejects.toMatchObject({ code: "TX_INVALID" });
  });

  it("sends each batch and state-root shard only its own bytes, not the proposal its transactions and slot values come from", async () => {
    const pool = new ParallelExecutor(chain.common, { workers: 2 });
    try {
      // Every transaction bumps one slot: later batches read the value the list wrote.
      const txs: TypedTransaction[] = [];
      for (let i = 0; i < 24; i++)
        txs.push(
          signTx(chain, i % 3, BigInt(Math.floor(i / 3)), chain.contracts.Hot.address, {
            data: call("bump()"),
            gasLimit: 60_000n,
          }),
        );
      const built = await buildOnGenesis(chain, pool, txs);
      expect(built.block.transactions).toHaveLength(24);
      const bytes = encodeProposal(built.block, built.accessList);
      const proposal = decodeProposal(bytes, chain.common);
      const sent: Set<ArrayBufferLike>[] = [];
      const shards: Set<ArrayBufferLike>[] = [];
      const post = Worker.prototype.postMessage;
      const spy = vi.spyOn(Worker.prototype, "postMessage").mockImplementation(function (
        this: Worker,
        message: unknown,
        transfer?: unknown,
      ) {
        const kind = (message as { kind?: string }).kind;
        if (kind === "exec") sent.push(buffersIn(message));
        // State-root shards carry the slot values the list wrote: views into the proposal too.
        if (kind === "shard") shards.push(buffersIn(message));
        return post.call(this, message, transfer as never);
      });
      try {
        const ok = await pool.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
          accessListRlp: proposal.accessListRlp,
        });
        expect(bytesToHex(await ok.state.getStateRoot())).toBe(bytesToHex(built.block.header.stateRoot));
      } finally {
        spy.mockRestore();
      }
      expect(sent.length).toBeGreaterThanOrEqual(4);
      expect(shards.length).toBeGreaterThan(0);
      for (const buffers of shards) expect(buffers.has(bytes.buffer)).toBe(false);
      for (const buffers of sent) {
        expect(buffers.has(bytes.buffer)).toBe(false);
        let total = 0;
        for (const b of buffers) total += b.byteLength;
        expect(total).toBeLessThan(bytes.length / 2);
      }
    } finally {
      await pool.close();
    }
  });

  it("reads a received list entry by entry: bad framing fails decoding, a malformed entry fails validation", async () => {
    const built = await buildOnGenesis(chain, executor, mixedTxs());
    const blockRlp = built.block.serialize();
    const listRlp = encodeAccessList(built.accessList);
    // Framing: the list bytes are not one RLP list, or have bytes after it.
    for (const list of [Uint8Array.of(0x80), Uint8Array.from([...listRlp, 0xc0])])
      expect(() => decodeProposal(encodeProposal(blockRlp, list), chain.common)).toThrow(DecodeError);

    // Entry 1's first read flag set to 0x02 (only empty or 0x01 are allowed); the header is
    // resealed to commit to these bytes, so that only the entry is wrong.
    const entries = rlpDecode(listRlp, listRlp.length) as RlpDecoded[][][];
    const read = (entries[1] as RlpDecoded[][][])[0]?.[0] as RlpDecoded[];
    read[1] = Uint8Array.of(2);
    const badList = rlpEncode(entries as never);
    const [header, ...body] = rlpDecode(blockRlp, blockRlp.length) as RlpDecoded[][];
    const fields = [...(header as Uint8Array[])];
    fields[12] = keccak256(badList);
    const resealed = rlpEncode([fields, ...body] as never);
    const proposal = decodeProposal(encodeProposal(resealed, badList), chain.common);
    expect(proposal.accessList.length).toBe(3);
    expect(() => proposal.accessList.txs).toThrow(/access list tx 1: read 0: account flag/);
    await expect(
      executor.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
        accessListRlp: proposal.accessListRlp,
      }),
    ).rejects.toMatchObject({ code: "BAL_MALFORMED", message: expect.stringMatching(/access list tx 1/) });
  });
});
