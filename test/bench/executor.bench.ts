/**
 * Executor benchmark: plain @ethereumjs/vm (MerkleStateManager, sender
 * recovery, one state root) vs Meridian's sequential executor vs the parallel
 * executor (validate with the access list, and build).
 *
 *   node test/bench/executor.bench.ts [--json] [--txs N] [--workers N] [--workload name] [--reps N]
 *                                     [--skip sequential,baseline]
 *
 * Every timing includes sender recovery (transactions are decoded fresh from
 * RLP for each run, and build recovers the senders itself) and the state root of
 * the block; validation starts from the proposal bytes a validator receives (block
 * and access list, decoded in the timing). The baseline runs the whole block with
 * `runBlock` (system calls included), so its state root must equal the header's
 * like every other path's (`roots_equal`). Each workload first runs
 * all four paths once on a 250-transaction block of the same workload (warm-up:
 * JIT and caches), then measures the full-size block `--reps` times (default 3)
 * per path and reports each path's median: a node validates block after block,
 * so the steady state is what counts, and one run alone moves with the JIT and GC.
 * The first validation of the full-size block (workers cold for this workload) is
 * timed apart and reported beside the medians (`validate_cold_tps`).
 * `--skip` leaves out the sequential and/or baseline paths (their figures are then
 * null), for scaling runs over worker counts, where only the parallel paths change.
 */
import { availableParallelism } from "node:os";
import { createBlockFromRLP } from "@ethereumjs/block";
import { createCustomCommon, Mainnet } from "@ethereumjs/common";
import { createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { Account, Address, bytesToHex, hexToBytes, setLengthLeft } from "@ethereumjs/util";
import { createVM, runBlock } from "@ethereumjs/vm";
import {
  decodeProposal,
  encodeProposal,
  kzg,
  ParallelExecutor,
  parseGenesis,
  SequentialExecutor,
  setJumpAnalysisCache,
} from "@meridian/executor";
import {
  type BenchWorkload,
  benchWorkload,
  type Chain,
  listSource,
  makeChain,
} from "../helpers/executor-workloads.ts";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : dflt;
};
const JSON_OUT = flag("--json");
const TXS = Number(opt("--txs", "5000"));
const WORKERS = Number(opt("--workers", String(availableParallelism())));
const ONLY = opt("--workload", "");
const REPS = Math.max(1, Number(opt("--reps", "3")));
const SKIP = new Set(opt("--skip", "").split(",").filter(Boolean));
for (const path of SKIP)
  if (path !== "sequential" && path !== "baseline")
    throw new Error(`--skip takes sequential and/or baseline, not ${path}`);
const WORKLOADS = (["eth-transfers", "erc20-transfers", "hot-slot", "mixed"] as BenchWorkload[]).filter(
  (w) => !ONLY || w === ONLY,
);
const SENDERS = Math.min(1000, TXS);
/** Transactions in the warm-up block run before each measured one. */
const WARMUP_TXS = 250;

function progress(label: string, done: number, total: number): void {
  if (JSON_OUT || !process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(
    `\r${label.padEnd(18)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`,
  );
  if (done === total) process.stderr.write("\n");
}

async function baseline(
  chain: Chain,
  blockRlp: Uint8Array,
  alloc: Chain["fresh"],
): Promise<{ ms: number; root: string }> {
  // Plain VM on its default MerkleStateManager, seeded with the genesis accounts we need.
  // A pristine Common: Meridian's chainCommon memoizes parameter updates and the parallel
  // executor installs native ecrecover into it; the baseline stays plain @ethereumjs.
  const vm = await createVM({
    common: createCustomCommon({ chainId: Number(chain.common.chainId()), name: "meridian" }, Mainnet, {
      hardfork: chain.common.hardfork(),
      customCrypto: { kzg },
    }),
  });
  const sm = vm.stateManager;
  const genesisState = alloc();
  const seed = [
    ...chain.senders,
    chain.contracts.Token.address,
    chain.contracts.Hot.address,
    chain.contracts.Relay.address,
    chain.contracts.Factory.address,
  ];
  // The genesis alloc is mirrored account by account: devnet accounts, system contracts, and
  // the accounts the genesis derives (the staking contract at 0x…1000, with its storage).
  const json = await import("../../genesis/devnet.json", { with: { type: "json" } });
  const derived = parseGenesis(json.default, "devnet.json").alloc;
  for (const a of derived.keys()) seed.push(Buffer.from(a, "hex"));
  for (const a of seed) {
    const address = new Address(a);
    const acct = await genesisState.getAccount(address);
    if (!acct) continue;
    await sm.putAccount(address, new Account(acct.nonce, acct.balance));
    const code = await genesisState.getCode(address);
    if (code.length > 0) await sm.putCode(address, code);
  }
  for await (const [addr, slot, value] of storageOf(chain))
    await sm.putStorage(new Address(addr), slot, value);
  for (const [a, account] of derived)
    for (const [slot, value] of account.storage)
      await sm.putStorage(
        new Address(Buffer.from(a, "hex")),
        setLengthLeft(hexToBytes(slot.startsWith("0x") ? (slot as `0x${string}`) : `0x${slot}`), 32),
        value,
      );
  await sm.checkpoint();
  await sm.commit();
  await sm.getStateRoot();
  // Importing the executor installed its per-code jump-analysis cache into @ethereumjs in this
  // process: off for the baseline, which stays plain @ethereumjs.
  setJumpAnalysisCache(false);
  try {
    const t0 = performance.now();
    // Decoded in the timing (senders are recovered as runTx meets them); runBlock makes the
    // block's system calls (EIP-2935/4788 before, EIP-7002/7251 after), so the root is comparable.
    const block = createBlockFromRLP(blockRlp, { common: vm.common, setHardfork: false });
    const res = await runBlock(vm, {
      block,
      generate: true,
      clearCache: false,
      skipBlockValidation: true,
      skipHeaderValidation: true,
      skipHardForkValidation: true,
    });
    return { ms: performance.now() - t0, root: bytesToHex(res.stateRoot) };
  } finally {
    setJumpAnalysisCache(true);
  }
}

async function* storageOf(chain: Chain): AsyncGenerator<[Uint8Array, Uint8Array, Uint8Array]> {
  const db = chain.store.db;
  for (const c of [chain.contracts.Token.address, chain.contracts.Hot.address]) {
    for await (const [slot, value] of db.storageEntries(c)) yield [c, slot, value];
  }
}

type Timings = {
  buildMs: number;
  validateMs: number;
  /** The untimed-before warm validation's own time (NaN when there was none). */
  coldValidateMs: number;
  seqMs: number;
  baseMs: number;
  rootsEqual: boolean;
};

/** Builds, validates, executes sequentially and runs the baseline on one block of `txs`. */
async function runOnce(
  chain: Chain,
  sequential: SequentialExecutor,
  parallel: ParallelExecutor,
  name: string,
  txs: TypedTransaction[],
  show: boolean,
  /** Validate the block once untimed first (see main). */
  warmValidation = false,
): Promise<Timings> {
  const step = (label: string, i: number) => {
    if (show) progress(`${label} ${name}`, i, 4);
  };
  const rawTxs = txs.map((t) => t.serialize());
  const fresh = () => rawTxs.map((r) => createTxFromRLP(r, { common: chain.common }));
  const ctx = {
    parent: chain.genesis,
    timestamp: chain.genesis.header.timestamp + 1n,
    coinbase: chain.coinbase,
  };

  step("build", 0);
  let t0 = performance.now();
  // listSource recovers each sender (in the timing), as the pool does on admission.
  const built = await parallel.build({ ...ctx, state: chain.fresh(), txs: listSource(fresh()) });
  await built.state.getStateRoot();
  const buildMs = performance.now() - t0;
  const blockRlp = built.block.serialize();
  const proposalBytes = encodeProposal(blockRlp, built.accessList);
  if (built.block.transactions.length !== txs.length)
    throw new Error(
      `built ${built.block.transactions.length} of ${txs.length} txs (${built.rejected[0]?.reason})`,
    );

  step("validate", 1);
  // What a validator does with a proposal it receives: decode block and list, then validate.
  const validateOnce = async () => {
    const proposal = decodeProposal(proposalBytes, chain.common);
    const v = await parallel.validate(proposal.block, proposal.accessList, chain.genesis, chain.fresh(), {
      accessListRlp: proposal.accessListRlp,
    });
    return bytesToHex(await v.state.getStateRoot());
  };
  let coldValidateMs = Number.NaN;
  if (warmValidation) {
    t0 = performance.now();
    await validateOnce();
    coldValidateMs = performance.now() - t0;
  }
  t0 = performance.now();
  const validateRoot = await validateOnce();
  const validateMs = performance.now() - t0;

  step("sequential", 2);
  let seqMs = Number.NaN;
  let seqRoot: string | undefined;
  if (!SKIP.has("sequential")) {
    t0 = performance.now();
    const s = await sequential.execute(
      createBlockFromRLP(blockRlp, { common: chain.common, setHardfork: false }),
      chain.genesis,
      chain.fresh(),
    );
    seqRoot = bytesToHex(await s.state.getStateRoot());
    seqMs = performance.now() - t0;
  }

  step("baseline", 3);
  const base = SKIP.has("baseline") ? undefined : await baseline(chain, blockRlp, chain.fresh);
  step("done", 4);
  const headerRoot = bytesToHex(built.block.header.stateRoot);
  return {
    buildMs,
    validateMs,
    coldValidateMs,
    seqMs,
    baseMs: base?.ms ?? Number.NaN,
    rootsEqual:
      headerRoot === validateRoot &&
      (seqRoot === undefined || headerRoot === seqRoot) &&
      (base === undefined || headerRoot === base.root),
  };
}

async function main(): Promise<void> {
  const chain = await makeChain(SENDERS, { gasLimit: 2_000_000_000n });
  const sequential = new SequentialExecutor(chain.common);
  const parallel = new ParallelExecutor(chain.common, { workers: WORKERS });
  await parallel.ready();
  const rows: Record<string, unknown>[] = [];
  for (const name of WORKLOADS) {
    const txs = benchWorkload(chain, name, TXS, SENDERS, (done) => progress(`sign ${name}`, done, TXS));
    // Warm-up on a small block of the same workload (JIT, worker caches), for every path alike.
    await runOnce(chain, sequential, parallel, name, txs.slice(0, Math.min(WARMUP_TXS, SENDERS)), false);
    const reps: Timings[] = [];
    // The first full-size block is also validated once untimed: a validator's workers validate
    // block after block, while here they may have run little of this workload yet (building a
    // block whose transactions all conflict runs them on the main thread, not the workers).
    for (let r = 0; r < REPS; r++)
      reps.push(await runOnce(chain, sequential, parallel, name, txs, r === 0, r === 0));
    const median = (key: Exclude<keyof Timings, "rootsEqual" | "coldValidateMs">) => {
      const sorted = reps.map((t) => t[key]).sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)] as number;
    };
    const [buildMs, validateMs, seqMs, baseMs] = [
      median("buildMs"),
      median("validateMs"),
      median("seqMs"),
      median("baseMs"),
    ];
    const rootsEqual = reps.every((t) => t.rootsEqual);
    const tps = (ms: number) => (Number.isNaN(ms) ? null : Math.round((TXS / ms) * 1000));
    rows.push({
      workload: name,
      txs: TXS,
      workers: WORKERS,
      baseline_tps: tps(baseMs),
      sequential_tps: tps(seqMs),
      validate_tps: tps(validateMs),
      validate_cold_tps: tps(reps[0]?.coldValidateMs ?? Number.NaN),
      build_tps: tps(buildMs),
      speedup_validate_vs_baseline: Number.isNaN(baseMs)
        ? null
        : Math.round((baseMs / validateMs) * 100) / 100,
      roots_equal: rootsEqual,
    });
    const row = rows[rows.length - 1] as Record<string, unknown>;
    if (JSON_OUT) console.log(JSON.stringify(row));
    else if (process.env.BENCH_DEBUG) console.error(parallel.lastBuild);
  }
  if (!JSON_OUT) console.table(rows);
  await parallel.close();
}

await main();
