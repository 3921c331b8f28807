/** Shared fixtures for the parallel executor tests and benchmark: a funded chain and small contracts. */
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Block } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import { createFeeMarket1559Tx, type TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex, setLengthLeft } from "@ethereumjs/util";
import {
  type BuildRequest,
  buildGenesis,
  chainCommon,
  type ParallelExecutedBlock,
  parseGenesis,
  type TxCandidate,
  type TxSource,
} from "@meridian/executor";
import { keccak256, privateKeyToAddress } from "@meridian/primitives";
import { FlatStateManager, FlatStateStore } from "@meridian/state";
import { ChainDatabase } from "@meridian/storage";

const SOURCE = `
pragma solidity ^0.8.20;
contract Token {
  mapping(address => uint256) public balanceOf;
  event Transfer(address indexed from, address indexed to, uint256 value);
  function transfer(address to, uint256 v) external returns (bool) {
    require(balanceOf[msg.sender] >= v, "balance");
    balanceOf[msg.sender] -= v; balanceOf[to] += v;
    emit Transfer(msg.sender, to, v); return true;
  }
}
contract Hot {
  uint256 public n;
  function bump() external { n += 1; }
  // Writes the slot and restores it in one transaction: the EIP-2200 "original value" refund path
  // (a parallel-state bug here was found by the conformance runner, not by this generator).
  function blip() external { assembly { let v := sload(n.slot) sstore(n.slot, add(v, 7)) sstore(n.slot, v) } }
}
contract Relay {
  function relay(address t, bytes calldata d) external returns (bytes memory) {
    (bool ok, bytes memory r) = t.call(d); require(ok, "inner"); return r;
  }
  function readCoinbase() external returns (uint256 b) { b = block.coinbase.balance; emit Seen(b); }
  event Seen(uint256 b);
  function pay(address to) external payable { payable(to).transfer(msg.value); }
}
contract Child { constructor() payable {} function kill(address to) external { selfdestruct(payable(to)); } }
contract Factory {
  function make(uint256 salt, bool kill) external payable returns (address c) {
    Child ch = salt == 0 ? new Child{value: msg.value}() : new Child{salt: bytes32(salt), value: msg.value}();
    if (kill) ch.kill(msg.sender);
    return address(ch);
  }
  function burn() external pure { uint256 i; while (true) { i++; } }
  function fail() external pure { revert("no"); }
}`;

export type Contracts = Record<
  "Token" | "Hot" | "Relay" | "Factory",
  { address: Uint8Array; runtime: string }
>;

let compiled: Record<string, string> | undefined;
export function compile(): Record<string, string> {
  if (compiled) return compiled;
  const solc = createRequire(import.meta.url)("solc") as { compile(input: string): string };
  const out = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: "Solidity",
        sources: { "c.sol": { content: SOURCE } },
        settings: {
          evmVersion: "cancun",
          optimizer: { enabled: true, runs: 200 },
          outputSelection: { "*": { "*": ["evm.deployedBytecode.object"] } },
        },
      }),
    ),
  ) as { contracts: Record<string, Record<string, { evm: { deployedBytecode: { object: string } } }>> };
  compiled = {};
  for (const [name, c] of Object.entries(out.contracts["c.sol"] ?? {}))
    compiled[name] = c.evm.deployedBytecode.object;
  return compiled;
}

export const addr = (n: number, prefix = 0xc0): Uint8Array => {
  const a = new Uint8Array(20);
  a[0] = prefix;
  a[18] = (n >> 8) & 0xff;
  a[19] = n & 0xff;
  return a;
};

/** ERC-20 balance slot of `holder` (mapping at slot 0). */
export const balanceSlot = (holder: Uint8Array): Uint8Array =>
  keccak256(new Uint8Array([...setLengthLeft(holder, 32), ...new Uint8Array(32)]));

export type Chain = {
  common: Common;
  store: FlatStateStore;
  genesis: Block;
  keys: Uint8Array[];
  senders: Uint8Array[];
  contracts: Contracts;
  coinbase: Uint8Array;
  fresh(): FlatStateManager;
};

export async function makeChain(
  nKeys: number,
  opts: { gasLimit?: bigint; tokenHolders?: number } = {},
): Promise<Chain> {
  const dir = await mkdtemp(join(tmpdir(), "meridian-par-"));
  const db = await ChainDatabase.open(join(dir, "db"));
  const store = new FlatStateStore(db);
  const json = JSON.parse(readFileSync(new URL("../../genesis/devnet.json", import.meta.url), "utf8"));
  json.gasLimit = `0x${(opts.gasLimit ?? 30_000_000n).toString(16)}`;
  const keys: Uint8Array[] = [];
  const senders: Uint8Array[] = [];
  for (let i = 0; i < nKeys; i++) {
    const k = keccak256(new TextEncoder().encode(`meridian-test-key-${i}`));
    keys.push(k);
    const a = privateKeyToAddress(k);
    senders.push(a);
    json.alloc[bytesToHex(a)] = { balance: "0x21e19e0c9bab2400000" };
  }
  const code = compile();
  const contracts = {} as Contracts;
  const names = ["Token", "Hot", "Relay", "Factory"] as const;
  for (const [i, name] of names.entries()) {
    const a = addr(i + 1, 0xcc + i);
    contracts[name] = { address: a, runtime: code[name] as string };
    const storage: Record<string, string> = {};
    if (name === "Token") {
      for (const s of senders.slice(0, opts.tokenHolders ?? senders.length))
        storage[bytesToHex(balanceSlot(s))] = "0x0f4240";
    }
    json.alloc[bytesToHex(a)] = { balance: "0x0", code: `0x${code[name]}`, storage };
  }
  const spec = parseGenesis(json, "test-genesis");
  const common = chainCommon(spec);
  const genesis = await buildGenesis(spec, store, common);
  const batch = db.batch();
  const { cacheUpdate } = await genesis.state.writeTo(batch);
  await db.write(batch);
  store.applyCommitted(cacheUpdate);
  const root = genesis.block.header.stateRoot;
  return {
    common,
    store,
    genesis: genesis.block,
    keys,
    senders,
    contracts,
    coinbase: senders[0] as Uint8Array,
    fresh: () => new FlatStateManager(store, root),
  };
}

export function signTx(
  chain: Chain,
  from: number,
  nonce: bigint,
  to: Uint8Array | undefined,
  opts: { value?: bigint; data?: Uint8Array; gasLimit?: bigint; tip?: bigint } = {},
): TypedTransaction {
  return createFeeMarket1559Tx(
    {
      nonce,
      to,
      value: opts.value ?? 0n,
      data: opts.data ?? new Uint8Array(0),
      gasLimit: opts.gasLimit ?? 21_000n,
      maxFeePerGas: 10_000_000_000n,
      maxPriorityFeePerGas: opts.tip ?? 1_000_000n,
      chainId: chain.common.chainId(),
    },
    { common: chain.common },
  ).sign(chain.keys[from] as Uint8Array);
}

/**
 * Builds block 1 on the chain's genesis from `txs` (in order) with `executor`. Without
 * `senders`, each sender is recovered here first (as mempool admission does).
 */
export function buildOnGenesis(
  chain: Chain,
  executor: { build(req: BuildRequest): Promise<ParallelExecutedBlock> },
  txs: TypedTransaction[],
  senders?: Uint8Array[],
): Promise<ParallelExecutedBlock> {
  return executor.build({
    parent: chain.genesis,
    state: chain.fresh(),
    timestamp: chain.genesis.header.timestamp + 1n,
    coinbase: chain.coinbase,
    txs: listSource(txs, senders),
  });
}

export function listSource(txs: TypedTransaction[], senders?: Uint8Array[]): TxSource {
  const queue: TxCandidate[] = txs.map((tx, i) => ({
    tx,
    sender: senders?.[i] ?? tx.getSenderAddress().bytes,
  }));
  let i = 0;
  return { peek: () => queue[i], shift: () => void i++, pop: () => void i++ };
}

export const selector = (sig: string): Uint8Array => keccak256(new TextEncoder().encode(sig)).subarray(0, 4);
export const word = (v: bigint | Uint8Array): Uint8Array =>
  typeof v === "bigint"
    ? setLengthLeft(
        Buffer.from(
          v
            .toString(16)
            .padStart(2, "0")
            .replace(/^(.(..)*)$/, "0$1"),
          "hex",
        ),
        32,
      )
    : setLengthLeft(v, 32);
export const call = (sig: string, ...args: (bigint | Uint8Array)[]): Uint8Array =>
  new Uint8Array([...selector(sig), ...args.flatMap((a) => [...word(a)])]);

/** The benchmarks' workloads (see test/bench/executor.bench.ts). */
export type BenchWorkload = "eth-transfers" | "erc20-transfers" | "hot-slot" | "mixed";

/**
 * `count` signed transactions of a benchmark workload: senders take turns (nonce chains of
 * count / senders each), transfers go to fresh addresses, `hot-slot` increments one slot and
 * `mixed` does that every 5th transaction. `onSigned` is told how many are signed, now and then.
 */
export function benchWorkload(
  chain: Chain,
  name: BenchWorkload,
  count: number,
  senders: number,
  onSigned?: (done: number) => void,
): TypedTransaction[] {
  const nonces = new Array<bigint>(senders).fill(0n);
  const txs: TypedTransaction[] = [];
  for (let i = 0; i < count; i++) {
    const from = i % senders;
    const n = nonces[from] as bigint;
    nonces[from] = n + 1n;
    const to = new Uint8Array(20);
    to[0] = 0xab;
    to.set(Buffer.from(i.toString(16).padStart(8, "0"), "hex"), 12);
    const hot = name === "hot-slot" || (name === "mixed" && i % 5 === 0);
    if (hot)
      txs.push(
        signTx(chain, from, n, chain.contracts.Hot.address, { data: call("bump()"), gasLimit: 60_000n }),
      );
    else if (name === "erc20-transfers")
      txs.push(
        signTx(chain, from, n, chain.contracts.Token.address, {
          data: call("transfer(address,uint256)", to, 1n),
          gasLimit: 80_000n,
        }),
      );
    else txs.push(signTx(chain, from, n, to, { value: 1n }));
    if (i % 200 === 0) onSigned?.(i);
  }
  onSigned?.(count);
  return txs;
}
