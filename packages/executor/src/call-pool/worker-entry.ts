/**
 * Entry point of an RPC execution worker thread. Block production comes first: on Linux,
 * nice applies to the calling thread alone, so this lowers the worker's CPU priority (not the
 * node's) before the VM loads, since loading a replacement worker takes about a second of CPU
 * and happens right when a job hit its deadline. Elsewhere nice would apply to the whole
 * process, so it is left alone.
 */
import { setPriority } from "node:os";

/** Nice value of an execution worker thread (the node's own threads stay at 0). */
const WORKER_NICE = 10;

if (process.platform === "linux") {
  try {
    setPriority(WORKER_NICE);
  } catch {
    // Not permitted here: run at the node's priority.
  }
}
await import("./worker.ts");
