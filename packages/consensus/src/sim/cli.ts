import { parseArgs } from "node:util";
import type { LogContext, Logger } from "@meridian/primitives";
import type { Mutation } from "../core/state.ts";
import { runSimulation, type SimulationResult } from "./simulation.ts";

function stderrLogger(bindings: LogContext): Logger {
  const write =
    (level: string) =>
    (msg: string, context?: LogContext, error?: unknown): void => {
      const err = error instanceof Error ? ` ${error.message}` : "";
      process.stderr.write(
        `${level} ${msg} ${JSON.stringify({ ...bindings, ...context }, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}${err}\n`,
      );
    };
  return {
    error: write("ERROR"),
    warn: write("WARN"),
    info: write("INFO"),
    debug: () => {},
    child: (more) => stderrLogger({ ...bindings, ...more }),
  };
}

/**
 * `npm run sim -- --seeds 1000 --validators 4,7,10 --json`: runs each seed for each validator
 * count and prints a summary; every failing run prints `--seed S --validators N` to reproduce it.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: "string", default: "100" },
      seed: { type: "string" },
      validators: { type: "string", default: "4,7" },
      mutation: { type: "string" },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
    },
  });
  const counts = (values.validators ?? "4,7").split(",").map((s) => Number.parseInt(s, 10));
  if (counts.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error(`bad --validators ${values.validators}`);
  const seeds =
    values.seed !== undefined
      ? [Number.parseInt(values.seed, 10)]
      : Array.from({ length: Number.parseInt(values.seeds ?? "100", 10) }, (_, i) => i + 1);
  const mutation = values.mutation as Mutation | undefined;
  if (mutation !== undefined && mutation !== "ignoreLock" && mutation !== "quorumIsOneThird")
    throw new Error(`unknown --mutation ${mutation} (ignoreLock, quorumIsOneThird)`);

  const started = performance.now();
  const summary = { runs: 0, heights: 0, safety_violations: 0, liveness_failures: 0, evidence_missed: 0 };
  const failures: SimulationResult[] = [];
  for (const seed of seeds) {
    for (const validators of counts) {
      const result = await runSimulation({
        seed,
        validators,
        ...(mutation ? { mutation } : {}),
        ...(values.verbose ? { logger: stderrLogger({}) } : {}),
      });
      summary.runs++;
      summary.heights += result.heights;
      summary.safety_violations += result.safetyViolations.length;
      summary.liveness_failures += result.livenessFailure === null ? 0 : 1;
      summary.evidence_missed += result.evidenceMissed;
      const failed =
        result.safetyViolations.length > 0 || result.livenessFailure !== null || result.evidenceMissed > 0;
      if (failed) failures.push(result);
      if (values.verbose) process.stderr.write(`${JSON.stringify(result)}\n`);
    }
  }
  for (const f of failures) {
    const what = [
      ...f.safetyViolations,
      f.livenessFailure,
      f.evidenceMissed ? `${f.evidenceMissed} evidence missed` : null,
    ]
      .filter((x) => x !== null)
      .join("; ");
    process.stderr.write(`FAIL --seed ${f.seed} --validators ${f.validators}: ${what}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `${summary.runs} runs, ${summary.heights} heights in ${seconds.toFixed(1)} s: ${JSON.stringify(summary)}\n`,
    );
  if (failures.length > 0 && mutation === undefined) process.exitCode = 1;
}

await main();
