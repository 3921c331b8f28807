import { MeridianError } from "@meridian/primitives";

/** JSON-RPC error codes, geth-compatible (EIP-1474 plus geth's `3` for reverts). */
export const RpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  Server: -32000,
  ResourceNotFound: -32001,
  LimitExceeded: -32005,
  ExecutionReverted: 3,
} as const;

export type RpcErrorCode = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

const STRING_CODES: Record<RpcErrorCode, string> = {
  [RpcErrorCode.ParseError]: "RPC_PARSE_ERROR",
  [RpcErrorCode.InvalidRequest]: "RPC_INVALID_REQUEST",
  [RpcErrorCode.MethodNotFound]: "RPC_METHOD_NOT_FOUND",
  [RpcErrorCode.InvalidParams]: "RPC_INVALID_PARAMS",
  [RpcErrorCode.Internal]: "RPC_INTERNAL_ERROR",
  [RpcErrorCode.Server]: "RPC_SERVER_ERROR",
  [RpcErrorCode.ResourceNotFound]: "RPC_RESOURCE_NOT_FOUND",
  [RpcErrorCode.LimitExceeded]: "RPC_LIMIT_EXCEEDED",
  [RpcErrorCode.ExecutionReverted]: "RPC_EXECUTION_REVERTED",
};

/**
 * An error that goes on the wire as `{code, message, data?}`. `code` (string, from
 * MeridianError) is for matching in TS; `rpcCode` is the JSON-RPC number.
 */
export class RpcError extends MeridianError {
  override name = "RpcError";
  readonly rpcCode: RpcErrorCode;
  /** Hex data (revert data) sent as the error's `data` member. */
  readonly data: string | undefined;

  constructor(rpcCode: RpcErrorCode, message: string, data?: string) {
    super(message, { code: STRING_CODES[rpcCode] });
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/**
 * A parameter that failed validation. Thrown by the parsers without the argument
 * index; the dispatcher wraps it into "invalid argument N: ..." unless `bare`.
 */
export class ParamError extends MeridianError {
  override name = "ParamError";
  /** Message goes out as-is, without the "invalid argument N:" prefix (geth does this for storage keys). */
  readonly bare: boolean;
  constructor(message: string, bare = false) {
    super(message, { code: "RPC_INVALID_PARAM" });
    this.bare = bare;
  }
}

export function invalidParams(message: string): RpcError {
  return new RpcError(RpcErrorCode.InvalidParams, message);
}

export function serverError(message: string): RpcError {
  return new RpcError(RpcErrorCode.Server, message);
}

// Solidity's Panic(uint256) codes, with geth's wording.
const PANIC_REASONS: Record<number, string> = {
  0: "generic panic",
  1: "assert(false)",
  17: "arithmetic underflow or overflow",
  18: "division or modulo by zero",
  33: "enum overflow",
  34: "invalid encoded storage byte array accessed",
  49: "out-of-bounds array access; popping on an empty array",
  50: "out-of-bounds access of an array or bytesN",
  65: "out of memory",
  81: "uninitialized function",
};

/** Decodes Error(string) / Panic(uint256) revert data into geth's reason text; undefined if neither. */
export function decodeRevertReason(data: Uint8Array): string | undefined {
  if (data.length < 4) return undefined;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const selector = buf.readUInt32BE(0);
  if (selector === 0x08c379a0) {
    // Error(string): offset, length, bytes.
    if (data.length < 4 + 64) return undefined;
    const offset = readWordAsNumber(buf, 4);
    if (offset === undefined) return undefined;
    const lenPos = 4 + offset;
    if (lenPos + 32 > data.length) return undefined;
    const len = readWordAsNumber(buf, lenPos);
    if (len === undefined || lenPos + 32 + len > data.length) return undefined;
    return buf.toString("utf8", lenPos + 32, lenPos + 32 + len);
  }
  if (selector === 0x4e487b71) {
    if (data.length !== 4 + 32) return undefined;
    const code = BigInt(`0x${buf.toString("hex", 4, 36)}`);
    const reason = code <= 0xffn ? PANIC_REASONS[Number(code)] : undefined;
    return reason ?? `unknown panic code: 0x${code.toString(16)}`;
  }
  return undefined;
}

function readWordAsNumber(buf: Buffer, pos: number): number | undefined {
  // Reject anything that does not fit in 48 bits: such offsets are always out of range.
  for (let i = pos; i < pos + 26; i++) if (buf[i] !== 0) return undefined;
  return buf.readUIntBE(pos + 26, 6);
}

/** geth's revert error: code 3, "execution reverted[: reason]", data = revert data hex. */
export function revertError(data: Uint8Array): RpcError {
  const reason = decodeRevertReason(data);
  const hex = `0x${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex")}`;
  return new RpcError(
    RpcErrorCode.ExecutionReverted,
    reason === undefined ? "execution reverted" : `execution reverted: ${reason}`,
    hex,
  );
}
