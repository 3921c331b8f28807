/** Minimal JSON-RPC over HTTP client for `status` and the devnet banner. */
import { MeridianError } from "@meridian/primitives";

export class RpcCallError extends MeridianError {
  override name = "RpcCallError";
  readonly rpcCode: number;
  constructor(method: string, rpcCode: number, message: string) {
    super(`${method} failed: ${message} (${rpcCode})`, { code: "RPC_ERROR" });
    this.rpcCode = rpcCode;
  }
}

let nextId = 1;

export async function rpcCall(url: string, method: string, params: unknown[] = [], timeoutMs = 5000) {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    const why =
      typeof cause?.code === "string" ? cause.code : err instanceof Error ? err.message : String(err);
    throw new MeridianError(`cannot reach ${url}: ${why}`, { code: "RPC_UNREACHABLE", cause: err });
  }
  const text = await res.text();
  let body: { result?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new MeridianError(`${url} answered HTTP ${res.status} without JSON-RPC`, {
      code: "RPC_BAD_RESPONSE",
      cause: err,
    });
  }
  if (body.error)
    throw new RpcCallError(
      method,
      typeof body.error.code === "number" ? body.error.code : 0,
      String(body.error.message ?? "error"),
    );
  if (!("result" in body))
    throw new MeridianError(`${url} answered ${method} without a result`, { code: "RPC_BAD_RESPONSE" });
  return body.result;
}
