#!/usr/bin/env node
// `npx meridian <command>`: runs the CLI (TypeScript, run directly) on the Node 22 the project
// brings as a devDependency (node_modules/node), whatever Node started this launcher.
// Plain JavaScript on purpose: it must start on the older system Node too.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = `${root}packages/cli/src/bin.ts`;
const projectNode = `${root}node_modules/node/bin/${process.platform === "win32" ? "node.exe" : "node"}`;
const [major, minor] = process.versions.node.split(".").map(Number);
// Node >= 22.18 runs .ts files without flags; an older one hands over to the project's.
const node = major > 22 || (major === 22 && minor >= 18) ? process.execPath : projectNode;
if (!existsSync(node)) {
  process.stderr.write(`meridian: Node >= 22.18 is needed; run \`npm install\` in ${root} first\n`);
  process.exit(1);
}

const child = spawn(node, [cli, ...process.argv.slice(2)], { stdio: "inherit" });
// The CLI handles SIGINT/SIGTERM itself (clean shutdown); pass them on rather than dying first.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("error", (err) => {
  process.stderr.write(`meridian: cannot start ${node}: ${err.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
