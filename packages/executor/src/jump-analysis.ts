/**
 * Keeps the EVM's jump analysis per contract code. @ethereumjs/evm analyses a frame's code
 * (valid JUMPDESTs, PUSH values, each byte's opcode entry) every time a frame jumps: for a
 * token's balanceOf that is about a sixth of an eth_call. The analysis depends only on the
 * code bytes and the EVM's opcode table, and its results are only read afterwards, so it is
 * kept per code object and table. Code objects come from the state caches (the call workers'
 * CodeCache, the flat store's code cache), which hand every call to a contract the same one.
 *
 * The analysis is a private method of @ethereumjs/evm's Interpreter (pinned at 10.1.3); if a
 * version no longer has it, nothing is installed and the EVM analyses as before.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

type Analysis = { jumps: Uint8Array; pushes: unknown; opcodesCached: unknown[] };
type InterpreterLike = {
  _evm: { _opcodeMap: object };
  _getValidJumpDestinations(code: Uint8Array): Analysis;
};

const analyses = new WeakMap<Uint8Array, WeakMap<object, Analysis>>();
let analysed = 0;
let enabled = true;

async function install(): Promise<boolean> {
  try {
    // Not exported by the package: load the module its ESM entry imports, by file.
    const cjsEntry = createRequire(import.meta.url).resolve("@ethereumjs/evm");
    const esmInterpreter = cjsEntry.replace(/dist[/\\]cjs[/\\]index\.js$/, "dist/esm/interpreter.js");
    if (esmInterpreter === cjsEntry) return false;
    const mod = (await import(pathToFileURL(esmInterpreter).href)) as {
      Interpreter?: { prototype: InterpreterLike };
    };
    const proto = mod.Interpreter?.prototype;
    const original = proto?._getValidJumpDestinations;
    if (!proto || typeof original !== "function" || original.length !== 1) return false;
    proto._getValidJumpDestinations = function (this: InterpreterLike, code: Uint8Array): Analysis {
      if (!enabled) return original.call(this, code);
      const table = this._evm._opcodeMap;
      let byTable = analyses.get(code);
      let analysis = byTable?.get(table);
      if (!analysis) {
        analysis = original.call(this, code);
        analysed++;
        if (!byTable) {
          byTable = new WeakMap();
          analyses.set(code, byTable);
        }
        byTable.set(table, analysis);
      }
      return analysis;
    };
    return true;
  } catch {
    return false;
  }
}

/** Whether the cache is in place in this thread. */
export const jumpAnalysisCached: boolean = await install();

/** How many analyses ran (not answered from the cache) in this thread: for tests. */
export function jumpAnalysesRun(): number {
  return analysed;
}

/** Turns the cache off (every frame analyses, as without it) or on again: for tests' reference runs. */
export function setJumpAnalysisCache(on: boolean): void {
  enabled = on;
}
