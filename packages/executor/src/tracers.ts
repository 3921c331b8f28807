/**
 * debug_traceTransaction tracers in geth's output shapes: the default struct
 * logger and callTracer. Both subscribe to the VM's EVM events.
 */
import type { EVMResult, InterpreterStep, Message } from "@ethereumjs/evm";
import type { RunTxResult, VM } from "@ethereumjs/vm";
import { bytesToHex, MeridianError, toQuantity } from "@meridian/primitives";

type StructLog = {
  pc: number;
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
  stack?: string[];
  memory?: string[];
  storage?: Record<string, string>;
  refund?: number;
  error?: string;
};

export type StructLoggerOptions = {
  disableStack?: boolean;
  disableStorage?: boolean;
  enableMemory?: boolean;
};

export type TraceLimits = {
  /** Stop with TRACE_TOO_LARGE once the trace, as JSON, would pass this many bytes. */
  maxBytes?: number;
};

/** A trace stopped early because it reached a limit (its size). */
export class TraceLimitError extends MeridianError {
  override name = "TraceLimitError";
}

/** The error of a trace that passed `maxBytes`. */
export function traceTooLarge(maxBytes: number): TraceLimitError {
  return new TraceLimitError(`trace exceeds the response size limit (${maxBytes} bytes)`, {
    code: "TRACE_TOO_LARGE",
  });
}

/** Counts a trace's JSON size as it grows (an upper estimate) and stops it at the limit. */
function sizeBudget(limits: TraceLimits): (bytes: number) => void {
  const max = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  let used = 0;
  return (bytes) => {
    used += bytes;
    if (used > max) throw traceTooLarge(max);
  };
}

/** JSON size of a list of strings: quotes and commas around each. */
function stringsBytes(items: readonly string[]): number {
  let n = 2;
  for (const s of items) n += s.length + 3;
  return n;
}

export function structLogger(opts: StructLoggerOptions = {}, limits: TraceLimits = {}) {
  const logs: StructLog[] = [];
  const storageByDepth = new Map<number, Record<string, string>>();
  const charge = sizeBudget(limits);
  const hook = (vm: VM): void => {
    // A one-argument listener runs synchronously, so a limit error thrown here stops the run.
    vm.evm.events?.on("step", (step: InterpreterStep) => {
      const prev = logs[logs.length - 1];
      // gasCost of the previous op is what it actually consumed, when it stayed in the same frame.
      if (prev && prev.depth === step.depth + 1) prev.gasCost = prev.gas - Number(step.gasLeft);
      const entry: StructLog = {
        pc: step.pc,
        op: step.opcode.name,
        gas: Number(step.gasLeft),
        gasCost: step.opcode.fee + Number(step.opcode.dynamicFee ?? 0n),
        depth: step.depth + 1,
      };
      if (!opts.disableStack) entry.stack = step.stack.map((v) => `0x${v.toString(16)}`);
      if (opts.enableMemory) {
        const words: string[] = [];
        for (let i = 0; i < step.memory.length; i += 32) {
          words.push(
            Buffer.from(step.memory.subarray(i, i + 32))
              .toString("hex")
              .padEnd(64, "0"),
          );
        }
        entry.memory = words;
      }
      if (!opts.disableStorage && (step.opcode.name === "SSTORE" || step.opcode.name === "SLOAD")) {
        const storage = storageByDepth.get(step.depth) ?? {};
        storageByDepth.set(step.depth, storage);
        const key = step.stack[step.stack.length - 1] ?? 0n;
        const k = key.toString(16).padStart(64, "0");
        if (step.opcode.name === "SSTORE")
          storage[k] = (step.stack[step.stack.length - 2] ?? 0n).toString(16).padStart(64, "0");
        entry.storage = { ...storage };
      }
      if (step.gasRefund > 0n) entry.refund = Number(step.gasRefund);
      // Fixed fields (pc, op, gas, gasCost, depth, refund, keys and punctuation) stay under 120 bytes.
      let bytes = 120;
      if (entry.stack) bytes += stringsBytes(entry.stack) + 8;
      if (entry.memory) bytes += stringsBytes(entry.memory) + 9;
      if (entry.storage) bytes += Object.keys(entry.storage).length * 134 + 12;
      charge(bytes);
      logs.push(entry);
    });
  };
  const result = (r: RunTxResult) => ({
    gas: Number(r.totalGasSpent),
    failed: r.execResult.exceptionError !== undefined,
    returnValue: Buffer.from(r.execResult.returnValue).toString("hex"),
    structLogs: logs,
  });
  return { hook, result };
}

type CallFrame = {
  type: string;
  from: string;
  to?: string;
  value?: string;
  gas: string;
  gasUsed: string;
  input: string;
  output?: string;
  error?: string;
  revertReason?: string;
  calls?: CallFrame[];
};

export function callTracer(opts: { onlyTopCall?: boolean } = {}, limits: TraceLimits = {}) {
  const stack: CallFrame[] = [];
  let root: CallFrame | undefined;
  const charge = sizeBudget(limits);
  const hook = (vm: VM): void => {
    vm.evm.events?.on("beforeMessage", (m: Message) => {
      const msg = m as Message & { delegatecall?: boolean; isStatic?: boolean; salt?: Uint8Array };
      const type =
        msg.to === undefined
          ? msg.salt
            ? "CREATE2"
            : "CREATE"
          : msg.delegatecall
            ? "DELEGATECALL"
            : msg.isStatic
              ? "STATICCALL"
              : "CALL";
      const frame: CallFrame = {
        type,
        from: bytesToHex(msg.caller.bytes),
        gas: toQuantity(msg.gasLimit),
        gasUsed: "0x0",
        input: bytesToHex(msg.data),
      };
      if (msg.to) frame.to = bytesToHex(msg.to.bytes);
      if (type !== "DELEGATECALL" && type !== "STATICCALL") frame.value = toQuantity(msg.value);
      const parent = stack[stack.length - 1];
      if (parent && !opts.onlyTopCall) {
        parent.calls ??= [];
        parent.calls.push(frame);
      }
      if (!root) root = frame;
      stack.push(frame);
      // Keys, addresses and quantities stay under 300 bytes; the input is the variable part.
      if (!opts.onlyTopCall || frame === root) charge(300 + frame.input.length);
    });
    vm.evm.events?.on("afterMessage", (r: EVMResult) => {
      const frame = stack.pop();
      if (frame) {
        frame.gasUsed = toQuantity(r.execResult.executionGasUsed);
        frame.output = bytesToHex(r.execResult.returnValue);
        if (r.createdAddress) frame.to = bytesToHex(r.createdAddress.bytes);
        const err = r.execResult.exceptionError;
        if (err) frame.error = err.error === "revert" ? "execution reverted" : err.error;
        if (!opts.onlyTopCall || frame === root) charge(frame.output.length);
      }
    });
  };
  const result = (r: RunTxResult, txGasLimit?: bigint): CallFrame | undefined => {
    if (root) {
      // geth reports the transaction's gas limit and total gas used (intrinsic gas included) on the top frame.
      root.gasUsed = toQuantity(r.totalGasSpent);
      if (txGasLimit !== undefined) root.gas = toQuantity(txGasLimit);
    }
    return root;
  };
  return { hook, result };
}
