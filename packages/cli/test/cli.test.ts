/**
 * End-to-end: runs `node packages/cli/src/bin.ts` as a child process, the way
 * users and `npm run meridian` do.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileSignerStateStore, Signer, VoteType } from "@meridian/consensus";
import { acquireDatadirLock, decryptKeystore, parseConfigToml } from "@meridian/node";
import { afterAll, describe, expect, it } from "vitest";

import { DEV_ACCOUNTS, DEVNET_VALIDATOR } from "../src/dev-accounts.ts";

const BIN = fileURLToPath(new URL("../src/bin.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const DEVNET_GENESIS = join(REPO, "genesis/devnet.json");
const NODE_READY = existsSync(join(REPO, "packages/node/src/node.ts"));
// Tests only: cheap scrypt. Real keys use geth's cost (262144).
const TEST_ENV = { MERIDIAN_KEYSTORE_SCRYPT_N: "1024", NO_COLOR: "1" };

type Result = { code: number | null; stdout: string; stderr: string };

function run(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, ...TEST_ENV, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdin.end(); // not a TTY: password prompts must fail, not hang
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "meridian-cli-"));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

describe("help and version", () => {
  it("--help lists every command", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const cmd of ["init", "start", "devnet", "keys", "status", "version"])
      expect(r.stdout).toContain(cmd);
  });

  it.each([
    ["init", ["--datadir", "--genesis", "--force", "default: ./.meridian/node"]],
    [
      "start",
      [
        "--http.port",
        "default: 8545",
        "--metrics.port",
        "default: 9545",
        "--no-ws",
        "--no-metrics",
        "--keystore",
        "--password",
        "--no-produce",
        "--log.format",
        "--executor.workers",
      ],
    ],
    [
      "devnet",
      ["--reset", "--block-time", "--no-empty-blocks", "default: ./.meridian/devnet", "--http.cors"],
    ],
    ["keys", ["new", "list", "import", "MERIDIAN_KEYSTORE_SCRYPT_N"]],
    ["keys new", ["--keystore-dir", "--password", "default: <datadir>/keystore"]],
    ["keys list", ["--keystore-dir"]],
    ["keys import", ["<hex-private-key-file>", "--password"]],
    ["status", ["--rpc", "http://127.0.0.1:8545", "--json"]],
    ["version", ["--json"]],
  ])("%s --help", async (cmd, expected) => {
    const r = await run([...cmd.split(" "), "--help"]);
    expect(r.code).toBe(0);
    // commander wraps descriptions at the terminal width: compare with whitespace collapsed.
    const flat = r.stdout.replace(/\s+/g, " ");
    for (const text of expected) expect(flat).toContain(text);
  });

  it("version prints package, node and commit", async () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "packages/cli/package.json"), "utf8"));
    const r = await run(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`meridian ${pkg.version}`);
    expect(r.stdout).toContain(process.version);
    if (existsSync(join(REPO, ".git"))) expect(r.stdout).toMatch(/commit\s+[0-9a-f]{40}/);
    const json = JSON.parse((await run(["version", "--json"])).stdout);
    expect(json).toMatchObject({ meridian: pkg.version, node: process.version });
    expect((await run(["--version"])).stdout.trim()).toBe(pkg.version);
  });

  it("unknown commands and options exit 1", async () => {
    expect((await run(["frobnicate"])).code).toBe(1);
    const r = await run(["start", "--log.level", "loud"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("loud");
  });
});

describe("init", () => {
  it("creates the data dir with config.toml and genesis, refusing to overwrite without --force", async () => {
    const datadir = join(tmp(), "node");
    const genesis = join(tmp(), "g.json");
    // A genesis `start` accepts: init validates it with the node's own parser.
    const validators = [{ address: DEV_ACCOUNTS[0]?.address, power: 1 }];
    writeFileSync(genesis, JSON.stringify({ chainId: 99, validators, alloc: {} }));
    const r = await run(["init", "--datadir", datadir, "--genesis", genesis]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(datadir);
    expect(readFileSync(join(datadir, "genesis.json"), "utf8")).toBe(readFileSync(genesis, "utf8"));
    const toml = readFileSync(join(datadir, "config.toml"), "utf8");
    expect(parseConfigToml(toml, "config.toml")).toMatchObject({ datadir: ".", http: { port: 8545 } });
    expect(toml).toContain("# Listen port");

    const again = await run(["init", "--datadir", datadir, "--genesis", genesis]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .*--force.*\[INIT_EXISTS\]\n$/);

    writeFileSync(genesis, JSON.stringify({ chainId: 100, validators }));
    expect((await run(["init", "--datadir", datadir, "--genesis", genesis, "--force"])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(datadir, "genesis.json"), "utf8")).chainId).toBe(100);
  }, 120_000);

  it.skipIf(!existsSync(DEVNET_GENESIS))("defaults to the repo devnet genesis", async () => {
    const datadir = join(tmp(), "d");
    const r = await run(["init", "--datadir", datadir], { cwd: tmp() });
    expect(r.code).toBe(0);
    expect(readFileSync(join(datadir, "genesis.json"), "utf8")).toBe(readFileSync(DEVNET_GENESIS, "utf8"));
  });

  it("rejects a missing or malformed genesis", async () => {
    const dir = tmp();
    const missing = await run(["init", "--datadir", join(dir, "a"), "--genesis", join(dir, "nope.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("[GENESIS_MISSING]");
    writeFileSync(join(dir, "bad.json"), "{");
    const bad = await run(["init", "--datadir", join(dir, "b"), "--genesis", join(dir, "bad.json")]);
    expect(bad.stderr).toContain("[GENESIS_INVALID]");
    expect(existsSync(join(dir, "b"))).toBe(false);
  });
});

describe("keys", () => {
  const PASSWORD = "correct-horse-battery";
  const KEY = DEV_ACCOUNTS[3]?.privateKey ?? "";

  it("new, import and list with password files; never prints secrets", async () => {
    const dir = tmp();
    const datadir = join(dir, "node");
    writeFileSync(join(dir, "pw"), `${PASSWORD}\n`);
    writeFileSync(join(dir, "key.hex"), `${KEY}\n`);

    const created = await run(["keys", "new", "--datadir", datadir, "--password", join(dir, "pw")]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const newAddress = created.stdout.match(/Address:\s+(0x[0-9a-fA-F]{40})/)?.[1];
    const newPath = created.stdout.match(/Keystore:\s+(\S+)/)?.[1] ?? "";
    expect(newAddress).toBeDefined();
    expect(newPath.startsWith(join(datadir, "keystore"))).toBe(true);
    expect(statSync(newPath).mode & 0o777).toBe(0o600);

    const imported = await run([
      "keys",
      "import",
      join(dir, "key.hex"),
      "--datadir",
      datadir,
      "--password",
      join(dir, "pw"),
    ]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(`Address:  ${DEV_ACCOUNTS[3]?.address}`);
    const importedPath = imported.stdout.match(/Keystore:\s+(\S+)/)?.[1] ?? "";
    const ks = JSON.parse(readFileSync(importedPath, "utf8"));
    expect(ks.crypto.kdfparams.n).toBe(1024);
    const key = await decryptKeystore(ks, PASSWORD);
    expect(`0x${Buffer.from(key).toString("hex")}`).toBe(KEY);

    const list = await run(["keys", "list", "--datadir", datadir]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(list.stdout).toContain(`${newAddress}  ${newPath}`);
    expect(list.stdout).toContain(`${DEV_ACCOUNTS[3]?.address}  ${importedPath}`);
    const json = JSON.parse(
      (await run(["keys", "list", "--keystore-dir", join(datadir, "keystore"), "--json"])).stdout,
    );
    expect(json).toHaveLength(2);

    for (const r of [created, imported, list]) {
      const out = r.stdout + r.stderr;
      expect(out).not.toContain(PASSWORD);
      expect(out).not.toContain(KEY.slice(2));
    }
    // No temporary files left in the keystore directory.
    expect(readdirSync(join(datadir, "keystore")).filter((f) => f.startsWith("."))).toEqual([]);

    const dup = await run([
      "keys",
      "import",
      join(dir, "key.hex"),
      "--datadir",
      datadir,
      "--password",
      join(dir, "pw"),
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("[KEYSTORE_EXISTS]");
  }, 120_000);

  it("uses --keystore-dir", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "pw"), PASSWORD);
    const r = await run(["keys", "new", "--keystore-dir", join(dir, "ks"), "--password", join(dir, "pw")]);
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, "ks"))).toHaveLength(1);
  });

  it("fails clearly without a password on a non-terminal", async () => {
    const dir = tmp();
    const r = await run(["keys", "new", "--datadir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*\[PASSWORD_MISSING\]\n$/);
    writeFileSync(join(dir, "empty"), "");
    const empty = await run(["keys", "new", "--datadir", dir, "--password", join(dir, "empty")]);
    expect(empty.stderr).toContain("[PASSWORD_MISSING]");
    expect(existsSync(join(dir, "keystore"))).toBe(false);
  });

  it("rejects malformed key files and lists an empty dir", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "pw"), PASSWORD);
    writeFileSync(join(dir, "bad.hex"), "0x1234");
    const bad = await run([
      "keys",
      "import",
      join(dir, "bad.hex"),
      "--datadir",
      dir,
      "--password",
      join(dir, "pw"),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("[KEY_INVALID]");
    const list = await run(["keys", "list", "--datadir", dir]);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe("");
    expect(list.stderr).toContain("No keystores");
  });
});

describe("start (errors before the node runs)", () => {
  it("names the flag and value for invalid overrides, without a stack", async () => {
    const r = await run(["start", "--datadir", tmp(), "--http.port", "abc"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: command line: http.port: expected integer 0..65535, got "abc" [CONFIG_INVALID]\n',
    );
    const debug = await run(["start", "--datadir", tmp(), "--http.port", "abc", "--log.level", "debug"]);
    expect(debug.stderr).toContain("at ");
  });

  it("reports config file errors with file, key and reason", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "c.toml"), "[http]\nport = 1\n[rcp]\ngas_cap = 1\n");
    const r = await run(["start", "--config", join(dir, "c.toml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: ${join(dir, "c.toml")}: rcp: unknown key [CONFIG_INVALID]\n`);
  });

  it("needs a genesis", async () => {
    const r = await run(["start", "--datadir", tmp()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("meridian init");
    expect(r.stderr).toContain("[GENESIS_MISSING]");
  });

  it("needs a keystore password when not on a terminal", async () => {
    const dir = tmp();
    const genesis = join(dir, "g.json");
    writeFileSync(genesis, "{}");
    writeFileSync(join(dir, "pw"), "pw");
    expect((await run(["keys", "new", "--datadir", dir, "--password", join(dir, "pw")])).code).toBe(0);
    const ks = join(dir, "keystore", readdirSync(join(dir, "keystore"))[0] ?? "");
    const r = await run(["start", "--datadir", dir, "--genesis", genesis, "--keystore", ks]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("[PASSWORD_MISSING]");
    writeFileSync(join(dir, "wrong"), "not-it");
    const wrong = await run([
      "start",
      "--datadir",
      dir,
      "--genesis",
      genesis,
      "--keystore",
      ks,
      "--password",
      join(dir, "wrong"),
    ]);
    expect(wrong.stderr).toContain("[KEYSTORE_BAD_PASSWORD]");
    expect(wrong.stderr).not.toContain("not-it");
  }, 120_000);
});

describe("status", () => {
  async function fakeNode(
    handler: (method: string) => { result?: unknown; error?: unknown },
  ): Promise<string> {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        const { id, method } = JSON.parse(body);
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ jsonrpc: "2.0", id, ...handler(method) }));
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("prints meridian_status", async () => {
    const url = await fakeNode((m) =>
      m === "meridian_status"
        ? { result: { chainId: "0x1ca3", head: { number: "0x2a" }, producing: true } }
        : {},
    );
    const r = await run(["status", "--rpc", url]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("7331 (0x1ca3)");
    expect(r.stdout).toContain("42 (0x2a)");
    const json = await run(["status", "--rpc", url, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({ chainId: "0x1ca3", head: { number: "0x2a" }, producing: true });
  });

  it("falls back to eth_* / net_* methods", async () => {
    const url = await fakeNode((m) => {
      if (m === "eth_chainId") return { result: "0x1ca3" };
      if (m === "eth_blockNumber") return { result: "0x10" };
      if (m === "net_peerCount") return { result: "0x0" };
      if (m === "eth_syncing") return { result: false };
      return { error: { code: -32601, message: "method not found" } };
    });
    const r = await run(["status", "--rpc", url, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      chainId: "0x1ca3",
      blockNumber: "0x10",
      peerCount: "0x0",
      syncing: false,
    });
  });

  it("fails with one line when the node is down", async () => {
    const url = await fakeNode(() => ({}));
    const server = servers.pop();
    await new Promise((r) => server?.close(r));
    const r = await run(["status", "--rpc", url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot reach ${url}: ECONNREFUSED [RPC_UNREACHABLE]\n`);
  });
});

describe.skipIf(!NODE_READY)("devnet (real node)", () => {
  it("starts, prints the banner on stderr, answers RPC and stops cleanly on SIGINT", async () => {
    const datadir = join(tmp(), "devnet");
    const child = spawn(
      process.execPath,
      [
        BIN,
        "devnet",
        "--datadir",
        datadir,
        "--http.port",
        "0",
        "--metrics.port",
        "0",
        "--log.format",
        "json",
      ],
      { cwd: REPO, env: { ...process.env, ...TEST_ENV }, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    const rpcUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner; stderr: ${stderr}`)), 30_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = stderr.match(/RPC\s+(http:\/\/\S+)/);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on("exit", () => reject(new Error(`exited early; stderr: ${stderr}`)));
    });
    const res = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    expect(((await res.json()) as { result: string }).result).toBe("0x1ca3");
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(stderr).toContain(DEV_ACCOUNTS[9]?.privateKey);
    expect(stderr).toMatch(
      new RegExp(
        `Validator\\s+${DEVNET_VALIDATOR.address} \\(block producer, staked; fees go to the staking contract`,
      ),
    );
    // The banner never lands in the JSON log stream.
    for (const line of stdout.split("\n").filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    expect(existsSync(join(datadir, "genesis.json"))).toBe(true);
  }, 120_000);
});

describe.skipIf(!NODE_READY || !existsSync(DEVNET_GENESIS))("init + start (real node)", () => {
  it("picks up <datadir>/config.toml, decrypts the keystore and stops on SIGTERM", async () => {
    const dir = tmp();
    const datadir = join(dir, "node");
    expect((await run(["init", "--datadir", datadir])).code).toBe(0);
    // Edit the generated config: the node must take its ports from it.
    const configFile = join(datadir, "config.toml");
    writeFileSync(
      configFile,
      readFileSync(configFile, "utf8").replace("port = 8545", "port = 0").replace("port = 9545", "port = 0"),
    );
    writeFileSync(join(dir, "pw"), "validator-pw\n");
    writeFileSync(join(dir, "key.hex"), DEVNET_VALIDATOR.privateKey);
    const imported = await run([
      "keys",
      "import",
      join(dir, "key.hex"),
      "--datadir",
      datadir,
      "--password",
      join(dir, "pw"),
    ]);
    const keystore = imported.stdout.match(/Keystore:\s+(\S+)/)?.[1] ?? "";

    const child = spawn(
      process.execPath,
      [
        BIN,
        "start",
        "--datadir",
        datadir,
        "--keystore",
        keystore,
        "--password",
        join(dir, "pw"),
        "--log.format",
        "json",
      ],
      { cwd: REPO, env: { ...process.env, ...TEST_ENV }, stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not started; stdout: ${stdout} stderr: ${stderr}`)),
        30_000,
      );
      child.stdout.on("data", (d) => {
        stdout += d;
        if (stdout.includes('"msg":"node started"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`exited early; stderr: ${stderr}`)));
    });
    const logs = stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; url?: string; validator?: string });
    const rpc = logs.find((l) => l.msg.includes("JSON-RPC") && l.url)?.url ?? "";
    expect(rpc).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(rpc).not.toContain(":8545");
    expect(logs.find((l) => l.msg === "starting node")?.validator).toBe(DEVNET_VALIDATOR.address);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stdout + stderr).not.toContain("validator-pw");
    expect(stdout + stderr).not.toContain(DEVNET_VALIDATOR.privateKey.slice(2));
  }, 120_000);
});

describe.skipIf(!NODE_READY)("keys export-signing-state / import-signing-state", () => {
  const key = Uint8Array.from(Buffer.from((DEV_ACCOUNTS[1]?.privateKey ?? "").slice(2), "hex"));
  const statePath = (datadir: string) => join(datadir, "consensus", "signer-state.json");
  async function signAt(datadir: string, height: bigint): Promise<void> {
    const signer = await Signer.open(key, new FileSignerStateStore(statePath(datadir)));
    await signer.signVote("7331", {
      type: VoteType.Precommit,
      height,
      round: 1,
      valueId: new Uint8Array(32).fill(1),
    });
  }

  it("moves a validator's signing state and refuses to move it backwards", async () => {
    const dir = tmp();
    const [from, to] = [join(dir, "from"), join(dir, "to")];
    for (const d of [from, to]) mkdirSync(join(d, "consensus"), { recursive: true });
    await signAt(from, 10n);
    const file = join(dir, "state.json");

    const exported = await run(["keys", "export-signing-state", "--datadir", from, "--file", file]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain("height 10 round 1 step precommit");
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ height: "10", round: 1, step: 3 });
    const toStdout = await run(["keys", "export-signing-state", "--datadir", from]);
    expect(JSON.parse(toStdout.stdout)).toEqual(JSON.parse(readFileSync(file, "utf8")));

    const imported = await run(["keys", "import-signing-state", "--datadir", to, "--file", file]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain("Imported signing state: height 10 round 1 step precommit");
    expect(readFileSync(statePath(to), "utf8")).toBe(readFileSync(statePath(from), "utf8"));

    // The new machine signs on; the old state must not overwrite it.
    await signAt(to, 12n);
    const before = readFileSync(statePath(to), "utf8");
    const older = await run(["keys", "import-signing-state", "--datadir", to, "--file", file]);
    expect(older.code).not.toBe(0);
    expect(older.stderr).toMatch(/older than the current one/);
    expect(older.stderr).toContain("CONSENSUS_DOUBLE_SIGN");
    expect(readFileSync(statePath(to), "utf8")).toBe(before);

    const missing = await run(["keys", "export-signing-state", "--datadir", join(dir, "empty")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("SIGNER_STATE_MISSING");
    // A node running on the data dir holds its lock: the import is refused and changes nothing.
    const newer = join(dir, "newer.json");
    await signAt(from, 20n);
    expect((await run(["keys", "export-signing-state", "--datadir", from, "--file", newer])).code).toBe(0);
    const lock = await acquireDatadirLock(to, "meridian devnet");
    try {
      const whileRunning = await run(["keys", "import-signing-state", "--datadir", to, "--file", newer]);
      expect(whileRunning.code).not.toBe(0);
      expect(whileRunning.stderr).toContain("DATADIR_LOCKED");
      expect(readFileSync(statePath(to), "utf8")).toBe(before);
    } finally {
      await lock.release();
    }
    const garbage = join(dir, "garbage.json");
    writeFileSync(garbage, "{not json");
    const bad = await run(["keys", "import-signing-state", "--datadir", to, "--file", garbage]);
    expect(bad.code).not.toBe(0);
    expect(readFileSync(statePath(to), "utf8")).toBe(before);
  });
});
