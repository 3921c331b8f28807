import { readFileSync } from "node:fs";
import { defaultConfig, validateOverrides } from "@meridian/node";
import { MeridianError } from "@meridian/primitives";
import { Command } from "commander";
import { getAddress, HDNodeWallet } from "ethers";
import { describe, expect, it } from "vitest";
import {
  DEVNET_GENESIS,
  formatError,
  parsePrivateKeyHex,
  toChecksumAddress,
  wantsDebug,
} from "../src/common.ts";
import {
  DEV_ACCOUNTS,
  DEV_DERIVATION_PATH,
  DEV_MNEMONIC,
  DEVNET_VALIDATOR,
  DEVNET_VALIDATOR_INDEX,
} from "../src/dev-accounts.ts";
import { addNodeOptions, HELP_DEFAULTS, nodeOverrides } from "../src/options.ts";
import { formatStatus } from "../src/status.ts";
import { gitCommit } from "../src/version.ts";

function parseFlags(args: string[], kind: "devnet" | "node" = "node") {
  const cmd = addNodeOptions(new Command("t").exitOverride(), kind)
    .option("--keystore <file>")
    .option("--password <file>")
    .option("--no-produce")
    .option("--block-time <ms>", "", (v) => Number(v))
    .option("--no-empty-blocks");
  cmd.parse(args, { from: "user" });
  return validateOverrides(nodeOverrides(cmd));
}

describe("dev accounts", () => {
  it("are the first ten accounts of the test mnemonic", () => {
    expect(DEV_ACCOUNTS).toHaveLength(10);
    DEV_ACCOUNTS.forEach((account, i) => {
      const wallet = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `${DEV_DERIVATION_PATH}/${i}`);
      expect(account.address).toBe(wallet.address);
      expect(account.privateKey).toBe(wallet.privateKey);
    });
    expect(DEV_ACCOUNTS[0]?.privateKey).toBe(
      "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    );
  });
});

describe("devnet validator", () => {
  it("is index 1000 of the test mnemonic, none of the dev accounts, and the devnet genesis validator", () => {
    const wallet = HDNodeWallet.fromPhrase(
      DEV_MNEMONIC,
      undefined,
      `${DEV_DERIVATION_PATH}/${DEVNET_VALIDATOR_INDEX}`,
    );
    expect(DEVNET_VALIDATOR).toEqual({ address: wallet.address, privateKey: wallet.privateKey });
    const devAddresses = DEV_ACCOUNTS.map((a) => a.address.toLowerCase());
    expect(devAddresses).not.toContain(DEVNET_VALIDATOR.address.toLowerCase());
    const genesis = JSON.parse(readFileSync(DEVNET_GENESIS, "utf8")) as {
      validators: { address: string }[];
    };
    expect(genesis.validators.map((v) => v.address)).toEqual([DEVNET_VALIDATOR.address]);
  });
});

describe("helpers", () => {
  it("checksums addresses like ethers", () => {
    for (const a of DEV_ACCOUNTS)
      expect(toChecksumAddress(a.address.toLowerCase())).toBe(getAddress(a.address));
    expect(toChecksumAddress(new Uint8Array(20))).toBe("0x0000000000000000000000000000000000000000");
  });

  it("parses hex private key files strictly", () => {
    const hex = DEV_ACCOUNTS[1]?.privateKey ?? "";
    expect(parsePrivateKeyHex(`  ${hex}\n`, "f")).toHaveLength(32);
    expect(parsePrivateKeyHex(hex.slice(2), "f")).toHaveLength(32);
    for (const bad of [
      "",
      "0x1234",
      `${hex}00`,
      "zz".repeat(32),
      `0x${"0".repeat(64)}`,
      `0x${"f".repeat(64)}`,
    ])
      expect(() => parsePrivateKeyHex(bad, "f")).toThrow(expect.objectContaining({ code: "KEY_INVALID" }));
  });

  it("help defaults mirror defaultConfig", () => {
    const node = defaultConfig("node");
    expect(HELP_DEFAULTS.datadir.node).toBe(node.datadir);
    expect(HELP_DEFAULTS.datadir.devnet).toBe(defaultConfig("devnet").datadir);
    expect(HELP_DEFAULTS.httpAddr).toBe(node.http.addr);
    expect(HELP_DEFAULTS.httpPort).toBe(node.http.port);
    expect(HELP_DEFAULTS.metricsAddr).toBe(node.metrics.addr);
    expect(HELP_DEFAULTS.metricsPort).toBe(node.metrics.port);
    expect(HELP_DEFAULTS.logLevel).toBe(node.log.level);
    expect(HELP_DEFAULTS.logFormat).toBe(node.log.format);
  });

  it("formats errors on one line unless debugging", () => {
    const err = new MeridianError("bad thing", { code: "BAD", cause: new Error("inner") });
    expect(formatError(err, false)).toBe("error: bad thing [BAD]");
    const debug = formatError(err, true);
    expect(debug).toContain("MeridianError: bad thing");
    expect(debug).toContain("Error: inner");
    expect(formatError(Object.assign(new Error("nope"), { code: "ENOENT" }), false)).toBe(
      "error: nope [ENOENT]",
    );
    expect(wantsDebug(["node", "bin", "start", "--log.level", "debug"])).toBe(true);
    expect(wantsDebug(["--log.level=trace"])).toBe(true);
    expect(wantsDebug(["--log.level", "info"])).toBe(false);
  });

  it("summarises status with decimal quantities", () => {
    const text = formatStatus("http://x", {
      chainId: "0x1ca3",
      blockNumber: "0x10",
      syncing: false,
      peers: { count: 0 },
    });
    expect(text).toContain("Chain id");
    expect(text).toContain("7331 (0x1ca3)");
    expect(text).toContain("16 (0x10)");
    expect(text).toContain("false");
  });

  it("reads the git commit from .git when present", () => {
    const commit = gitCommit();
    if (commit !== undefined) expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(gitCommit("/nonexistent")).toBeUndefined();
  });
});

describe("node flags → config overrides", () => {
  it("includes only flags that were given", () => {
    expect(parseFlags([])).toEqual({
      http: {},
      ws: {},
      metrics: {},
      log: {},
      rpc: {},
      executor: {},
      producer: {},
      validator: {},
    });
  });

  it("maps every flag", () => {
    const o = parseFlags([
      "--datadir",
      "d",
      "--genesis",
      "g.json",
      "--http.addr",
      "0.0.0.0",
      "--http.port",
      "8546",
      "--http.cors",
      "https://a.example, https://b.example",
      "--no-ws",
      "--http.vhosts",
      "localhost, node.example",
      "--ws.origins",
      "http://localhost:3000,*",
      "--metrics.addr",
      "10.0.0.1",
      "--metrics.port",
      "0",
      "--no-metrics",
      "--log.level",
      "debug",
      "--log.format",
      "json",
      "--keystore",
      "k.json",
      "--password",
      "pw",
      "--no-produce",
      "--block-time",
      "250",
      "--no-empty-blocks",
      "--executor.workers",
      "3",
      "--rpc.allow-unprotected-txs",
    ]);
    expect(o).toEqual({
      datadir: "d",
      genesis: "g.json",
      http: {
        addr: "0.0.0.0",
        port: 8546,
        cors: ["https://a.example", "https://b.example"],
        ws: false,
        vhosts: ["localhost", "node.example"],
      },
      ws: { origins: ["http://localhost:3000", "*"] },
      metrics: { enabled: false, addr: "10.0.0.1", port: 0 },
      log: { level: "debug", format: "json" },
      rpc: { allowUnprotectedTxs: true },
      executor: { workers: 3 },
      producer: { enabled: false, blockTimeMs: 250, emptyBlocks: false },
      validator: { keystore: "k.json", passwordFile: "pw" },
    });
    expect(parseFlags(["--ws"]).http?.ws).toBe(true);
  });

  it("reports bad flag values with the config key", () => {
    expect(() => parseFlags(["--http.port", "abc"])).toThrow(
      'command line: http.port: expected integer 0..65535, got "abc"',
    );
    expect(() => parseFlags(["--metrics.port", "99999"])).toThrow("metrics.port: expected integer 0..65535");
  });
});
