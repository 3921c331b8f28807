/** The commander program: commands, flags and help texts. */
import { registerBlocktestCommand } from "@meridian/blocktest/command";
import { Command, CommanderError } from "commander";
import { formatError, intArg, packageVersion, wantsDebug } from "./common.ts";
import { runInit } from "./init.ts";
import {
  runExportSigningState,
  runImportSigningState,
  runKeysImport,
  runKeysList,
  runKeysNew,
  SCRYPT_N_ENV,
} from "./keys.ts";
import { addNodeOptions, HELP_DEFAULTS } from "./options.ts";
import { runDevnet, runStart } from "./run.ts";
import { runStatus } from "./status.ts";
import { runVersion } from "./version.ts";

export function buildProgram(): Command {
  const program = new Command("meridian")
    .description("Meridian: an EVM sidechain full node")
    .version(packageVersion(), "-V, --version", "print the version number")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  program
    .command("init")
    .description("create a data directory with a documented config.toml and the genesis")
    .option("--datadir <dir>", `data directory to create (default: ${HELP_DEFAULTS.datadir.node})`)
    .option("--genesis <file>", "genesis JSON to copy (default: the repo's genesis/devnet.json)")
    .option("--force", "overwrite an existing config.toml / genesis.json", false)
    .action(async (opts: { datadir?: string; genesis?: string; force?: boolean }) => runInit(opts));

  addNodeOptions(
    program.command("start").description("run a node from a data directory (see `meridian init`)"),
    "node",
  )
    .option("--keystore <file>", "validator keystore (Web3 Secret Storage v3); enables block production")
    .option(
      "--password <file>",
      "file whose first line is the keystore password (default: prompt on a terminal)",
    )
    .option("--no-produce", "do not produce blocks even with a validator key")
    .action(async (_opts: unknown, cmd: Command) => runStart(cmd));

  addNodeOptions(
    program
      .command("devnet")
      .description("run a single-validator development chain with ten funded, well-known test accounts"),
    "devnet",
  )
    .option("--reset", "delete the data directory first", false)
    .option("--block-time <ms>", "block interval in milliseconds (default: from genesis)", intArg)
    .option("--no-empty-blocks", "only produce blocks that contain transactions")
    .action(async (_opts: unknown, cmd: Command) => runDevnet(cmd));

  const keys = program
    .command("keys")
    .description(
      "manage encrypted validator keys (Web3 Secret Storage v3, compatible with geth/foundry/ethers)",
    )
    .addHelpText(
      "after",
      `\nPrivate keys and passwords are never printed. ${SCRYPT_N_ENV} (tests only) lowers the scrypt cost.`,
    );
  const keyDirOptions = (cmd: Command) =>
    cmd
      .option("--datadir <dir>", `data directory (default: ${HELP_DEFAULTS.datadir.node})`)
      .option("--keystore-dir <dir>", "keystore directory (default: <datadir>/keystore)");
  keyDirOptions(keys.command("new").description("generate a key and store it encrypted"))
    .option(
      "--password <file>",
      "file whose first line is the password (default: prompt twice on a terminal)",
    )
    .action(async (opts: { datadir?: string; keystoreDir?: string; password?: string }) => runKeysNew(opts));
  keyDirOptions(keys.command("list").description("list keystores: address and file"))
    .option("--json", "print JSON")
    .action(async (opts: { datadir?: string; keystoreDir?: string; json?: boolean }) => runKeysList(opts));
  keyDirOptions(
    keys
      .command("import")
      .description("encrypt a hex private key read from a file into the keystore")
      .argument("<hex-private-key-file>", "file holding the 32-byte private key in hex (0x optional)"),
  )
    .option(
      "--password <file>",
      "file whose first line is the password (default: prompt twice on a terminal)",
    )
    .action(async (file: string, opts: { datadir?: string; keystoreDir?: string; password?: string }) =>
      runKeysImport(file, opts),
    );
  keys
    .command("export-signing-state")
    .description("print the validator's last signed height/round/step (to move it to another machine)")
    .option("--datadir <dir>", `data directory (default: ${HELP_DEFAULTS.datadir.node})`)
    .option("--file <file>", "write the JSON here instead of stdout")
    .action(async (opts: { datadir?: string; file?: string }) => runExportSigningState(opts));
  keys
    .command("import-signing-state")
    .description("install exported signing state; refuses state older than the data directory's")
    .option("--datadir <dir>", `data directory (default: ${HELP_DEFAULTS.datadir.node})`)
    .requiredOption("--file <file>", "JSON written by export-signing-state")
    .action(async (opts: { datadir?: string; file?: string }) => runImportSigningState(opts));

  program
    .command("status")
    .description("summarise a running node over JSON-RPC (meridian_status, else eth_* / net_*)")
    .option("--rpc <url>", "JSON-RPC endpoint", `http://${HELP_DEFAULTS.httpAddr}:${HELP_DEFAULTS.httpPort}`)
    .option("--timeout <ms>", "request timeout in milliseconds", (v) => Number(v), 5000)
    .option("--json", "print JSON")
    .action(async (opts: { rpc: string; timeout: number; json?: boolean }) => runStatus(opts));

  registerBlocktestCommand(program);

  program
    .command("version")
    .description("print the Meridian version, the Node.js version and the git commit")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => runVersion(opts));

  return program;
}

/** Runs the CLI; resolves to the process exit code. Errors become one line on stderr. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    // Commands that report through the exit code (blocktest) set process.exitCode.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // Commander already printed its own message (usage errors, --help, --version).
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`${formatError(err, wantsDebug(argv))}\n`);
    return 1;
  }
}
