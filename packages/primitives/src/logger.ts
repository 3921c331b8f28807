/**
 * The logging interface leaf packages see. Only `node` binds it to pino, so
 * packages stay free of I/O and tests can pass a silent or recording logger.
 */
export type LogContext = Record<string, unknown>;

export interface Logger {
  error(msg: string, context?: LogContext, error?: unknown): void;
  warn(msg: string, context?: LogContext, error?: unknown): void;
  info(msg: string, context?: LogContext): void;
  debug(msg: string, context?: LogContext): void;
  child(bindings: { module: string } & LogContext): Logger;
}

export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};
