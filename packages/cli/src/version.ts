/** `meridian version`: package, Node.js and (when known) git commit. */
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { packageVersion, REPO_ROOT } from "./common.ts";

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Reads .git directly (no git binary needed); undefined outside a checkout. */
export function gitCommit(root = REPO_ROOT): string | undefined {
  const env = process.env.MERIDIAN_GIT_COMMIT;
  if (env) return env;
  let gitDir = join(root, ".git");
  try {
    if (statSync(gitDir).isFile()) {
      const pointer = tryRead(gitDir)?.match(/^gitdir:\s*(.+)$/m)?.[1];
      if (!pointer) return undefined;
      gitDir = resolve(root, pointer);
    }
  } catch {
    return undefined;
  }
  const head = tryRead(join(gitDir, "HEAD"));
  if (!head) return undefined;
  if (/^[0-9a-f]{40}$/.test(head)) return head;
  const ref = head.match(/^ref:\s*(\S+)$/)?.[1];
  if (!ref) return undefined;
  const commonDir = tryRead(join(gitDir, "commondir"));
  for (const dir of commonDir ? [gitDir, resolve(gitDir, commonDir)] : [gitDir]) {
    const loose = tryRead(join(dir, ref));
    if (loose && /^[0-9a-f]{40}$/.test(loose)) return loose;
    const packed = tryRead(join(dir, "packed-refs"))
      ?.split("\n")
      .find((line) => line.endsWith(` ${ref}`));
    if (packed) return packed.slice(0, 40);
  }
  return undefined;
}

export type VersionInfo = { meridian: string; node: string; commit?: string };

export function versionInfo(): VersionInfo {
  const commit = gitCommit();
  return { meridian: packageVersion(), node: process.version, ...(commit ? { commit } : {}) };
}

export function runVersion(opts: { json?: boolean }): void {
  const info = versionInfo();
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  const lines = [`meridian ${info.meridian}`, `node     ${info.node}`];
  if (info.commit) lines.push(`commit   ${info.commit}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}
