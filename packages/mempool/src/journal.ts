/**
 * The transaction journal (geth's `transactions.rlp`): every transaction the pool admits is
 * appended, as one RLP byte string, before its hash goes back to the sender. On start the node
 * re-admits the journal's transactions against the new head (mined and now-invalid ones are
 * refused and dropped) and rewrites the file with what the pool kept.
 *
 * Durability: an append is one write(2) to a file opened O_APPEND, done synchronously before
 * the admission resolves, so an acknowledged transaction survives the process being killed
 * (kill -9, OOM). The file is fsynced at most `fsyncIntervalMs` after an append (default 1 s)
 * and on close, so a power loss can lose the last second of acknowledged transactions.
 * Rotation writes a temporary file, fsyncs it and renames it over the journal.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { type Logger, MeridianError, rlpEncode, silentLogger } from "@meridian/primitives";

export type TxJournalOptions = {
  logger?: Logger;
  /** Longest time an append waits for its fsync (default 1000 ms). */
  fsyncIntervalMs?: number;
  /** Records longer than this end the replay (default 1 MiB; the pool admits at most 128 KiB). */
  maxRecordBytes?: number;
};

/** Where the journal's RLP stream stops being readable: the torn tail of a crash, or garbage. */
function readRecords(
  data: Uint8Array,
  maxRecordBytes: number,
): { records: Uint8Array[]; validBytes: number } {
  const records: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    const b = data[at]!;
    let start: number;
    let len: number;
    if (b < 0x80) {
      start = at;
      len = 1;
    } else if (b <= 0xb7) {
      start = at + 1;
      len = b - 0x80;
    } else if (b <= 0xbf) {
      const lenOfLen = b - 0xb7;
      if (lenOfLen > 4 || at + 1 + lenOfLen > data.length) break;
      len = 0;
      for (let i = 0; i < lenOfLen; i++) len = len * 256 + data[at + 1 + i]!;
      start = at + 1 + lenOfLen;
    } else {
      break; // a list is never a record
    }
    if (len === 0 || len > maxRecordBytes || start + len > data.length) break;
    records.push(data.subarray(start, start + len));
    at = start + len;
  }
  return { records, validBytes: at };
}

export class TxJournal {
  readonly path: string;
  private fd: number | undefined;
  private dirty = false;
  private readonly timer: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly maxRecordBytes: number;

  constructor(path: string, opts: TxJournalOptions = {}) {
    this.path = path;
    this.log = (opts.logger ?? silentLogger).child({ module: "txjournal" });
    this.maxRecordBytes = opts.maxRecordBytes ?? 1024 * 1024;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => this.flush(), opts.fsyncIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** The journal's transactions in the order they were admitted (empty when there is no file). */
  load(): Uint8Array[] {
    let data: Uint8Array;
    try {
      const file = readFileSync(this.path);
      // Plain Uint8Array views, not Buffers: callers compare and hash them as bytes.
      data = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new MeridianError(`cannot read the transaction journal ${this.path}`, {
        code: "TXJOURNAL_UNREADABLE",
        cause: err,
      });
    }
    const { records, validBytes } = readRecords(data, this.maxRecordBytes);
    if (validBytes < data.length)
      this.log.warn("transaction journal ends in an unreadable record; ignoring the rest", {
        records: records.length,
        ignoredBytes: data.length - validBytes,
      });
    return records;
  }

  /**
   * Replaces the journal with `raws` (what the pool holds now) and opens it for appending.
   * Called once on start, after the replay, and then periodically to drop mined transactions.
   */
  rotate(raws: readonly Uint8Array[]): void {
    const tmp = `${this.path}.new`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      for (const raw of raws) writeSync(fd, rlpEncode(raw));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.syncDir();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = openSync(this.path, "a", 0o600);
    this.dirty = false;
  }

  /** Appends one admitted transaction; synchronous, so it is in the file when the sender hears back. */
  append(raw: Uint8Array): void {
    if (this.fd === undefined) return;
    const record = rlpEncode(raw);
    let written = 0;
    while (written < record.length) written += writeSync(this.fd, record, written);
    this.dirty = true;
  }

  flush(): void {
    if (!this.dirty || this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
      this.dirty = false;
    } catch (err) {
      this.log.error("transaction journal fsync failed", {}, err);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private syncDir(): void {
    try {
      const dfd = openSync(dirname(this.path), "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Not every platform can fsync a directory; the rename itself is atomic.
    }
  }
}
