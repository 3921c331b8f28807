import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MeridianError } from "@meridian/primitives";
import { describe, expect, it, onTestFinished } from "vitest";
import { createLogger, isPrettyFormat, REDACTED, sanitizeLogContext } from "../src/logger.ts";

const KEY_HEX = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, "hex"));

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

function records(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => l.split("\n").filter(Boolean)).map((l) => JSON.parse(l));
}

describe("createLogger (json)", () => {
  it("writes JSON lines with bigint and bytes serialised", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", format: "json", destination });
    log.info("block committed", {
      height: 12n,
      hash: new Uint8Array([0xde, 0xad]),
      txs: 3,
      nested: { gas: 21000n },
    });
    const [rec] = records(lines);
    expect(rec).toMatchObject({
      level: "info",
      msg: "block committed",
      height: "12",
      hash: "0xdead",
      txs: 3,
      nested: { gas: "21000" },
    });
    expect(typeof rec?.time).toBe("string");
  });

  it("redacts key material at any depth, in contexts and child bindings", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "debug", format: "json", destination });
    log.info("config", {
      privateKey: KEY,
      password: "hunter2",
      validator: { privateKey: KEY, keystore: "/k.json", passwordFile: "/pw" },
      config: { validator: { privateKey: `0x${KEY_HEX}` } },
      list: [{ mnemonic: "test test junk" }],
    });
    log.child({ module: "node", secret: "s3cr3t" }).warn("child", { passphrase: "pp" });
    const text = lines.join("");
    expect(text).not.toContain(KEY_HEX);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("s3cr3t");
    expect(text).not.toContain("test test junk");
    expect(text).not.toMatch(/"pp"/);
    const [first, second] = records(lines);
    expect(first).toMatchObject({
      privateKey: REDACTED,
      password: REDACTED,
      validator: { privateKey: REDACTED, keystore: "/k.json", passwordFile: "/pw" },
      config: { validator: { privateKey: REDACTED } },
    });
    expect(second).toMatchObject({ module: "node", secret: REDACTED, passphrase: REDACTED, level: "warn" });
  });

  it("pino redact paths also cover contexts that bypass sanitising", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", format: "json", destination });
    log.pino.info({ privateKey: "raw", validator: { password: "raw" } }, "direct");
    expect(lines.join("")).not.toContain('"raw"');
  });

  it("serialises errors with their code under err", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", format: "json", destination });
    log.error("failed", { height: 1n }, new MeridianError("bad block", { code: "BLOCK_INVALID" }));
    log.warn("odd", undefined, "a string");
    const [a, b] = records(lines);
    expect(a).toMatchObject({
      level: "error",
      height: "1",
      err: { code: "BLOCK_INVALID", message: "bad block" },
    });
    expect(b).toMatchObject({ err: "a string" });
  });

  it("respects the level and child module bindings", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "warn", format: "json", destination });
    log.debug("no");
    log.info("no");
    log.child({ module: "rpc" }).child({ module: "ws", conn: 1 }).warn("yes");
    const recs = records(lines);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ module: "ws", conn: 1, msg: "yes" });
    expect(log.level).toBe("warn");
    expect(log.isLevelEnabled("error")).toBe(true);
    expect(log.isLevelEnabled("info")).toBe(false);
    const silent = createLogger({ level: "silent", format: "json", destination });
    silent.error("nothing");
    expect(records(lines)).toHaveLength(1);
    log.flush();
  });

  it("writes to a file path", () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-log-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "sub", "node.log");
    const log = createLogger({ level: "info", format: "json", destination: file });
    log.info("to file", { privateKey: KEY });
    log.flush();
    const [rec] = records([readFileSync(file, "utf8")]);
    expect(rec).toMatchObject({ msg: "to file", privateKey: REDACTED });
  });
});

describe("createLogger (pretty)", () => {
  it("prints human-readable lines, still redacted", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", format: "pretty", destination });
    log.child({ module: "producer" }).info("sealed block", { height: 7n, privateKey: KEY });
    const text = lines.join("");
    expect(text).toContain("INFO");
    expect(text).toContain("producer: sealed block");
    expect(text).toContain('"height":"7"');
    expect(text).not.toContain(KEY_HEX);
    expect(text.trimStart().startsWith("{")).toBe(false);
  });

  it("auto is pretty only on a TTY file descriptor", () => {
    expect(isPrettyFormat("pretty", "/tmp/x.log")).toBe(true);
    expect(isPrettyFormat("json", 1)).toBe(false);
    expect(isPrettyFormat("auto", "/tmp/x.log")).toBe(false);
    expect(isPrettyFormat("auto", { write() {} })).toBe(false);
  });
});

describe("sanitizeLogContext", () => {
  it("handles cycles, maps and long byte arrays", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(sanitizeLogContext(cyclic)).toEqual({ a: 1, self: "[Circular]" });
    expect(
      sanitizeLogContext(
        new Map<string, unknown>([
          ["password", "x"],
          ["n", 1n],
        ]),
      ),
    ).toEqual({ password: REDACTED, n: "1" });
    const long = sanitizeLogContext(new Uint8Array(5000)) as string;
    expect(long.endsWith("…(5000 bytes)")).toBe(true);
  });
});
