/**
 * Base error for every Meridian package: a short message, a stable string code
 * that callers and tests match on, optional details and a cause chain.
 */
export type MeridianErrorOptions = {
  code?: string;
  cause?: unknown;
  details?: string;
  metaMessages?: readonly string[];
};

export class MeridianError extends Error {
  override name = "MeridianError";
  readonly code: string;
  readonly shortMessage: string;
  readonly details: string | undefined;
  readonly metaMessages: readonly string[];

  constructor(shortMessage: string, opts: MeridianErrorOptions = {}) {
    const lines = [shortMessage];
    if (opts.metaMessages?.length) lines.push("", ...opts.metaMessages);
    if (opts.details) lines.push("", `Details: ${opts.details}`);
    super(lines.join("\n"), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = opts.code ?? "MERIDIAN_ERROR";
    this.shortMessage = shortMessage;
    this.details = opts.details;
    this.metaMessages = opts.metaMessages ?? [];
  }

  /** Walks the cause chain; returns the first error matching `fn`, or the innermost one. */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this;
    for (;;) {
      if (fn?.(err)) return err;
      const next = err instanceof Error ? err.cause : undefined;
      if (next === undefined) return fn ? undefined : err;
      err = next;
    }
  }
}

/** Input that failed to decode (RLP, hex, JSON): always rejected before it changes anything. */
export class DecodeError extends MeridianError {
  override name = "DecodeError";
  constructor(shortMessage: string, opts: Omit<MeridianErrorOptions, "code"> = {}) {
    super(shortMessage, { ...opts, code: "DECODE_ERROR" });
  }
}
