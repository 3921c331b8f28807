/**
 * `meridian blocktest <file-or-dir...>`: the commander registration and the
 * terminal side (progress bar on stderr, exit code).
 */
import type { Command } from "commander";
import type { ExecutorMode } from "./executors.ts";

// The runner (executor, storage, state) loads only when the command runs, so `meridian --help` stays fast.
const loadRunner = () => import("./run.ts");

export type BlocktestCliOptions = {
  executor?: string;
  workers?: string;
  json?: boolean;
  filter?: string;
  knownFailures?: string;
  timeout?: string;
};

/** The commander program the command is added to. */
export type CommandLike = Command;

class UsageError extends Error {}

function parseOptions(
  opts: BlocktestCliOptions,
  runner: Awaited<ReturnType<typeof loadRunner>>,
): {
  executor: ExecutorMode;
  workers: number;
  filter?: RegExp;
  knownFailures?: Map<string, string>;
  timeout?: number;
} {
  const executor = opts.executor ?? "sequential";
  if (executor !== "sequential" && executor !== "parallel" && executor !== "both") {
    throw new UsageError(`--executor must be sequential, parallel or both, got ${JSON.stringify(executor)}`);
  }
  const workers = Number(opts.workers ?? "1");
  if (!Number.isInteger(workers) || workers < 1) {
    throw new UsageError(`--workers must be a positive integer, got ${JSON.stringify(opts.workers)}`);
  }
  let timeout: number | undefined;
  if (opts.timeout !== undefined) {
    timeout = Number(opts.timeout);
    if (opts.timeout.trim() === "" || !Number.isFinite(timeout) || timeout <= 0) {
      throw new UsageError(
        `--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`,
      );
    }
  }
  let filter: RegExp | undefined;
  if (opts.filter !== undefined) {
    try {
      filter = new RegExp(opts.filter);
    } catch (err) {
      throw new UsageError(`--filter is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return {
    executor,
    workers,
    filter,
    timeout,
    knownFailures: opts.knownFailures ? runner.readKnownFailures(opts.knownFailures) : undefined,
  };
}

/** A one-line progress bar redrawn on stderr (only when stderr is a terminal). */
function progressBar(stream: NodeJS.WriteStream): {
  update: (done: number, total: number) => void;
  clear: () => void;
} {
  let last = 0;
  let shown = false;
  const clear = () => {
    if (shown) stream.write("\r\x1b[2K");
    shown = false;
  };
  const update = (done: number, total: number) => {
    const now = Date.now();
    if (done !== total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
    shown = true;
    if (done === total) clear();
  };
  return { update, clear };
}

/**
 * Runs the command; resolves to the process exit code (0 all passed, 1 failures or timeouts not
 * listed in --known-failures, 2 usage/setup error).
 */
export async function blocktestCommand(paths: string[], opts: BlocktestCliOptions): Promise<number> {
  const stdout = process.stdout;
  const stderr = process.stderr;
  const runner = await loadRunner();
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(opts, runner);
  } catch (err) {
    stderr.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
  const bar = stderr.isTTY ? progressBar(stderr) : undefined;
  try {
    const summary = await runner.runBlocktests({
      paths,
      ...parsed,
      json: opts.json === true,
      out: (line) => {
        bar?.clear();
        stdout.write(`${line}\n`);
      },
      progress: bar?.update,
    });
    return summary.failed > 0 || summary.timedout > 0 ? 1 : 0;
  } catch (err) {
    bar?.clear();
    stderr.write(`error: ${(err as Error).message}\n`);
    return 2;
  }
}

/** Adds `blocktest <file-or-dir...>` to the program. */
export function registerBlocktestCommand(program: CommandLike): void {
  program
    .command("blocktest <paths...>")
    .description("run ethereum/tests BlockchainTests fixtures through Meridian's storage, state and executor")
    .option("--executor <mode>", "sequential, parallel or both (both must agree)", "sequential")
    .option("--workers <n>", "worker threads running test cases side by side", "1")
    .option("--json", "one JSON line per failing case and a final summary line")
    .option("--filter <regex>", "only cases whose <file>:<case name> matches")
    .option(
      "--timeout <seconds>",
      "per-case time limit (cases then run in worker threads); a case over it is reported as timeout",
    )
    .option(
      "--known-failures <file>",
      "KNOWN_FAILURES file: listed failures are reported but not counted as failed",
    )
    .action(async (paths: string[], opts: BlocktestCliOptions) => {
      process.exitCode = await blocktestCommand(paths, opts);
    });
}
