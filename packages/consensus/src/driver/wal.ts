import { open, readFile, rename, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { type RlpDecoded, rlpDecode, rlpEncode } from "@meridian/primitives";
import { decodeMessage, encodeProposal, encodeVote } from "../codec/wire.ts";
import type { ConsensusInput } from "../core/input.ts";
import { ConsensusError, ConsensusErrorCode } from "../errors.ts";
import { fsyncDirectory } from "../signer/store.ts";
import type { TimeoutKind } from "../types.ts";

/** The inputs the WAL records; StartHeight and BlockCommitted are rebuilt from the application. */
export type LoggedInput = Exclude<ConsensusInput, { type: "StartHeight" } | { type: "BlockCommitted" }>;

/** The decided proposal and the commit's precommits as wire messages: what a lagging peer needs. */
export type DecisionProof = { proposal: Uint8Array; precommits: readonly Uint8Array[] };

/**
 * An input, or the end-of-height marker written once the height's block is committed. The
 * marker carries the height's decision proof, so a restarted node can still help peers one
 * height behind.
 */
export type WalRecord =
  | { type: "input"; input: LoggedInput }
  | { type: "endHeight"; height: bigint; proof: DecisionProof | null };

export interface Wal {
  /** Appends a record; with `sync` it is on disk when the promise resolves. */
  append(record: WalRecord, sync: boolean): Promise<void>;
  /** The inputs logged for `height`: those after the end-of-height marker of `height - 1`. */
  inputsFor(height: bigint): Promise<LoggedInput[]>;
  /** The latest end-of-height marker, if any. */
  lastEndHeight(): Promise<{ height: bigint; proof: DecisionProof | null } | null>;
  close(): Promise<void>;
}

const FRAME_HEADER = 8;
/** A frame holds one input; the largest is a proposal with its value. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const TIMEOUT_KINDS: readonly TimeoutKind[] = ["propose", "prevote", "precommit", "commit"];

const RecordTag = {
  Proposal: 1,
  Vote: 2,
  Timeout: 3,
  ValueReady: 4,
  Validated: 5,
  EndHeight: 0xff,
} as const;

/** Frame: crc32 of the payload (4 bytes BE), payload length (4 bytes BE), payload (RLP). */
export function encodeFrame(record: WalRecord): Uint8Array {
  const payload = rlpEncode(recordFields(record));
  const frame = new Uint8Array(FRAME_HEADER + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, crc32(payload));
  view.setUint32(4, payload.length);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

function recordFields(record: WalRecord): (Uint8Array | bigint | number | Uint8Array[])[] {
  if (record.type === "endHeight") {
    const proof = record.proof;
    return proof === null
      ? [RecordTag.EndHeight, record.height]
      : [RecordTag.EndHeight, record.height, proof.proposal, [...proof.precommits]];
  }
  const input = record.input;
  switch (input.type) {
    case "Proposal":
      return [RecordTag.Proposal, encodeProposal(input.proposal), input.proposal.proposer];
    case "Vote":
      return [RecordTag.Vote, encodeVote(input.vote), input.vote.validator];
    case "TimeoutFired":
      return [
        RecordTag.Timeout,
        TIMEOUT_KINDS.indexOf(input.timeout.kind),
        input.timeout.height,
        input.timeout.round,
      ];
    case "ValueReady":
      return [RecordTag.ValueReady, input.height, input.round, input.valueId, input.value];
    case "ProposalValidated":
      return [RecordTag.Validated, input.height, input.valueId, input.valid ? 1 : 0];
  }
}

function corrupt(details: string, cause?: unknown): never {
  throw new ConsensusError("corrupt WAL record", { code: ConsensusErrorCode.WalCorrupt, details, cause });
}

function asBytes(item: RlpDecoded | undefined): Uint8Array {
  if (!(item instanceof Uint8Array)) return corrupt("expected bytes");
  return item;
}

function asInt(item: RlpDecoded | undefined): bigint {
  const b = asBytes(item);
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

export function decodeRecord(payload: Uint8Array): WalRecord {
  let decoded: RlpDecoded;
  try {
    decoded = rlpDecode(payload, MAX_FRAME_BYTES);
  } catch (cause) {
    return corrupt("malformed rlp", cause);
  }
  if (!Array.isArray(decoded)) return corrupt("record is not a list");
  const tag = Number(asInt(decoded[0]));
  switch (tag) {
    case RecordTag.EndHeight: {
      const precommits = decoded[3];
      const proof =
        decoded.length >= 4 && Array.isArray(precommits)
          ? { proposal: asBytes(decoded[2]).slice(), precommits: precommits.map((p) => asBytes(p).slice()) }
          : null;
      return { type: "endHeight", height: asInt(decoded[1]), proof };
    }
    case RecordTag.Proposal: {
      const msg = decodeMessage(asBytes(decoded[1]));
      if (msg.type !== "proposal") return corrupt("expected a proposal");
      return {
        type: "input",
        input: { type: "Proposal", proposal: { ...msg.proposal, proposer: asBytes(decoded[2]).slice() } },
      };
    }
    case RecordTag.Vote: {
      const msg = decodeMessage(asBytes(decoded[1]));
      if (msg.type !== "vote") return corrupt("expected a vote");
      return {
        type: "input",
        input: { type: "Vote", vote: { ...msg.vote, validator: asBytes(decoded[2]).slice() } },
      };
    }
    case RecordTag.Timeout: {
      const kind = TIMEOUT_KINDS[Number(asInt(decoded[1]))];
      if (kind === undefined) return corrupt("unknown timeout kind");
      return {
        type: "input",
        input: {
          type: "TimeoutFired",
          timeout: { kind, height: asInt(decoded[2]), round: Number(asInt(decoded[3])) },
        },
      };
    }
    case RecordTag.ValueReady:
      return {
        type: "input",
        input: {
          type: "ValueReady",
          height: asInt(decoded[1]),
          round: Number(asInt(decoded[2])),
          valueId: asBytes(decoded[3]).slice(),
          value: asBytes(decoded[4]).slice(),
        },
      };
    case RecordTag.Validated:
      return {
        type: "input",
        input: {
          type: "ProposalValidated",
          height: asInt(decoded[1]),
          valueId: asBytes(decoded[2]).slice(),
          valid: asInt(decoded[3]) === 1n,
        },
      };
    default:
      return corrupt(`unknown record tag ${tag}`);
  }
}

export type ScanResult = { records: WalRecord[]; validBytes: number; tornBytes: number };

/**
 * Reads frames from `data`. A frame that runs past the end or fails its CRC as the last frame
 * is a write torn by a crash: it and anything after it are reported as `tornBytes` to truncate.
 * A bad frame followed by more data is corruption, not a torn write, and throws WalCorrupt.
 */
export function scanFrames(data: Uint8Array): ScanResult {
  const records: WalRecord[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at < data.length) {
    if (data.length - at < FRAME_HEADER) break;
    const crc = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (length > MAX_FRAME_BYTES) {
      if (at + FRAME_HEADER + length >= data.length) break;
      corrupt(`frame of ${length} bytes at offset ${at}`);
    }
    const end = at + FRAME_HEADER + length;
    if (end > data.length) break;
    const payload = data.subarray(at + FRAME_HEADER, end);
    if (crc32(payload) !== crc) {
      if (end === data.length) break;
      corrupt(`crc mismatch at offset ${at}`);
    }
    records.push(decodeRecord(payload));
    at = end;
  }
  return { records, validBytes: at, tornBytes: data.length - at };
}

function lastMarker(records: readonly WalRecord[]): { height: bigint; proof: DecisionProof | null } | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i] as WalRecord;
    if (r.type === "endHeight") return { height: r.height, proof: r.proof };
  }
  return null;
}

function inputsAfterMarker(records: readonly WalRecord[], height: bigint): LoggedInput[] {
  let start = 0;
  let stop = records.length;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as WalRecord;
    if (r.type !== "endHeight") continue;
    if (r.height === height - 1n) start = i + 1;
    if (r.height >= height && stop === records.length) stop = i;
  }
  const inputs: LoggedInput[] = [];
  for (let i = start; i < stop; i++) {
    const r = records[i] as WalRecord;
    if (r.type === "input") inputs.push(r.input);
  }
  return inputs;
}

/** The simulator's WAL: the same frames in memory, surviving a simulated crash of its node. */
export class MemoryWal implements Wal {
  private frames: Uint8Array[] = [];
  async append(record: WalRecord, _sync: boolean): Promise<void> {
    if (record.type === "endHeight") this.frames = [];
    this.frames.push(encodeFrame(record));
  }
  async inputsFor(height: bigint): Promise<LoggedInput[]> {
    return inputsAfterMarker(
      this.frames.map((f) => decodeRecord(f.subarray(FRAME_HEADER))),
      height,
    );
  }
  async lastEndHeight(): Promise<{ height: bigint; proof: DecisionProof | null } | null> {
    return lastMarker(this.frames.map((f) => decodeRecord(f.subarray(FRAME_HEADER))));
  }
  async close(): Promise<void> {}
}

export type FileWalOptions = {
  /** After an end-of-height marker, a file larger than this is rewritten to hold just the marker. */
  rotateBytes?: number;
};

/** The WAL in one append-only file; see scanFrames for how a crash's torn tail is handled. */
export class FileWal implements Wal {
  readonly path: string;
  /** Bytes cut from the end when the file was opened (a torn last frame). */
  readonly truncatedBytes: number;
  private records: WalRecord[];
  private size: number;
  private handle: Awaited<ReturnType<typeof open>>;
  private readonly rotateBytes: number;
  /** The last append in progress; the next one starts after it. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    path: string,
    handle: Awaited<ReturnType<typeof open>>,
    scan: ScanResult,
    opts: FileWalOptions,
  ) {
    this.path = path;
    this.handle = handle;
    this.records = scan.records;
    this.size = scan.validBytes;
    this.truncatedBytes = scan.tornBytes;
    this.rotateBytes = opts.rotateBytes ?? 64 * 1024 * 1024;
  }

  static async open(path: string, opts: FileWalOptions = {}): Promise<FileWal> {
    let created = false;
    let data: Uint8Array;
    try {
      const buf = await readFile(path);
      // A plain Uint8Array view: decoded fields are sliced from it and must not be Buffers.
      data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      data = new Uint8Array(0);
      created = true;
    }
    const scan = scanFrames(data);
    const handle = await open(path, created ? "w+" : "r+");
    if (scan.tornBytes > 0) {
      await handle.truncate(scan.validBytes);
      await handle.sync();
    }
    if (created) {
      await handle.sync();
      fsyncDirectory(dirname(path));
    }
    return new FileWal(path, handle, scan, opts);
  }

  /**
   * Appends run one at a time: the driver's loop and its finalize step (the end-of-height
   * marker) both append, and two writes at the same offset would overwrite each other.
   */
  append(record: WalRecord, sync: boolean): Promise<void> {
    const run = this.tail.then(() => this.appendNow(record, sync));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async appendNow(record: WalRecord, sync: boolean): Promise<void> {
    const frame = encodeFrame(record);
    await this.handle.write(frame, 0, frame.length, this.size);
    this.size += frame.length;
    if (record.type === "endHeight") {
      this.records = [record];
      if (this.size > this.rotateBytes) {
        await this.rotate(frame);
        return;
      }
    } else this.records.push(record);
    if (sync) await this.handle.sync();
  }

  /** Replaces the file by one holding only the latest end-of-height marker. */
  private async rotate(marker: Uint8Array): Promise<void> {
    const dir = dirname(this.path);
    const tmp = join(dir, `${basename(this.path)}.rotate`);
    const fresh = await open(tmp, "w+");
    await fresh.write(marker, 0, marker.length, 0);
    await fresh.sync();
    await this.handle.close();
    await rename(tmp, this.path);
    fsyncDirectory(dir);
    this.handle = fresh;
    this.size = marker.length;
  }

  async inputsFor(height: bigint): Promise<LoggedInput[]> {
    return inputsAfterMarker(this.records, height);
  }

  async lastEndHeight(): Promise<{ height: bigint; proof: DecisionProof | null } | null> {
    return lastMarker(this.records);
  }

  async fileSize(): Promise<number> {
    return (await stat(this.path)).size;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle.close();
  }
}
