/**
 * Seeded fuzz campaigns over every decoder that takes bytes from the network or a user, and over
 * JSON-RPC parameter parsing through the real handler. Each input must either be accepted or be
 * rejected with a typed error (MeridianError / DecodeError, or a JSON-RPC error object other than
 * -32603, which is what an untyped exception turns into); no input may take more CPU than
 * MAX_INPUT_CPU_MS or make the decoder allocate more than MAX_ALLOC_BYTES of buffers. Where a law
 * exists it is checked too: an accepted RLP or access list re-encodes to exactly its input.
 *
 * Used by `npm run fuzz` (test/fuzz/run.ts) and by the short campaign in CI (fuzz.test.ts).
 */

import { createBlockFromRLP } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import {
  chainCommon,
  decodeAccessList,
  decodeBlock,
  decodeProposal,
  encodeAccessList,
  encodeProposal,
} from "@meridian/executor";
import { TxPool } from "@meridian/mempool";
import { MeridianError, rlpDecode, rlpEncode } from "@meridian/primitives";
import { RpcHandler } from "@meridian/rpc";
import fc from "fast-check";
import { FuzzBackend } from "./backend.ts";
import { accessListArb, mutatedOrRandom, rlpValueArb, seedBlocks, seedTransactions } from "./inputs.ts";
import { jsonRpcRequestArb } from "./rpc-inputs.ts";

/**
 * One input taking more CPU time than this is a failure (a pathological decoder path). CPU time,
 * not wall time: on a loaded machine a niced campaign can wait seconds for a core.
 */
export const MAX_INPUT_CPU_MS = 2_000;
/** Buffers one input may make a decoder allocate (measured as process arrayBuffers growth). */
export const MAX_ALLOC_BYTES = 64 * 1024 * 1024;

export type FuzzResult = {
  target: string;
  runs: number;
  seed: number;
  accepted: number;
  rejected: number;
  ms: number;
};

export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

type Outcome = "accepted" | "rejected";

/** Runs `fn`; a thrown MeridianError is a rejection, anything else a failure. */
async function typed(what: string, fn: () => unknown): Promise<Outcome> {
  const buffersBefore = process.memoryUsage().arrayBuffers;
  const cpu0 = process.cpuUsage();
  let outcome: Outcome;
  try {
    await fn();
    outcome = "accepted";
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    if (!(err instanceof MeridianError))
      throw new FuzzFailure(
        `${what}: untyped rejection ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
      );
    outcome = "rejected";
  }
  const cpu = process.cpuUsage(cpu0);
  const ms = (cpu.user + cpu.system) / 1000;
  if (ms > MAX_INPUT_CPU_MS) throw new FuzzFailure(`${what}: one input took ${ms.toFixed(0)} ms of CPU`);
  const grew = process.memoryUsage().arrayBuffers - buffersBefore;
  if (grew > MAX_ALLOC_BYTES) throw new FuzzFailure(`${what}: one input allocated ${grew} bytes of buffers`);
  return outcome;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

type Target = {
  name: string;
  /** Builds the property; `count` tallies outcomes. */
  property(count: (o: Outcome) => void): fc.IAsyncProperty<[unknown]> | fc.IProperty<[unknown]>;
};

type Corpus = {
  common: Common;
  txs: Uint8Array[];
  blocks: Uint8Array[];
  proposals: Uint8Array[];
  lists: Uint8Array[];
};

let corpus: Corpus | undefined;
function getCorpus(): Corpus {
  if (corpus) return corpus;
  const common = chainCommon({ chainId: 7331n, hardfork: "prague" });
  const txObjects = seedTransactions(common);
  const blocks = seedBlocks(common, txObjects);
  const lists = fc.sample(accessListArb, { numRuns: 8, seed: 1 }).map(encodeAccessList);
  const proposals = blocks.flatMap((b, i) => {
    const block = createBlockFromRLP(b, { common });
    return [encodeProposal(block, decodeAccessList(lists[i % lists.length]!))];
  });
  corpus = { common, txs: txObjects.map((t) => t.serialize()), blocks, proposals, lists };
  return corpus;
}

function asyncProp(
  arb: fc.Arbitrary<Uint8Array>,
  count: (o: Outcome) => void,
  check: (input: Uint8Array) => Promise<Outcome>,
): fc.IAsyncProperty<[unknown]> {
  return fc.asyncProperty(arb as fc.Arbitrary<unknown>, async (input) => {
    count(await check(input as Uint8Array));
  });
}

const TARGETS: Target[] = [
  {
    name: "rlp",
    property: (count) =>
      asyncProp(
        mutatedOrRandom(fc.sample(rlpValueArb, { numRuns: 32, seed: 2 }).map((v) => rlpEncode(v))),
        count,
        async (input) => {
          let decoded: ReturnType<typeof rlpDecode> | undefined;
          const o = await typed("rlpDecode", () => {
            decoded = rlpDecode(input);
          });
          // Law: decoding is canonical, so whatever is accepted re-encodes to the same bytes.
          if (decoded !== undefined && !sameBytes(rlpEncode(decoded), input))
            throw new FuzzFailure("rlpDecode accepted a non-canonical encoding");
          return o;
        },
      ),
  },
  {
    name: "transaction",
    property: (count) => {
      const c = getCorpus();
      const pool = new TxPool(
        { getAccount: async () => ({ nonce: 0n, balance: 10n ** 24n }) },
        { common: c.common, blockGasLimit: () => 30_000_000n, baseFee: () => 7n },
      );
      return asyncProp(mutatedOrRandom(c.txs), count, async (input) => {
        pool.clear();
        return typed("TxPool.addRaw", () => pool.addRaw(input));
      });
    },
  },
  {
    name: "block",
    property: (count) => {
      const c = getCorpus();
      return asyncProp(mutatedOrRandom(c.blocks, 2048), count, async (input) =>
        typed("decodeBlock", () => {
          decodeBlock(input, c.common);
          // The lazy path checks envelopes first and builds the objects on first use.
          const lazy = decodeBlock(input, c.common, { lazyTransactions: true });
          void lazy.transactions.length;
        }),
      );
    },
  },
  {
    name: "access-list",
    property: (count) => {
      const c = getCorpus();
      return asyncProp(mutatedOrRandom(c.lists), count, async (input) => {
        let encoded: Uint8Array | undefined;
        const o = await typed("decodeAccessList", () => {
          encoded = encodeAccessList(decodeAccessList(input));
        });
        if (encoded !== undefined && !sameBytes(encoded, input))
          throw new FuzzFailure("decodeAccessList accepted a non-canonical list");
        return o;
      });
    },
  },
  {
    name: "proposal",
    property: (count) => {
      const c = getCorpus();
      return asyncProp(mutatedOrRandom(c.proposals, 2048), count, async (input) =>
        typed("decodeProposal", () => {
          const p = decodeProposal(input, c.common);
          void p.accessList.txs.length;
          void p.block.transactions.length;
        }),
      );
    },
  },
  {
    name: "rpc",
    property: (count) => {
      const handler = new RpcHandler({ backend: new FuzzBackend(), batchLimit: 50 });
      return fc.asyncProperty(
        jsonRpcRequestArb(handler.methodNames) as fc.Arbitrary<unknown>,
        async (body) => {
          let reply: string | undefined;
          const o = await typed("RpcHandler.handle", async () => {
            reply = await handler.handle(body as string, handler);
          });
          if (o === "rejected") throw new FuzzFailure("RpcHandler.handle threw instead of answering");
          count(checkReply(reply));
        },
      );
    },
  },
];

/** A reply must be JSON-RPC: results, or error objects with an integer code that is not -32603. */
function checkReply(reply: string | undefined): Outcome {
  if (reply === undefined) return "accepted";
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    throw new FuzzFailure(`reply is not JSON: ${reply.slice(0, 200)}`);
  }
  let rejected = false;
  for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
    const m = r as { jsonrpc?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
    if (m.jsonrpc !== "2.0" || (!("result" in m) && m.error === undefined))
      throw new FuzzFailure(`not a JSON-RPC response: ${JSON.stringify(r).slice(0, 200)}`);
    if (m.error !== undefined) {
      if (!Number.isInteger(m.error.code) || typeof m.error.message !== "string")
        throw new FuzzFailure(`malformed error object: ${JSON.stringify(m.error)}`);
      if (m.error.code === -32603)
        throw new FuzzFailure(`internal error (an untyped exception) for ${reply.slice(0, 300)}`);
      rejected = true;
    }
  }
  return rejected ? "rejected" : "accepted";
}

export const TARGET_NAMES: readonly string[] = TARGETS.map((t) => t.name);

/** Runs one target's campaign; throws FuzzFailure (with fast-check's counterexample and seed) on a finding. */
export async function runCampaign(name: string, runs: number, seed: number): Promise<FuzzResult> {
  const target = TARGETS.find((t) => t.name === name);
  if (target === undefined) throw new Error(`unknown fuzz target ${name}; known: ${TARGET_NAMES.join(", ")}`);
  let accepted = 0;
  let rejected = 0;
  const t0 = performance.now();
  const property = target.property((o) => {
    if (o === "accepted") accepted++;
    else rejected++;
  });
  const details = await fc.check(property as fc.IAsyncProperty<[unknown]>, {
    numRuns: runs,
    seed,
    endOnFailure: true,
  });
  if (details.failed) {
    const reason =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    throw new FuzzFailure(
      `${name}: ${reason}\n  seed ${seed}, path ${details.counterexamplePath}\n  counterexample: ${fc.stringify(details.counterexample)}`,
    );
  }
  return {
    target: name,
    runs: details.numRuns,
    seed,
    accepted,
    rejected,
    ms: Math.round(performance.now() - t0),
  };
}
