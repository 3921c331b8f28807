import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireDatadirLock, DATADIR_LOCK_FILE } from "../src/index.ts";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "meridian-lock-unit-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("acquireDatadirLock", () => {
  it("is exclusive, names the holder, and is free again after release", async () => {
    const dir = tmp();
    const lock = await acquireDatadirLock(dir, "test holder");
    await expect(acquireDatadirLock(dir)).rejects.toMatchObject({
      code: "DATADIR_LOCKED",
      shortMessage: `${dir} is in use by another process (pid ${process.pid}, test holder)`,
    });
    await lock.release();
    expect(existsSync(join(dir, DATADIR_LOCK_FILE))).toBe(false);
    const again = await acquireDatadirLock(dir);
    await again.release();
  });

  it("takes over a lock whose holder is gone (dead pid, or same pid from a previous boot)", async () => {
    const dir = tmp();
    const path = join(dir, DATADIR_LOCK_FILE);
    // pid 2^22+1 is above Linux's pid_max default range for a live process in this sandbox.
    writeFileSync(path, JSON.stringify({ pid: 4_194_305, command: "crashed" }));
    const lock = await acquireDatadirLock(dir);
    expect(JSON.parse(readFileSync(path, "utf8")).pid).toBe(process.pid);
    await lock.release();
    // Our own pid recorded by a process that is not us (a container restarted as the same pid).
    writeFileSync(path, JSON.stringify({ pid: process.pid, bootId: "old-boot", startTime: "1" }));
    const lock2 = await acquireDatadirLock(dir);
    await lock2.release();
  });

  it("treats a live foreign holder and an unreadable lock file as held", async () => {
    const dir = tmp();
    const path = join(dir, DATADIR_LOCK_FILE);
    writeFileSync(path, JSON.stringify({ pid: process.ppid }));
    await expect(acquireDatadirLock(dir)).rejects.toMatchObject({ code: "DATADIR_LOCKED" });
    writeFileSync(path, "");
    await expect(acquireDatadirLock(dir)).rejects.toMatchObject({ code: "DATADIR_LOCKED" });
    expect(readFileSync(path, "utf8")).toBe("");
  });
});
