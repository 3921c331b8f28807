/** Worker thread of `runBlocktests --workers N`: runs the cases of each task it is sent. */
import { parentPort, workerData } from "node:worker_threads";
import { loadKzg } from "@meridian/executor";
import { runCase } from "./case.ts";
import { type ExecutorMode, executorFactory } from "./executors.ts";
import { type FixtureCase, readFixtureFile } from "./fixtures.ts";

const port = parentPort;
if (!port) throw new Error("worker.ts runs as a worker thread of runBlocktests");
const { mode, tmpRoot } = workerData as { mode: ExecutorMode; tmpRoot: string };

let cached: { file: string; cases: Record<string, FixtureCase> } | undefined;
const setup = Promise.all([executorFactory(mode), loadKzg()]);

port.on("message", async (task: { file: string; rel: string; names: string[] }) => {
  try {
    const [factory, kzg] = await setup;
    if (cached?.file !== task.file) cached = { file: task.file, cases: readFixtureFile(task.file) };
    for (const name of task.names) {
      const fixture = cached.cases[name];
      if (!fixture) continue;
      port.postMessage({ type: "start", name });
      const result = await runCase({ file: task.file, rel: task.rel, name }, fixture, {
        factory,
        kzg,
        tmpRoot,
      });
      port.postMessage({ type: "result", result });
    }
    port.postMessage({ type: "done" });
  } catch (err) {
    port.postMessage({ type: "error", message: (err as Error).message });
  }
});
