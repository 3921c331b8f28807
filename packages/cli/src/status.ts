/** `meridian status`: a readable summary of a running node. */
import { MeridianError } from "@meridian/primitives";
import { RpcCallError, rpcCall } from "./rpc-client.ts";

export type StatusOptions = { rpc: string; json?: boolean; timeout: number };

/** meridian_status when the node has it, else what the standard eth/net methods tell. */
export async function fetchStatus(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  try {
    const result = await rpcCall(url, "meridian_status", [], timeoutMs);
    if (typeof result === "object" && result !== null && !Array.isArray(result))
      return result as Record<string, unknown>;
    throw new MeridianError("meridian_status returned a non-object", { code: "RPC_BAD_RESPONSE" });
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
  }
  const [chainId, blockNumber, peerCount, syncing] = await Promise.all([
    rpcCall(url, "eth_chainId", [], timeoutMs),
    rpcCall(url, "eth_blockNumber", [], timeoutMs),
    rpcCall(url, "net_peerCount", [], timeoutMs).catch(() => undefined),
    rpcCall(url, "eth_syncing", [], timeoutMs).catch(() => undefined),
  ]);
  const out: Record<string, unknown> = { chainId, blockNumber };
  if (peerCount !== undefined) out.peerCount = peerCount;
  if (syncing !== undefined) out.syncing = syncing;
  return out;
}

function label(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

function show(value: unknown): string {
  // Quantities read better in decimal; hashes and addresses stay hex.
  if (typeof value === "string" && /^0x[0-9a-fA-F]{1,16}$/.test(value))
    return `${BigInt(value).toString()} (${value})`;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function formatStatus(url: string, status: Record<string, unknown>): string {
  const entries = Object.entries(status);
  const width = Math.max(3, ...entries.map(([k]) => label(k).length));
  const lines = [`${"RPC".padEnd(width)}  ${url}`];
  for (const [k, v] of entries) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      lines.push(`${label(k)}:`);
      for (const [k2, v2] of Object.entries(v)) lines.push(`  ${label(k2).padEnd(width - 2)}  ${show(v2)}`);
    } else lines.push(`${label(k).padEnd(width)}  ${show(v)}`);
  }
  return lines.join("\n");
}

export async function runStatus(opts: StatusOptions): Promise<void> {
  const status = await fetchStatus(opts.rpc, opts.timeout);
  if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else process.stdout.write(`${formatStatus(opts.rpc, status)}\n`);
}
