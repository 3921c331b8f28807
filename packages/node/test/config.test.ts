import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  defaultConfig,
  genesisPath,
  loadConfig,
  parseConfigToml,
  renderConfigToml,
  validateOverrides,
} from "../src/config.ts";

const CONFIGS_DIR = resolve(import.meta.dirname, "../../../configs");

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "meridian-config-"));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("defaultConfig", () => {
  it("has the documented defaults", () => {
    const c = defaultConfig("node");
    expect(c.datadir).toBe("./.meridian/node");
    expect(defaultConfig("devnet").datadir).toBe("./.meridian/devnet");
    expect(c.http).toEqual({
      enabled: true,
      addr: "127.0.0.1",
      port: 8545,
      cors: [],
      batchLimit: 1000,
      bodyLimit: 5_242_880,
      ws: true,
      vhosts: ["localhost"],
    });
    expect(c.ws).toEqual({ origins: [], maxSubscriptions: 1000, maxQueuedBytes: 16_777_216 });
    expect(c.metrics).toEqual({ enabled: true, addr: "127.0.0.1", port: 9545 });
    expect(c.log).toEqual({ level: "info", format: "auto" });
    expect(c.rpc).toEqual({
      gasCap: 50_000_000n,
      evmTimeoutMs: 5000,
      executionWorkers: 2,
      maxResponseBytes: 26_214_400,
      logsMaxRange: 10_000,
      logsMaxResults: 10_000,
      filterTimeoutMs: 300_000,
      txFeeCap: 10n ** 18n,
      maxFilters: 10_000,
      maxFiltersPerConnection: 1000,
      filterMaxItems: 10_000,
      proofMaxKeys: 1024,
      allowUnprotectedTxs: false,
    });
    expect(c.txpool).toEqual({
      priceLimit: 1n,
      priceBump: 10,
      accountSlots: 16,
      globalSlots: 5120,
      accountQueue: 64,
      globalQueue: 1024,
      journal: true,
      rejournalMs: 3_600_000,
    });
    expect(c.producer).toEqual({ enabled: true });
    expect(c.validator).toEqual({});
    expect(c.genesis).toBeUndefined();
  });

  it("returns a fresh object each time", () => {
    const a = defaultConfig("node");
    a.http.cors.push("x");
    expect(defaultConfig("node").http.cors).toEqual([]);
  });

  it("genesisPath falls back to <datadir>/genesis.json", () => {
    expect(genesisPath({ datadir: "/d" })).toBe(join("/d", "genesis.json"));
    expect(genesisPath({ datadir: "/d", genesis: "/g.json" })).toBe("/g.json");
  });
});

describe("parseConfigToml", () => {
  it("parses snake_case keys into camelCase config", () => {
    const c = parseConfigToml(
      `
datadir = "/data"
[http]
addr = "0.0.0.0"
port = 8546
cors = ["*"]
batch_limit = 10
[rpc]
gas_cap = 30000000
tx_fee_cap = "100000000000000000000"
allow_unprotected_txs = true
[txpool]
price_limit = "2"
[producer]
block_time_ms = 250
empty_blocks = false
[validator]
keystore = "k.json"
password_file = "pw"
`,
      "test.toml",
    );
    expect(c).toEqual({
      datadir: "/data",
      http: { addr: "0.0.0.0", port: 8546, cors: ["*"], batchLimit: 10 },
      rpc: { gasCap: 30_000_000n, txFeeCap: 100n * 10n ** 18n, allowUnprotectedTxs: true },
      txpool: { priceLimit: 2n },
      producer: { blockTimeMs: 250, emptyBlocks: false },
      validator: { keystore: "k.json", passwordFile: "pw" },
    });
  });

  it("accepts integers above 2^53 for bigint fields", () => {
    expect(parseConfigToml("[rpc]\ntx_fee_cap = 9007199254740993000", "x").rpc?.txFeeCap).toBe(
      9007199254740993000n,
    );
  });

  it("rejects unknown keys with their path", () => {
    const err = configError(() => parseConfigToml("[http]\nport = 1\nhost = 'x'", "configs/x.toml"));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.shortMessage).toBe("configs/x.toml: http.host: unknown key");
    expect(configError(() => parseConfigToml("[foo]\na=1", "c.toml")).shortMessage).toBe(
      "c.toml: foo: unknown key",
    );
    // camelCase spellings are not aliases: one naming scheme in files.
    expect(configError(() => parseConfigToml("[http]\nbatchLimit = 1", "c.toml")).shortMessage).toBe(
      "c.toml: http.batchLimit: unknown key",
    );
  });

  it("names the key path and reason for wrong types", () => {
    const err = configError(() => parseConfigToml('[http]\nport = "abc"', "configs/x.toml"));
    expect(err.message).toBe('configs/x.toml: http.port: expected integer 0..65535, got "abc"');
    expect(configError(() => parseConfigToml("[http]\nport = 70000", "c")).shortMessage).toBe(
      "c: http.port: expected integer 0..65535, got 70000",
    );
    expect(configError(() => parseConfigToml("[http]\nws = 1", "c")).shortMessage).toBe(
      "c: http.ws: expected true or false, got 1",
    );
    expect(configError(() => parseConfigToml("[log]\nlevel = 'loud'", "c")).shortMessage).toMatch(
      /^c: log\.level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"$/,
    );
    expect(configError(() => parseConfigToml("[rpc]\ngas_cap = '1e9'", "c")).shortMessage).toMatch(
      /^c: rpc\.gas_cap: expected integer >= 1 .*got "1e9"$/,
    );
    expect(configError(() => parseConfigToml("http = 5", "c")).shortMessage).toMatch(/^c: http: .*got 5$/);
  });

  it("reports every problem, first in the short message", () => {
    const err = configError(() => parseConfigToml("[http]\nport = 'a'\naddr = 5\nx = 1", "c"));
    expect(err.issues).toHaveLength(3);
    expect(err.shortMessage).toMatch(/\(and 2 more\)$/);
    expect(err.message).toContain("c: http.x: unknown key");
  });

  it("refuses private keys in files", () => {
    const err = configError(() => parseConfigToml("[validator]\nprivate_key = '0x01'", "c"));
    expect(err.shortMessage).toBe(
      "c: validator.private_key: private keys are not accepted here; use validator.keystore",
    );
    expect(err.message).not.toContain("0x01");
  });

  it("reports TOML syntax errors with line and column", () => {
    const err = configError(() => parseConfigToml("[http]\nport = = 1\n", "configs/bad.toml"));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.shortMessage).toMatch(/^configs\/bad\.toml:2:\d+: TOML syntax error/);
  });

  it("round-trips the rendered default config", () => {
    for (const kind of ["node", "devnet"] as const) {
      const c = defaultConfig(kind);
      const text = renderConfigToml(c);
      expect(parseConfigToml(text, "rendered.toml")).toEqual({
        ...c,
        validator: {},
        producer: { enabled: true },
      });
      // Every key is documented.
      for (const line of text.split("\n"))
        if (/^[a-z_]+ = /.test(line)) expect(text.split(line)[0]?.trimEnd().split("\n").pop()).toMatch(/^#/);
    }
    const c = {
      ...defaultConfig("node"),
      producer: { enabled: false, blockTimeMs: 500, emptyBlocks: false },
    };
    expect(parseConfigToml(renderConfigToml(c), "r").producer).toEqual(c.producer);
  });
});

describe("example configs", () => {
  const files = readdirSync(CONFIGS_DIR).filter((f) => f.endsWith(".toml"));

  it("ships devnet, validator and rpc examples", () => {
    expect(files.sort()).toEqual(["devnet.toml", "rpc.toml", "validator.toml"]);
  });

  it.each(files)("%s parses and every key is commented", (file) => {
    const path = join(CONFIGS_DIR, file);
    const text = readFileSync(path, "utf8");
    parseConfigToml(text, file);
    const config = loadConfig({ kind: "node", configPath: path });
    expect(config.datadir.startsWith("/")).toBe(true);
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      if (/^[a-z_]+ = /.test(line)) expect(lines[i - 1], `${file}: ${line}`).toMatch(/^#/);
    });
  });

  it("devnet.toml resolves paths against configs/", () => {
    const c = loadConfig({ kind: "devnet", configPath: join(CONFIGS_DIR, "devnet.toml") });
    expect(c.datadir).toBe(resolve(CONFIGS_DIR, "../.meridian/devnet"));
    expect(c.genesis).toBe(resolve(CONFIGS_DIR, "../genesis/devnet.json"));
  });
});

describe("loadConfig", () => {
  it("applies defaults ← file ← overrides", () => {
    const dir = tmp();
    const file = join(dir, "c.toml");
    writeFileSync(
      file,
      `datadir = "data"\n[http]\nport = 9000\naddr = "0.0.0.0"\ncors = ["a"]\n[log]\nlevel = "debug"\n[validator]\nkeystore = "ks/key.json"\n`,
    );
    const c = loadConfig({
      kind: "node",
      configPath: file,
      cwd: "/work",
      overrides: {
        http: { port: 9001, addr: undefined },
        log: { format: "json" },
        validator: { passwordFile: "pw" },
      },
    });
    expect(c.http.port).toBe(9001); // override beats file
    expect(c.http.addr).toBe("0.0.0.0"); // undefined override leaves the file value
    expect(c.http.cors).toEqual(["a"]);
    expect(c.http.batchLimit).toBe(1000); // default
    expect(c.log).toEqual({ level: "debug", format: "json" });
    expect(c.datadir).toBe(join(dir, "data")); // relative to the file
    expect(c.validator.keystore).toBe(join(dir, "ks/key.json"));
    expect(c.validator.passwordFile).toBe("/work/pw"); // relative to cwd
  });

  it("resolves defaults against cwd and keeps genesis unset", () => {
    const c = loadConfig({ kind: "devnet", cwd: "/w" });
    expect(c.datadir).toBe("/w/.meridian/devnet");
    expect(c.genesis).toBeUndefined();
  });

  it("override arrays replace file arrays", () => {
    const dir = tmp();
    writeFileSync(join(dir, "c.toml"), `[http]\ncors = ["a", "b"]\n`);
    const c = loadConfig({
      kind: "node",
      configPath: join(dir, "c.toml"),
      overrides: { http: { cors: ["c"] } },
    });
    expect(c.http.cors).toEqual(["c"]);
  });

  it("passes a private key through overrides only", () => {
    const key = new Uint8Array(32).fill(1);
    expect(
      loadConfig({ kind: "devnet", overrides: { validator: { privateKey: key } } }).validator.privateKey,
    ).toBe(key);
    const err = configError(() =>
      loadConfig({ kind: "devnet", overrides: { validator: { privateKey: new Uint8Array(31) } } }),
    );
    expect(err.shortMessage).toBe("command line: validator.privateKey: expected 32 bytes, got 31 bytes");
  });

  it("validates overrides with the flag's key path", () => {
    const err = configError(() => validateOverrides({ http: { port: "abc" } }));
    expect(err.shortMessage).toBe('command line: http.port: expected integer 0..65535, got "abc"');
    expect(configError(() => validateOverrides({ nope: 1 })).shortMessage).toBe(
      "command line: nope: unknown key",
    );
  });

  it("reports a missing file as CONFIG_NOT_FOUND", () => {
    const err = configError(() => loadConfig({ kind: "node", configPath: "/nonexistent/meridian.toml" }));
    expect(err.code).toBe("CONFIG_NOT_FOUND");
    expect(err.shortMessage).toContain("/nonexistent/meridian.toml");
  });

  it("reports file errors with the file name", () => {
    const dir = tmp();
    writeFileSync(join(dir, "bad.toml"), `[metrics]\nport = -1\n`);
    const err = configError(() => loadConfig({ kind: "node", configPath: join(dir, "bad.toml") }));
    expect(err.shortMessage).toBe(
      `${join(dir, "bad.toml")}: metrics.port: expected integer 0..65535, got -1`,
    );
  });
});
