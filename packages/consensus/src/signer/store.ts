import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { bytesToHex, hexToBytes, isHex } from "@meridian/primitives";
import { ConsensusError, ConsensusErrorCode } from "../errors.ts";

/** Step of a sign request within a round, in the order they are signed (CometBFT's stepPropose…). */
export const SignStep = { Propose: 1, Prevote: 2, Precommit: 3 } as const;
export type SignStep = (typeof SignStep)[keyof typeof SignStep];

/** What the signer signed last: persisted before the signature leaves the signer. */
export type LastSignState = {
  height: bigint;
  round: number;
  step: SignStep;
  signBytes: Uint8Array;
  signature: Uint8Array;
};

export interface SignerStateStore {
  load(): Promise<LastSignState | null>;
  /** Durable when the promise resolves. */
  save(state: LastSignState): Promise<void>;
}

/** Keeps the state in memory (the simulator keeps one per validator across simulated crashes). */
export class MemorySignerStateStore implements SignerStateStore {
  private state: LastSignState | null = null;
  async load(): Promise<LastSignState | null> {
    return this.state;
  }
  async save(state: LastSignState): Promise<void> {
    this.state = state;
  }
}

/**
 * The state as a JSON file, replaced atomically: write `path.tmp`, fsync it, rename over `path`,
 * fsync the directory so the rename itself survives a power loss (CometBFT issue #6031: without
 * the directory fsync the old state can come back and the validator double-signs).
 */
export class FileSignerStateStore implements SignerStateStore {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<LastSignState | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new ConsensusError(`cannot read signer state ${this.path}`, {
        code: ConsensusErrorCode.SignerState,
        cause: err,
      });
    }
    // A leftover temp file is a write that never got renamed: the state in `path` is the last one.
    await rm(`${this.path}.tmp`, { force: true });
    return parseSignerState(text);
  }

  async save(state: LastSignState): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.path}.tmp`;
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(exportSignerState(state));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.path);
    fsyncDirectory(dir);
  }
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The signing state as JSON, for moving a validator to another machine. */
export function exportSignerState(state: LastSignState): string {
  return JSON.stringify({
    height: state.height.toString(),
    round: state.round,
    step: state.step,
    signBytes: bytesToHex(state.signBytes),
    signature: bytesToHex(state.signature),
  });
}

/** Parses exported signing state; throws SignerState on anything malformed. */
export function parseSignerState(json: string): LastSignState {
  const fail = (details: string, cause?: unknown): never => {
    throw new ConsensusError("invalid signer state", {
      code: ConsensusErrorCode.SignerState,
      details,
      cause,
    });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (cause) {
    return fail("not JSON", cause);
  }
  if (typeof raw !== "object" || raw === null) return fail("not an object");
  const r = raw as Record<string, unknown>;
  if (typeof r.height !== "string" || !/^(0|[1-9][0-9]*)$/.test(r.height)) return fail("height");
  if (typeof r.round !== "number" || !Number.isSafeInteger(r.round) || r.round < 0) return fail("round");
  if (r.step !== 1 && r.step !== 2 && r.step !== 3) return fail("step");
  if (!isHex(r.signBytes) || !isHex(r.signature)) return fail("signBytes or signature");
  return {
    height: BigInt(r.height),
    round: r.round,
    step: r.step,
    signBytes: hexToBytes(r.signBytes),
    signature: hexToBytes(r.signature),
  };
}
