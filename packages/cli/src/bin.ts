#!/usr/bin/env node
import { main } from "./program.ts";

// Explicit exit: a started node may leave handles open after close().
process.exit(await main(process.argv));
