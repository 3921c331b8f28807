import { keccakF1600 } from "./keccak-f.ts";

/** Bytes absorbed per permutation by Keccak-256 (1600 - 2 * 256 bits). */
const RATE = 136;
const state = new Int32Array(50);
const lastBlock = new Uint8Array(RATE);

/** XORs the 17 little-endian lanes of `block[at .. at + RATE)` into the state. */
function absorb(block: Uint8Array, at: number): void {
  for (let w = 0; w < RATE / 4; w++) {
    const o = at + 4 * w;
    state[w] =
      (state[w] as number) ^
      ((block[o] as number) |
        ((block[o + 1] as number) << 8) |
        ((block[o + 2] as number) << 16) |
        ((block[o + 3] as number) << 24));
  }
}

/**
 * Keccak-256 (the original Keccak padding, as Ethereum uses, not SHA3-256's).
 * Synchronous and allocation-free but for the result, so one module-level
 * state serves every call; about twice as fast as @noble/hashes' keccak_256,
 * which the tests compare it with.
 */
export function keccak256(data: Uint8Array): Uint8Array {
  state.fill(0);
  const full = data.length - (data.length % RATE);
  for (let at = 0; at < full; at += RATE) {
    absorb(data, at);
    keccakF1600(state);
  }
  lastBlock.fill(0);
  lastBlock.set(data.subarray(full));
  lastBlock[data.length - full] = 0x01;
  lastBlock[RATE - 1] = (lastBlock[RATE - 1] as number) | 0x80;
  absorb(lastBlock, 0);
  keccakF1600(state);
  const out = new Uint8Array(32);
  for (let w = 0; w < 8; w++) {
    const v = state[w] as number;
    out[4 * w] = v;
    out[4 * w + 1] = v >>> 8;
    out[4 * w + 2] = v >>> 16;
    out[4 * w + 3] = v >>> 24;
  }
  return out;
}

/** keccak256 of the empty string: the code hash of an account without code. */
export const KECCAK256_EMPTY: Uint8Array = keccak256(new Uint8Array(0));
