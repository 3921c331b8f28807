/**
 * runBlocktests: lists the cases under the given paths, runs them in this
 * thread or in worker threads, and reports failures and a summary through
 * `out` (human text or one JSON object per line).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { loadKzg } from "@meridian/executor";
import { type CaseResult, type Diff, runCase } from "./case.ts";
import { type ExecutorMode, executorFactory } from "./executors.ts";
import { type CaseRef, caseId, fixtureFiles, readFixtureFile } from "./fixtures.ts";

export type RunBlocktestsOptions = {
  /** Fixture files and directories (searched recursively for .json). */
  paths: string[];
  executor: ExecutorMode;
  /** Worker threads running cases side by side (default 1: run in this thread). */
  workers?: number;
  /** Only cases whose id (`<file relative to its root>:<case name>`) matches. */
  filter?: RegExp;
  json: boolean;
  out: (line: string) => void;
  progress?: (done: number, total: number) => void;
  /** Case name → reason: failures that are expected; they are counted apart from `failed`. */
  knownFailures?: Map<string, string>;
  /** Where the per-case temporary databases go (default: the OS temp directory). */
  tmpDir?: string;
  /**
   * Per-case time limit in seconds (default: none). With a limit every case runs in a worker
   * thread (even with `workers: 1`); a case that exceeds it is reported as `timeout`, its
   * worker is terminated and a fresh one continues with the next case.
   */
  timeout?: number;
};

export type BlocktestFailure = {
  id: string;
  file: string;
  name: string;
  reason: string;
  diffs: Diff[];
};

export type BlocktestSummary = {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Cases that exceeded `timeout` (not passed, not in `failed`; listed ones go to `knownFailures`). */
  timedout: number;
  seconds: number;
  failures: BlocktestFailure[];
  /** The timed-out cases not listed in `knownFailures`. */
  timeouts: BlocktestFailure[];
  skips: { name: string; reason: string }[];
  /** Failures listed in `knownFailures` (not counted in `failed`). */
  knownFailures: (BlocktestFailure & { knownReason: string })[];
  /** Cases listed in `knownFailures` that passed. */
  fixed: string[];
};

type Task = { file: string; rel: string; names: string[] };

/** A case that exceeded the per-case time limit (made by the runner, not by runCase). */
type TimeoutResult = {
  status: "timeout";
  id: string;
  file: string;
  name: string;
  ms: number;
  reason: string;
};
type RunResult = CaseResult | TimeoutResult;

/** Parses a KNOWN_FAILURES file: `<case name> # <reason>` per line; blank lines and `#` lines are comments. */
export function readKnownFailures(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = line.indexOf(" # ");
    if (at < 0) out.set(line, "(no reason given)");
    else out.set(line.slice(0, at).trim(), line.slice(at + 3).trim());
  }
  return out;
}

function listTasks(
  paths: string[],
  filter: RegExp | undefined,
  chunk: number,
): { tasks: Task[]; total: number } {
  const tasks: Task[] = [];
  let total = 0;
  for (const { file, rel } of fixtureFiles(paths)) {
    const names = Object.keys(readFixtureFile(file)).filter(
      (name) => !filter || filter.test(caseId({ rel, name })),
    );
    total += names.length;
    for (let i = 0; i < names.length; i += chunk) tasks.push({ file, rel, names: names.slice(i, i + chunk) });
  }
  return { tasks, total };
}

/** Runs the tasks in this thread. */
async function runInline(
  tasks: Task[],
  mode: ExecutorMode,
  tmpRoot: string,
  onResult: (r: CaseResult) => void,
): Promise<void> {
  const factory = await executorFactory(mode);
  const kzg = await loadKzg();
  try {
    for (const task of tasks) {
      const cases = readFixtureFile(task.file);
      for (const name of task.names) {
        const ref: CaseRef = { file: task.file, rel: task.rel, name };
        const fixture = cases[name];
        if (!fixture) continue;
        onResult(await runCase(ref, fixture, { factory, kzg, tmpRoot }));
      }
    }
  } finally {
    await factory.close?.();
  }
}

type WorkerMessage =
  | { type: "start"; name: string }
  | { type: "result"; result: CaseResult }
  | { type: "done" }
  | { type: "error"; message: string };

/**
 * Runs the tasks in `n` worker threads, handing out one task at a time. With `timeoutMs`, a
 * case that runs longer (timed from the worker's `start` message, so worker start-up and
 * fixture parsing do not count) is reported as a timeout, its worker is terminated and
 * replaced, and the rest of its task is queued again.
 */
async function runInWorkers(
  tasks: Task[],
  n: number,
  mode: ExecutorMode,
  tmpRoot: string,
  onResult: (r: RunResult) => void,
  timeoutMs?: number,
): Promise<void> {
  // Fail fast (e.g. "parallel executor not available") before starting threads.
  await (await executorFactory(mode)).close?.();
  const queue = [...tasks];
  const live = new Set<Worker>();
  const dying: Promise<number>[] = []; // terminations of timed-out workers
  try {
    await Promise.all(
      Array.from(
        { length: Math.min(n, tasks.length) },
        () =>
          new Promise<void>((resolve, reject) => {
            let worker: Worker;
            let task: Task | undefined;
            let finished = 0; // cases of `task` reported so far
            let timer: NodeJS.Timeout | undefined;
            const stopTimer = () => {
              if (timer) clearTimeout(timer);
              timer = undefined;
            };
            const next = () => {
              task = queue.shift();
              finished = 0;
              if (task) worker.postMessage(task);
              else resolve();
            };
            const onTimeout = (name: string, startedAt: number) => {
              timer = undefined;
              const t = task as Task;
              const dead = worker;
              live.delete(dead);
              dead.removeAllListeners();
              dead.on("error", () => {}); // late errors of the terminated thread
              dying.push(dead.terminate());
              onResult({
                status: "timeout",
                id: caseId({ rel: t.rel, name }),
                file: t.file,
                name,
                ms: Math.round(performance.now() - startedAt),
                reason: `timed out after ${(timeoutMs as number) / 1000}s`,
              });
              const rest = t.names.slice(finished + 1);
              if (rest.length > 0) queue.unshift({ ...t, names: rest });
              spawn();
              next();
            };
            const spawn = () => {
              const w = new Worker(new URL("./worker.ts", import.meta.url), {
                workerData: { mode, tmpRoot },
              });
              worker = w;
              live.add(w);
              w.on("message", (m: WorkerMessage) => {
                if (m.type === "start") {
                  if (timeoutMs !== undefined) {
                    const startedAt = performance.now();
                    stopTimer();
                    timer = setTimeout(() => onTimeout(m.name, startedAt), timeoutMs);
                  }
                } else if (m.type === "result") {
                  stopTimer();
                  finished++;
                  onResult(m.result);
                } else if (m.type === "done") next();
                else {
                  stopTimer();
                  reject(new Error(m.message));
                }
              });
              w.on("error", (err) => {
                stopTimer();
                reject(err);
              });
              w.on("exit", (code) => {
                if (code !== 0) {
                  stopTimer();
                  reject(new Error(`blocktest worker exited with code ${code}`));
                }
              });
            };
            spawn();
            next();
          }),
      ),
    );
  } finally {
    await Promise.all([...dying, ...[...live].map((w) => w.terminate())]);
  }
}

const short = (s: string) => (s.length > 140 ? `${s.slice(0, 137)}...` : s);

export function formatFailure(f: BlocktestFailure, note?: string): string[] {
  const lines = [`FAIL ${f.id}${note ? ` (${note})` : ""}`];
  if (f.diffs.length === 0) lines.push(`  ${f.reason}`);
  for (const d of f.diffs) {
    lines.push(`  ${d.path}:`);
    lines.push(`    expected ${short(d.expected)}`);
    lines.push(`    actual   ${short(d.actual)}`);
  }
  return lines;
}

export async function runBlocktests(opts: RunBlocktestsOptions): Promise<BlocktestSummary> {
  const started = performance.now();
  const timeoutMs = opts.timeout === undefined ? undefined : opts.timeout * 1000;
  // With a time limit one case per task, so a terminated worker loses no other case's work.
  const { tasks, total } = listTasks(opts.paths, opts.filter, timeoutMs === undefined ? 16 : 1);
  const known = opts.knownFailures ?? new Map<string, string>();
  const summary: BlocktestSummary = {
    total,
    passed: 0,
    failed: 0,
    skipped: 0,
    timedout: 0,
    seconds: 0,
    failures: [],
    timeouts: [],
    skips: [],
    knownFailures: [],
    fixed: [],
  };
  let done = 0;
  const onResult = (r: RunResult) => {
    done++;
    if (r.status === "passed") {
      summary.passed++;
      if (known.has(r.name)) summary.fixed.push(r.id);
    } else if (r.status === "skipped") {
      summary.skipped++;
      summary.skips.push({ name: r.id, reason: r.reason });
    } else {
      const failure: BlocktestFailure = {
        id: r.id,
        file: r.file,
        name: r.name,
        reason: r.reason,
        diffs: r.status === "failed" ? r.diffs : [],
      };
      const knownReason = known.get(r.name);
      if (knownReason !== undefined) summary.knownFailures.push({ ...failure, knownReason });
      else if (r.status === "timeout") {
        summary.timedout++;
        summary.timeouts.push(failure);
        if (opts.json) opts.out(JSON.stringify({ status: "timeout", ...failure }));
        else opts.out(`TIMEOUT ${failure.id} (${failure.reason})`);
      } else {
        summary.failed++;
        summary.failures.push(failure);
        if (opts.json) opts.out(JSON.stringify({ status: "failed", ...failure }));
        else for (const line of formatFailure(failure)) opts.out(line);
      }
    }
    opts.progress?.(done, total);
  };
  const tmpRoot = await mkdtemp(join(opts.tmpDir ?? tmpdir(), "meridian-blocktest-"));
  try {
    const workers = Math.max(1, Math.min(opts.workers ?? 1, availableParallelism() * 2));
    if (workers === 1 && timeoutMs === undefined) await runInline(tasks, opts.executor, tmpRoot, onResult);
    else await runInWorkers(tasks, workers, opts.executor, tmpRoot, onResult, timeoutMs);
  } finally {
    await rm(tmpRoot, { recursive: true, force: true });
  }
  summary.seconds = Math.round((performance.now() - started) / 10) / 100;
  const line = {
    total: summary.total,
    passed: summary.passed,
    failed: summary.failed,
    skipped: summary.skipped,
    timedout: summary.timedout,
    seconds: summary.seconds,
    ...(known.size > 0 ? { knownFailures: summary.knownFailures.length, fixed: summary.fixed.length } : {}),
  };
  if (opts.json) opts.out(JSON.stringify(line));
  else {
    const reasons = new Map<string, number>();
    for (const s of summary.skips) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
    for (const [reason, n] of reasons) opts.out(`skipped ${n}: ${reason}`);
    if (summary.knownFailures.length > 0)
      opts.out(`known failures (KNOWN_FAILURES): ${summary.knownFailures.length}`);
    for (const id of summary.fixed) opts.out(`listed in KNOWN_FAILURES but passed: ${id}`);
    opts.out(
      `${summary.total} cases: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped` +
        `${timeoutMs !== undefined || summary.timedout > 0 ? `, ${summary.timedout} timed out` : ""}` +
        `${summary.knownFailures.length > 0 ? `, ${summary.knownFailures.length} known failures` : ""} in ${summary.seconds}s`,
    );
  }
  return summary;
}
