/**
 * Running the real `forge` (from @foundry-rs/forge) without a network: forge
 * would download a native solc, so it is pointed at a small executable that
 * answers `--version` and `--standard-json` with the project's solc-js.
 */
import { spawn } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { foundryBinary, REPO_ROOT } from "./paths.ts";

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

export type ForgeResult = { code: number | null; stdout: string; stderr: string };

/** Runs forge in `cwd`, bounded by `timeoutMs`. */
export function runForge(args: string[], cwd: string, timeoutMs = 120_000): Promise<ForgeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(foundryBinary("forge"), args, {
      cwd,
      env: { ...process.env, FOUNDRY_DISABLE_NIGHTLY_WARNING: "1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`forge ${args[0]} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
