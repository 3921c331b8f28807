/**
 * Running the real `forge` (from @foundry-rs/forge) without a network: forge
 * would download a native solc, so it is pointed at a small executable that
 * answers `--version` and `--standard-json` with the project's solc-js.
 */
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { foundryBinary, REPO_ROOT } from "./paths.ts";
import { type RunResult, runToCompletion } from "./process.ts";

const SHIM = `import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const solc = createRequire(${JSON.stringify(join(REPO_ROOT, "package.json"))})("solc");
if (process.argv.includes("--version")) {
  // forge reads the version from the last line, in native solc's format.
  const version = solc.version().replace(".Emscripten.clang", ".Linux.g++");
  process.stdout.write(\`solc, the solidity compiler commandline interface\\nVersion: \${version}\\n\`);
} else {
  const findImports = (path) => {
    try {
      return { contents: readFileSync(path, "utf8") };
    } catch (err) {
      return { error: String(err) };
    }
  };
  process.stdout.write(solc.compile(readFileSync(0, "utf8"), { import: findImports }));
}
`;

/** Writes the solc shim into `dir` and returns its path (an executable run by this Node). */
export async function writeSolcShim(dir: string): Promise<string> {
  const path = join(dir, "solc");
  await writeFile(path, `#!${process.execPath}\n${SHIM}`);
  await chmod(path, 0o755);
  return path;
}

export type ForgeResult = RunResult;

/** Runs forge in `cwd`, bounded by `timeoutMs`. */
export function runForge(args: string[], cwd: string, timeoutMs = 120_000): Promise<ForgeResult> {
  return runToCompletion(foundryBinary("forge"), args, {
    cwd,
    env: { ...process.env, FOUNDRY_DISABLE_NIGHTLY_WARNING: "1", NO_COLOR: "1" },
    timeoutMs,
  });
}
