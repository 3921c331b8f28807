import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created = new Set<string>();

/** A fresh temp dir under os.tmpdir(); removed by removeTempDirs() (called from cleanupAll). */
export async function makeTempDir(prefix = "meridian-e2e-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  created.delete(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all([...created].map((d) => removeTempDir(d)));
}
