import { type Common, createCustomCommon, Hardfork, Mainnet } from "@ethereumjs/common";
import { createTx, type TypedTransaction } from "@ethereumjs/tx";
import { bytesToHex, privateKeyToAddress } from "@meridian/primitives";
import { expect } from "vitest";
import { TxPool, type TxPoolOptions, TxRejectedError } from "../src/index.ts";

export const CHAIN_ID = 7331;
export const common = createCustomCommon({ chainId: CHAIN_ID }, Mainnet, { hardfork: Hardfork.Prague });
export const otherChain = createCustomCommon({ chainId: 1 }, Mainnet, { hardfork: Hardfork.Prague });
/** Pre-EIP-155 rules: signing yields an unprotected v = 27/28 legacy tx. */
export const preEip155 = createCustomCommon({ chainId: CHAIN_ID }, Mainnet, {
  hardfork: Hardfork.TangerineWhistle,
});

export const TO = `0x${"22".repeat(20)}` as const;
export const ETH = 10n ** 18n;

export function key(i: number): Uint8Array {
  const k = new Uint8Array(32);
  k[31] = i + 1;
  k[0] = 0x42;
  return k;
}

export function addr(i: number): Uint8Array {
  return privateKeyToAddress(key(i));
}

export function addrHex(i: number): string {
  return bytesToHex(addr(i));
}

type Fields = {
  nonce: number | bigint;
  gas?: bigint;
  value?: bigint;
  data?: Uint8Array;
  to?: `0x${string}` | null;
};

/** Signed EIP-1559 tx from account `i`. */
export function tx1559(
  i: number,
  f: Fields & { maxFee: bigint; tip: bigint },
  c: Common = common,
  extra: { allowUnlimitedInitCodeSize?: boolean } = {},
): TypedTransaction {
  return createTx(
    {
      type: 2,
      nonce: BigInt(f.nonce),
      maxFeePerGas: f.maxFee,
      maxPriorityFeePerGas: f.tip,
      gasLimit: f.gas ?? 21_000n,
      to: f.to === null ? undefined : (f.to ?? TO),
      value: f.value ?? 0n,
      data: f.data ?? new Uint8Array(),
    },
    { common: c, ...extra },
  ).sign(key(i));
}

/** Signed legacy tx (EIP-155 protected under `common`). */
export function txLegacy(i: number, f: Fields & { gasPrice: bigint }, c: Common = common): TypedTransaction {
  return createTx(
    {
      nonce: BigInt(f.nonce),
      gasPrice: f.gasPrice,
      gasLimit: f.gas ?? 21_000n,
      to: f.to === null ? undefined : (f.to ?? TO),
      value: f.value ?? 0n,
      data: f.data ?? new Uint8Array(),
    },
    { common: c },
  ).sign(key(i));
}

/** Signed EIP-2930 tx. */
export function tx2930(i: number, f: Fields & { gasPrice: bigint }): TypedTransaction {
  return createTx(
    {
      type: 1,
      nonce: BigInt(f.nonce),
      gasPrice: f.gasPrice,
      gasLimit: f.gas ?? 21_000n,
      to: f.to === null ? undefined : (f.to ?? TO),
      value: f.value ?? 0n,
      data: f.data ?? new Uint8Array(),
      accessList: [],
    },
    { common },
  ).sign(key(i));
}

/** In-memory head state; unknown accounts are empty. */
export class MemState {
  readonly accounts = new Map<string, { nonce: bigint; balance: bigint }>();

  set(address: Uint8Array, nonce: bigint, balance: bigint): void {
    this.accounts.set(bytesToHex(address), { nonce, balance });
  }

  async getAccount(address: Uint8Array): Promise<{ nonce: bigint; balance: bigint }> {
    return this.accounts.get(bytesToHex(address)) ?? { nonce: 0n, balance: 0n };
  }
}

export type Env = { pool: TxPool; state: MemState; gasLimit: { value: bigint }; baseFee: { value: bigint } };

/** A pool over accounts 0..9 funded with 1000 ETH at nonce 0. */
export function setup(opts: Partial<Omit<TxPoolOptions, "common" | "blockGasLimit" | "baseFee">> = {}): Env {
  const state = new MemState();
  for (let i = 0; i < 10; i++) state.set(addr(i), 0n, 1000n * ETH);
  const gasLimit = { value: 30_000_000n };
  const baseFee = { value: 0n };
  const pool = new TxPool(state, {
    common,
    blockGasLimit: () => gasLimit.value,
    baseFee: () => baseFee.value,
    ...opts,
  });
  return { pool, state, gasLimit, baseFee };
}

/** Serialisable view of the pool, to prove a rejection changed nothing. */
export function snapshot(pool: TxPool): unknown {
  const c = pool.content();
  const flat = (m: Map<string, Map<string, TypedTransaction>>) =>
    [...m].map(([s, byNonce]) => [s, [...byNonce].map(([n, t]) => [n, bytesToHex(t.hash())])]);
  return { status: pool.status(), pending: flat(c.pending), queued: flat(c.queued) };
}

/** Asserts `op` is rejected with the exact geth message and leaves the pool untouched. */
export async function expectRejected(
  pool: TxPool,
  op: () => Promise<unknown>,
  message: string,
): Promise<void> {
  const before = snapshot(pool);
  const err = await op().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TxRejectedError);
  const rejected = err as TxRejectedError;
  expect(rejected.code).toBe("TX_REJECTED");
  expect(rejected.shortMessage).toBe(message);
  expect(snapshot(pool)).toEqual(before);
}

/** Drains an iterator accepting everything; returns "sender:nonce" labels. */
export function drain(pool: TxPool, baseFee = 0n): string[] {
  const it = pool.pending(baseFee);
  const out: string[] = [];
  for (let p = it.peek(); p !== undefined; p = it.peek()) {
    out.push(`${bytesToHex(p.sender)}:${p.tx.nonce}`);
    it.shift();
  }
  return out;
}
