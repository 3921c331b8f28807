/** The short fuzz campaign CI runs: the same campaigns as `npm run fuzz`, a few hundred inputs each. */
import { describe, expect, it } from "vitest";
import { runCampaign, TARGET_NAMES } from "./campaigns.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20261207);

describe("fuzz (short campaign)", () => {
  for (const target of TARGET_NAMES) {
    it(`${target}: every input accepted or rejected with a typed error`, async () => {
      const result = await runCampaign(target, RUNS, SEED);
      expect(result.runs).toBe(RUNS);
      expect(result.accepted + result.rejected).toBe(RUNS);
    }, 120_000);
  }
});
