/**
 * `npm run fuzz -- [--runs N] [--seed S] [--target NAME]`: seeded fuzz campaigns (campaigns.ts).
 * Prints one JSON line per target ({target, runs, seed, accepted, rejected, ms}); a finding prints
 * the counterexample with the seed that reproduces it and exits 1.
 */
import { parseArgs } from "node:util";
import { FuzzFailure, runCampaign, TARGET_NAMES } from "./campaigns.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10000" },
    seed: { type: "string" },
    target: { type: "string", multiple: true },
  },
});

const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1)
  throw new Error(`--runs must be a positive integer, got ${values.runs}`);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
const targets = values.target ?? [...TARGET_NAMES];

let failed = false;
for (const target of targets) {
  try {
    const result = await runCampaign(target, runs, seed);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    failed = true;
    if (!(err instanceof FuzzFailure)) throw err;
    process.stdout.write(`${JSON.stringify({ target, runs, seed, failure: err.message })}\n`);
    process.stderr.write(`${err.message}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
