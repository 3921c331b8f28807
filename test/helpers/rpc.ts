/** Raw JSON-RPC over fetch; used where client libraries would hide the wire-level answer. */

export type RpcError = { code: number; message: string; data?: unknown };
export type RpcResponse<T = unknown> = { jsonrpc: "2.0"; id: unknown; result?: T; error?: RpcError };

export async function rpcRaw<T = unknown>(url: string, method: string, params: unknown[] = []) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(15_000),
  });
  return (await res.json()) as RpcResponse<T>;
}

/** Like rpcRaw but throws on a JSON-RPC error. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const body = await rpcRaw<T>(url, method, params);
  if (body.error) throw new Error(`${method} failed: ${body.error.code} ${body.error.message}`);
  return body.result as T;
}

export async function blockNumber(url: string): Promise<bigint> {
  return BigInt(await rpc<string>(url, "eth_blockNumber"));
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a non-undefined value or the deadline passes. */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`,
  );
}

export async function waitForBlock(url: string, atLeast: bigint, timeoutMs = 20_000): Promise<bigint> {
  return waitUntil(
    `block >= ${atLeast}`,
    async () => {
      const n = await blockNumber(url);
      return n >= atLeast ? n : undefined;
    },
    timeoutMs,
  );
}
