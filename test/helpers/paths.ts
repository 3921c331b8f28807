import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root, derived from this file's location (test/helpers/ → ../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The real foundry binary, not the node_modules/.bin wrapper: the wrapper is a node
 * process that spawns the binary, so kill -9 on it would orphan the real anvil.
 */
export function foundryBinary(tool: "anvil" | "cast" | "forge"): string {
  const scope = join(REPO_ROOT, "node_modules", "@foundry-rs");
  if (existsSync(scope)) {
    for (const entry of readdirSync(scope)) {
      if (!entry.startsWith(`${tool}-`)) continue;
      const candidate = join(scope, entry, "bin", process.platform === "win32" ? `${tool}.exe` : tool);
      if (existsSync(candidate)) return candidate;
    }
  }
  return join(REPO_ROOT, "node_modules", ".bin", tool);
}
