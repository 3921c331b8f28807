import { type AppInfo, keccak256, type ProcessProposalResult } from "@meridian/primitives";
import type {
  ConsensusApplication,
  FinalizeRequest,
  FinalizeResult,
  PrepareValueRequest,
  ProcessValueRequest,
} from "../application.ts";
import type { Prng } from "./prng.ts";

const VALID = 1;
const INVALID = 0;

/** A fake block: a validity flag, the height (8 bytes) and 16 random bytes. */
export function makeValue(rng: Prng, height: bigint, valid: boolean): Uint8Array {
  const out = new Uint8Array(25);
  out[0] = valid ? VALID : INVALID;
  new DataView(out.buffer).setBigUint64(1, height);
  out.set(rng.bytes(16), 9);
  return out;
}

/** The simulator's validity predicate: the flag, and the height the value was built for. */
export function isValidValue(value: Uint8Array, height: bigint): boolean {
  if (value.length !== 25 || value[0] !== VALID) return false;
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(1) === height;
}

export type FakeAppOptions = {
  rng: Prng;
  /** Byzantine: proposes invalid values half the time and accepts anything. */
  byzantine: boolean;
};

/** The application of one simulated node; its committed chain survives the node's crashes. */
export class FakeApplication implements ConsensusApplication {
  readonly chain: Uint8Array[] = [];
  private finalized: Uint8Array | null = null;
  private readonly opts: FakeAppOptions;

  constructor(opts: FakeAppOptions) {
    this.opts = opts;
  }

  lastCommittedHeight(): bigint {
    return BigInt(this.chain.length);
  }

  info(): AppInfo {
    const last = this.chain.at(-1);
    const blockHash = last === undefined ? new Uint8Array(32) : keccak256(last);
    return { height: this.lastCommittedHeight(), blockHash, appHash: blockHash };
  }

  async prepareProposal(req: PrepareValueRequest): Promise<Uint8Array> {
    const valid = !this.opts.byzantine || this.opts.rng.chance(0.5);
    return makeValue(this.opts.rng, req.height, valid);
  }

  async processProposal(req: ProcessValueRequest): Promise<ProcessProposalResult> {
    return this.opts.byzantine || isValidValue(req.value, req.height)
      ? { accept: true }
      : { accept: false, reason: "invalid value" };
  }

  async finalizeBlock(req: FinalizeRequest): Promise<FinalizeResult> {
    this.finalized = req.value;
    return { validatorUpdates: [] };
  }

  async commit(height: bigint): Promise<void> {
    if (this.finalized === null || height !== this.lastCommittedHeight() + 1n)
      throw new Error(`commit of height ${height} out of order`);
    this.chain.push(this.finalized);
    this.finalized = null;
  }
}
