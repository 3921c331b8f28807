#!/usr/bin/env node
/** Stand-alone entry: `node packages/blocktest/src/bin.ts <file-or-dir...> [options]`. */
import { Command } from "commander";
import { type CommandLike, registerBlocktestCommand } from "./command.ts";

const program = new Command("meridian");
registerBlocktestCommand(program as unknown as CommandLike);
await program.parseAsync(["node", "meridian", "blocktest", ...process.argv.slice(2)]);
