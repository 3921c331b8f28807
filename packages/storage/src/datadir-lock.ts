/**
 * The data directory lock: one file, `<datadir>/meridian.lock`, created
 * exclusively (O_EXCL) by whoever is about to read, write or delete anything in
 * the directory (a running node, `devnet --reset`, `init`, `keys new|import`)
 * and removed when it is done. LevelDB's own LOCK only covers `chaindata/` and
 * only once the database is open, which is too late for `--reset`.
 *
 * Node has no flock(), so a crashed holder (kill -9) leaves the file behind. It
 * records the holder's pid and, on Linux, the boot id and the process start time
 * from /proc, so a leftover file is recognised as stale even when the pid has
 * been reused (containers restart as the same small pid).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { StorageError } from "./database.ts";

export const DATADIR_LOCK_FILE = "meridian.lock";

type LockOwner = { pid: number; bootId?: string; startTime?: string; command?: string };

export interface DatadirLock {
  readonly path: string;
  /** Removes the lock file (idempotent). */
  release(): Promise<void>;
}

/** Lock files this process holds: a second acquire from the same process is refused too. */
const heldHere = new Set<string>();

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); undefined off Linux or if gone. */
function processStartTime(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return rest[19];
}

function ownSignature(command: string): LockOwner {
  const owner: LockOwner = { pid: process.pid, command };
  const bootId = readProc("/proc/sys/kernel/random/boot_id")?.trim();
  const startTime = processStartTime(process.pid);
  if (bootId !== undefined && startTime !== undefined) {
    owner.bootId = bootId;
    owner.startTime = startTime;
  }
  return owner;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    return typeof v.pid === "number" && Number.isSafeInteger(v.pid) && v.pid > 0
      ? (v as LockOwner)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process recorded in a lock file is still running (conservative: unsure means alive). */
function ownerAlive(owner: LockOwner, lockPath: string): boolean {
  if (owner.pid === process.pid) return heldHere.has(lockPath);
  if (owner.bootId !== undefined && owner.startTime !== undefined) {
    const bootId = readProc("/proc/sys/kernel/random/boot_id")?.trim();
    if (bootId !== undefined) {
      if (bootId !== owner.bootId) return false; // written before a reboot
      return processStartTime(owner.pid) === owner.startTime;
    }
  }
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function lockedError(datadir: string, owner: LockOwner | undefined): StorageError {
  const who = owner ? ` (pid ${owner.pid}${owner.command ? `, ${owner.command}` : ""})` : "";
  return new StorageError("DATADIR_LOCKED", `${datadir} is in use by another process${who}`, {
    details: `stop that process first; the lock is ${join(datadir, DATADIR_LOCK_FILE)}`,
  });
}

async function tryCreate(path: string, owner: LockOwner): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    await fh.writeFile(`${JSON.stringify(owner)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/**
 * Takes the lock of `datadir` (creating the directory if needed) or throws
 * `DATADIR_LOCKED` naming the holder. `command` is recorded for that message.
 */
export async function acquireDatadirLock(datadir: string, command = "meridian"): Promise<DatadirLock> {
  const dir = resolve(datadir);
  const path = join(dir, DATADIR_LOCK_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const me = ownSignature(command);
  // Two rounds: the second runs after a stale file was moved aside.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryCreate(path, me)) {
      heldHere.add(path);
      return makeLock(path);
    }
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile
      throw err;
    }
    const owner = parseOwner(text);
    // A file being written right now reads empty: treat it as held, never as stale.
    if (owner === undefined || ownerAlive(owner, path)) throw lockedError(dir, owner);
    // Stale: move it aside, and put it back if what was moved is not what was judged stale
    // (another process replaced it in between).
    const aside = `${path}.stale-${randomBytes(4).toString("hex")}`;
    try {
      await rename(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    const moved = await readFile(aside, "utf8").catch(() => "");
    if (moved !== text) {
      await link(aside, path).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      throw lockedError(dir, parseOwner(moved));
    }
    await unlink(aside).catch(() => undefined);
  }
  throw lockedError(dir, undefined);
}

function makeLock(path: string): DatadirLock {
  let released: Promise<void> | undefined;
  return {
    path,
    release() {
      released ??= (async () => {
        heldHere.delete(path);
        const owner = parseOwner(await readFile(path, "utf8").catch(() => ""));
        // Never remove a lock that is no longer ours.
        if (owner?.pid === process.pid) await unlink(path).catch(() => undefined);
      })();
      return released;
    },
  };
}
