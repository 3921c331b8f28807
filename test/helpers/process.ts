import { type ChildProcess, spawn } from "node:child_process";
import { removeTempDir, removeTempDirs } from "./tmp.ts";

export type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };
export type StopResult = ExitInfo & { elapsedMs: number; forced: boolean };

/** What every node handle (Meridian or anvil) offers the tests. */
export type NodeHandle = {
  kind: "meridian" | "anvil";
  chainId: number;
  rpcUrl: string;
  wsUrl: string;
  /** Base URL of the metrics server (…/metrics, …/health); null where the target has none. */
  metricsUrl: string | null;
  datadir: string;
  proc: ChildProcess;
  /** Sends `signal` (default SIGTERM), waits up to `timeoutMs` (10 s), then SIGKILLs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<StopResult>;
  kill9(): Promise<ExitInfo>;
  logs(): string;
  exited: Promise<ExitInfo>;
};

const LOG_LIMIT = 512 * 1024;
const live = new Set<ChildProcess>();

// Last resort if a test file dies without reaching afterAll: never leave nodes behind.
process.once("exit", () => {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

export type Spawned = {
  proc: ChildProcess;
  logs(): string;
  exited: Promise<ExitInfo>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<StopResult>;
  kill9(): Promise<ExitInfo>;
};

export function spawnManaged(cmd: string, args: string[], cwd: string): Spawned {
  const proc = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  live.add(proc);
  let buf = "";
  const append = (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    // Keep only a bounded tail; long crash loops can log a lot.
    if (buf.length > LOG_LIMIT) buf = buf.slice(buf.length - LOG_LIMIT / 2);
  };
  proc.stdout?.on("data", append);
  proc.stderr?.on("data", append);
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once("exit", (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
    proc.once("error", (err) => {
      append(Buffer.from(`\n[spawn error] ${err.message}\n`));
      live.delete(proc);
      resolve({ code: null, signal: null });
    });
  });
  const isRunning = () => proc.exitCode === null && proc.signalCode === null;

  const kill9 = async (): Promise<ExitInfo> => {
    if (isRunning()) proc.kill("SIGKILL");
    return exited;
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<StopResult> => {
    const t0 = Date.now();
    if (!isRunning()) return { ...(await exited), elapsedMs: 0, forced: false };
    proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    });
    const res = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (res === "timeout") {
      const info = await kill9();
      return { ...info, elapsedMs: Date.now() - t0, forced: true };
    }
    return { ...res, elapsedMs: Date.now() - t0, forced: false };
  };

  return { proc, logs: () => buf, exited, stop, kill9 };
}

export function tail(text: string, lines = 60): string {
  return text.split("\n").slice(-lines).join("\n");
}

/** Polls eth_chainId until it answers; fails early if the process exits, with the log tail. */
export async function waitForRpc(
  url: string,
  child: Spawned,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = "";
  let exitInfo: ExitInfo | undefined;
  void child.exited.then((e) => {
    exitInfo = e;
  });
  while (Date.now() < deadline) {
    if (exitInfo) {
      throw new Error(
        `${what} exited before RPC came up (code=${exitInfo.code}, signal=${exitInfo.signal}).\n--- output tail ---\n${tail(child.logs())}`,
      );
    }
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await res.json()) as { result?: string };
      if (typeof body.result === "string") return Number(BigInt(body.result));
      lastErr = JSON.stringify(body);
    } catch (e) {
      lastErr = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await child.kill9();
  throw new Error(
    `${what} did not answer eth_chainId within ${timeoutMs} ms (last: ${lastErr}).\n--- output tail ---\n${tail(child.logs())}`,
  );
}

/**
 * The handle of a spawned node serving JSON-RPC over HTTP and WebSocket on 127.0.0.1:`port`,
 * once it answers eth_chainId. Stopping it removes `datadir` when the handle owns it.
 */
export async function startedNode(
  kind: NodeHandle["kind"],
  child: Spawned,
  port: number,
  opts: { datadir: string; ownsDir: boolean; metricsUrl: string | null; startTimeoutMs: number },
): Promise<NodeHandle> {
  const rpcUrl = `http://127.0.0.1:${port}`;
  const chainId = await waitForRpc(rpcUrl, child, opts.startTimeoutMs, kind);
  return {
    kind,
    chainId,
    rpcUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    metricsUrl: opts.metricsUrl,
    datadir: opts.datadir,
    proc: child.proc,
    exited: child.exited,
    logs: child.logs,
    kill9: child.kill9,
    async stop(signal, timeoutMs) {
      const res = await child.stop(signal, timeoutMs);
      if (opts.ownsDir) await removeTempDir(opts.datadir);
      return res;
    },
  };
}

/** Kills every process spawned by this worker and removes every temp dir; use in afterAll. */
export async function cleanupAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const p of live) {
    waits.push(new Promise((r) => p.once("exit", r)));
    p.kill("SIGKILL");
  }
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5_000))]);
  await removeTempDirs();
}

/** Runs `fn`; on failure appends the node's log tail, since the assertion alone rarely says why. */
export async function withLogs<T>(node: NodeHandle, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error) e.message += `\n--- ${node.kind} log tail ---\n${tail(node.logs(), 30)}`;
    throw e;
  }
}

export type RunResult = { code: number | null; stdout: string; stderr: string };

/**
 * Runs a command to completion with its output captured (stdin closed: a prompt fails instead
 * of hanging). Bounded: past `timeoutMs` the process is killed and the promise rejects.
 */
export function runToCompletion(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
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
      reject(
        new Error(`${cmd} ${args.join(" ")} timed out after ${timeoutMs} ms; stderr: ${tail(stderr, 20)}`),
      );
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
