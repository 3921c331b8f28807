/**
 * Binds the primitives `Logger` interface to pino. Contexts are sanitised
 * before pino sees them: bigint → decimal string, bytes → 0x hex, and key
 * material is censored by name at any depth (pino `redact` is a second line).
 */
import { isatty } from "node:tty";
import type { LogContext, Logger } from "@meridian/primitives";
import { bytesToHex } from "@meridian/primitives";
import { type DestinationStream, type Logger as PinoLogger, pino } from "pino";
import pinoPretty from "pino-pretty";
import type { LogFormat, LogLevel } from "./config.ts";

export type LogDestination = number | string | { write(line: string): void };

export type CreateLoggerOptions = {
  level: LogLevel;
  format: LogFormat;
  /** File descriptor (default 1, stdout), file path, or a stream (tests). */
  destination?: LogDestination;
};

export interface RootLogger extends Logger {
  readonly level: LogLevel;
  isLevelEnabled(level: LogLevel): boolean;
  /** Writes out anything buffered; call before process.exit. */
  flush(): void;
  /** The underlying pino instance, for integrations that take one. */
  readonly pino: PinoLogger;
}

export const REDACTED = "[Redacted]";

const SECRET_KEY = /^(private_?key|secret_?key|secret|password|passphrase|mnemonic|seed)$/i;

const REDACT_PATHS = [
  "privateKey",
  "private_key",
  "secretKey",
  "secret",
  "password",
  "passphrase",
  "mnemonic",
  "*.privateKey",
  "*.private_key",
  "*.secretKey",
  "*.secret",
  "*.password",
  "*.passphrase",
  "*.mnemonic",
  "*.*.privateKey",
  "*.*.password",
];

const MAX_DEPTH = 8;
const MAX_BYTES = 4096;

/** Makes a context JSON-safe and secret-free. Exported for tests and other sinks. */
export function sanitizeLogContext(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) {
    if (value.length <= MAX_BYTES) return bytesToHex(value);
    return `${bytesToHex(value.subarray(0, MAX_BYTES))}…(${value.length} bytes)`;
  }
  if (typeof value !== "object" || value === null || value instanceof Error || value instanceof Date)
    return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Object]";
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value)) out = value.map((v) => sanitizeLogContext(v, depth + 1, seen));
  else if (value instanceof Map)
    out = Object.fromEntries(
      [...value].map(([k, v]) => [String(k), SECRET_KEY.test(String(k)) ? REDACTED : sanitizeLogContext(v)]),
    );
  else {
    const obj: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      obj[k] = SECRET_KEY.test(k) ? REDACTED : sanitizeLogContext(v, depth + 1, seen);
    out = obj;
  }
  seen.delete(value);
  return out;
}

function errorField(err: unknown): unknown {
  return err instanceof Error ? err : sanitizeLogContext(err);
}

class PinoBackedLogger implements Logger {
  protected readonly p: PinoLogger;
  constructor(p: PinoLogger) {
    this.p = p;
  }
  error(msg: string, context?: LogContext, error?: unknown): void {
    this.emit("error", msg, context, error);
  }
  warn(msg: string, context?: LogContext, error?: unknown): void {
    this.emit("warn", msg, context, error);
  }
  info(msg: string, context?: LogContext): void {
    this.emit("info", msg, context, undefined);
  }
  debug(msg: string, context?: LogContext): void {
    this.emit("debug", msg, context, undefined);
  }
  child(bindings: { module: string } & LogContext): Logger {
    return new PinoBackedLogger(this.p.child(sanitizeLogContext(bindings) as Record<string, unknown>));
  }
  private emit(level: "error" | "warn" | "info" | "debug", msg: string, ctx?: LogContext, err?: unknown) {
    // Skip the sanitising walk for disabled levels: debug contexts can be large.
    if (!this.p.isLevelEnabled(level)) return;
    const obj = (ctx ? sanitizeLogContext(ctx) : {}) as Record<string, unknown>;
    if (err !== undefined) obj.err = errorField(err);
    this.p[level](obj, msg);
  }
}

class RootPinoLogger extends PinoBackedLogger implements RootLogger {
  get level(): LogLevel {
    return this.p.level as LogLevel;
  }
  get pino(): PinoLogger {
    return this.p;
  }
  isLevelEnabled(level: LogLevel): boolean {
    return level === "silent" ? false : this.p.isLevelEnabled(level);
  }
  flush(): void {
    this.p.flush();
  }
}

/** Whether `format` means pretty output for this destination ("auto" = pretty on a TTY). */
export function isPrettyFormat(format: LogFormat, destination: LogDestination = 1): boolean {
  if (format !== "auto") return format === "pretty";
  return typeof destination === "number" && isatty(destination);
}

export function createLogger(opts: CreateLoggerOptions): RootLogger {
  const dest = opts.destination ?? 1;
  const pretty = isPrettyFormat(opts.format, dest);
  let stream: DestinationStream;
  if (pretty) {
    const prettyOpts = {
      colorize: typeof dest === "number" && isatty(dest) && !process.env.NO_COLOR,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,module",
      messageFormat: "{if module}{module}: {end}{msg}",
      singleLine: true,
    };
    if (typeof dest === "object") {
      // pino-pretty's stream wants a Node stream; plain writers get the formatter directly.
      const format = pinoPretty.prettyFactory(prettyOpts);
      stream = { write: (line: string) => dest.write(format(line)) };
    } else {
      stream = pinoPretty({ ...prettyOpts, destination: dest, sync: true, mkdir: typeof dest === "string" });
    }
  } else if (typeof dest === "object") {
    stream = dest;
  } else {
    stream = pino.destination({ dest, sync: true, mkdir: typeof dest === "string" });
  }
  const p = pino(
    {
      level: opts.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      serializers: { err: pino.stdSerializers.err },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return new RootPinoLogger(p);
}
