/**
 * debug_traceTransaction tracers in geth's output shapes: the default struct
 * logger and callTracer. Both subscribe to the VM's EVM events.
 */
import type { EVMResult, InterpreterStep, Message } from "@ethereumjs/evm";
import type { TypedTransaction } from "@ethereumjs/tx";
import { Address, createContractAddress } from "@ethereumjs/util";
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
  returnData?: string;
  error?: string;
};

export type StructLoggerOptions = {
  disableStack?: boolean;
  disableStorage?: boolean;
  enableMemory?: boolean;
  enableReturnData?: boolean;
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

/** A 32-byte word as 0x-prefixed hex. */
const word = (v: bigint | undefined) => `0x${(v ?? 0n).toString(16).padStart(64, "0")}`;

/** JSON size of a list of strings: quotes and commas around each. */
function stringsBytes(items: readonly string[]): number {
  let n = 2;
  for (const s of items) n += s.length + 3;
  return n;
}

export function structLogger(opts: StructLoggerOptions = {}, limits: TraceLimits = {}) {
  const logs: StructLog[] = [];
  // geth keeps one storage view per contract (not per frame) and shows it at SLOAD and SSTORE.
  const storageByAddress = new Map<string, Record<string, string>>();
  // An SLOAD's value is known at the next step (the top of the stack); its entry is patched then.
  let pendingLoad: { entry: StructLog; storage: Record<string, string>; key: string } | undefined;
  // The return data each frame (by depth) sees: the last sub-call's output.
  const returnData: string[] = [];
  // Gas limit of each open frame, by depth: a frame's last op cost what the frame had left.
  const frameGas: bigint[] = [];
  // The CALL/CREATE op of each depth whose callee runs, and the gas the callee gave back: geth
  // counts the gas handed to the callee (not a value call's free stipend) in the op's gasCost.
  const callOps: ({ entry: StructLog; unused: bigint } | undefined)[] = [];
  const charge = sizeBudget(limits);
  const hook = (vm: VM): void => {
    vm.evm.events?.on("beforeMessage", (m: Message) => {
      returnData[m.depth] = "0x";
      frameGas[m.depth] = m.gasLimit;
      if (m.depth === 0) return;
      returnData[m.depth - 1] = "0x";
      const op = logs[logs.length - 1];
      if (op && op.depth === m.depth) callOps[m.depth - 1] = { entry: op, unused: 0n };
    });
    vm.evm.events?.on("afterMessage", (r: EVMResult) => {
      const depth = returnData.length - 1;
      returnData.length = depth;
      const err = r.execResult.exceptionError;
      const last = logs[logs.length - 1];
      const limit = frameGas[depth];
      // A call frame's last op (RETURN, STOP, SELFDESTRUCT) cost what it took of the frame's
      // gas (a create frame's gas used includes the code deposit, which is not the op's).
      if (last && last.depth === depth + 1 && limit !== undefined) {
        if (!err && !r.createdAddress)
          last.gasCost = last.gas - Number(limit - r.execResult.executionGasUsed);
        if (err && err.error !== "revert") last.error = gethError(err.error);
      }
      const caller = callOps[depth - 1];
      if (caller && limit !== undefined) caller.unused = limit - r.execResult.executionGasUsed;
      frameGas.length = depth;
      if (depth <= 0) return;
      // A successful CREATE leaves no return data; a revert's data is kept.
      const keep = err ? err.error === "revert" : r.createdAddress === undefined;
      returnData[depth - 1] = keep ? bytesToHex(r.execResult.returnValue) : "0x";
    });
    // A one-argument listener runs synchronously, so a limit error thrown here stops the run.
    vm.evm.events?.on("step", (step: InterpreterStep) => {
      // Only in the SLOAD's own frame: one that ran out of gas there resumes in its caller.
      if (pendingLoad && pendingLoad.entry.depth === step.depth + 1) {
        const value = word(step.stack[step.stack.length - 1]);
        pendingLoad.storage[pendingLoad.key] = value;
        if (pendingLoad.entry.storage) pendingLoad.entry.storage[pendingLoad.key] = value;
      }
      pendingLoad = undefined;
      const call = callOps[step.depth];
      if (call) {
        call.entry.gasCost = call.entry.gas - Number(step.gasLeft) + Number(call.unused);
        callOps[step.depth] = undefined;
      }
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
            `0x${Buffer.from(step.memory.subarray(i, i + 32))
              .toString("hex")
              .padEnd(64, "0")}`,
          );
        }
        entry.memory = words;
      }
      if (!opts.disableStorage && (step.opcode.name === "SSTORE" || step.opcode.name === "SLOAD")) {
        const address = step.address.toString();
        const storage = storageByAddress.get(address) ?? {};
        storageByAddress.set(address, storage);
        const key = step.stack[step.stack.length - 1] ?? 0n;
        const k = word(key);
        if (step.opcode.name === "SSTORE") storage[k] = word(step.stack[step.stack.length - 2]);
        entry.storage = { ...storage };
        if (step.opcode.name === "SLOAD") pendingLoad = { entry, storage, key: k };
      }
      // anvil writes returnData ("0x" when empty) on every step once enabled.
      if (opts.enableReturnData) entry.returnData = returnData[step.depth] ?? "0x";
      // anvil writes the refund counter on every step, 0 included.
      entry.refund = Number(step.gasRefund);
      // Fixed fields (pc, op, gas, gasCost, depth, refund, keys and punctuation) stay under 120 bytes.
      let bytes = 120;
      if (entry.stack) bytes += stringsBytes(entry.stack) + 8;
      if (entry.memory) bytes += stringsBytes(entry.memory) + 9;
      // Each slot: two quoted 66-character words, a colon and a comma.
      if (entry.storage) bytes += Object.keys(entry.storage).length * 140 + 12;
      if (entry.returnData) bytes += entry.returnData.length + 16;
      charge(bytes);
      logs.push(entry);
    });
  };
  const result = (r: TxOutcome) => ({
    gas: Number(r.gasUsed),
    failed: r.error !== undefined,
    returnValue: bytesToHex(r.returnValue),
    structLogs: logs,
  });
  return { hook, result };
}

/** What a tracer's result needs of the run: the transaction's (or call's) outcome. */
export type TxOutcome = { gasUsed: bigint; returnValue: Uint8Array; error?: string; gasLimit?: bigint };

export function outcomeOf(r: RunTxResult, gasLimit?: bigint): TxOutcome {
  const err = r.execResult.exceptionError;
  const out: TxOutcome = { gasUsed: r.totalGasSpent, returnValue: r.execResult.returnValue };
  if (err) out.error = err.error;
  if (gasLimit !== undefined) out.gasLimit = gasLimit;
  return out;
}

type CallLog = { address: string; topics: string[]; data: string; position: string; index: string };

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
  logs?: CallLog[];
};

const CALL_OPS = new Set(["CALL", "CALLCODE", "DELEGATECALL", "STATICCALL", "CREATE", "CREATE2"]);

/** geth's wording of the VM's errors, which clients match on. */
const GETH_ERRORS: Record<string, string> = {
  revert: "execution reverted",
  "invalid JUMP": "invalid jump destination",
  "static state change": "write protection",
  "code store out of gas": "contract creation code storage out of gas",
  "code size to deposit exceeds maximum code size": "max code size exceeded",
  "create collision": "contract address collision",
  "value overflow": "insufficient balance for transfer",
};

function gethError(vmError: string): string {
  return GETH_ERRORS[vmError] ?? vmError;
}

/** The reason of an `Error(string)` revert, as geth's abi.UnpackRevert decodes it. */
export function revertReason(output: Uint8Array): string | undefined {
  if (output.length < 68) return undefined;
  if (bytesToHex(output.subarray(0, 4)) !== "0x08c379a0") return undefined;
  const word = (at: number) => BigInt(bytesToHex(output.subarray(at, at + 32)));
  const offset = word(4);
  if (offset + 32n > BigInt(output.length - 4)) return undefined;
  const start = 4 + Number(offset);
  const length = word(start);
  if (BigInt(start + 32) + length > BigInt(output.length)) return undefined;
  return Buffer.from(output.subarray(start + 32, start + 32 + Number(length))).toString("utf8");
}

function memorySlice(memory: Uint8Array, offset: bigint, size: bigint): string {
  const out = new Uint8Array(Number(size));
  const from = Number(offset);
  if (from < memory.length) out.set(memory.subarray(from, Math.min(memory.length, from + out.length)));
  return bytesToHex(out);
}

const addressWord = (v: bigint | undefined) => `0x${(v ?? 0n).toString(16).padStart(40, "0").slice(-40)}`;

export type CallTracerOptions = { onlyTopCall?: boolean; withLog?: boolean };

/**
 * geth's callTracer: one frame per call, create and self-destruct, typed by the opcode that
 * made it. Sub-frame `gas` is what the callee got; the top frame has the transaction's gas
 * limit and gas used.
 */
export function callTracer(opts: CallTracerOptions = {}, limits: TraceLimits = {}) {
  const stack: CallFrame[] = [];
  let root: CallFrame | undefined;
  let logIndex = 0;
  // The last opcode each depth ran: the one that made the next message at the depth below.
  const lastOp: string[] = [];
  const charge = sizeBudget(limits);
  const counted = (frame: CallFrame) => !opts.onlyTopCall || frame === root;
  const hook = (vm: VM): void => {
    vm.evm.events?.on("step", (step: InterpreterStep) => {
      lastOp[step.depth] = step.opcode.name;
      const frame = stack[stack.length - 1];
      if (!frame) return;
      const name = step.opcode.name;
      if (name === "SELFDESTRUCT" && !opts.onlyTopCall) {
        const to = addressWord(step.stack[step.stack.length - 1]);
        frame.calls ??= [];
        frame.calls.push({
          type: "SELFDESTRUCT",
          from: step.address.toString(),
          to,
          value: toQuantity(step.account.balance),
          gas: "0x0",
          gasUsed: "0x0",
          input: "0x",
        });
        charge(300);
      } else if (opts.withLog && name.startsWith("LOG") && counted(frame)) {
        const s = step.stack;
        const top = (i: number) => s[s.length - 1 - i] ?? 0n;
        const topics: string[] = [];
        for (let i = 0; i < Number(name.slice(3)); i++) topics.push(word(top(2 + i)));
        const log: CallLog = {
          address: step.address.toString(),
          topics,
          data: memorySlice(step.memory, top(0), top(1)),
          position: toQuantity(BigInt(frame.calls?.length ?? 0)),
          index: toQuantity(BigInt(logIndex++)),
        };
        frame.logs ??= [];
        frame.logs.push(log);
        charge(200 + log.data.length + topics.length * 70);
      }
    });
    vm.evm.events?.on("beforeMessage", (m: Message) => {
      const msg = m as Message & { delegatecall?: boolean };
      const type =
        msg.depth === 0
          ? msg.to === undefined
            ? "CREATE"
            : "CALL"
          : ((CALL_OPS.has(lastOp[msg.depth - 1] ?? "") ? lastOp[msg.depth - 1] : undefined) ??
            (msg.to === undefined ? "CREATE" : "CALL"));
      const frame: CallFrame = {
        type: type as string,
        // A DELEGATECALL's message keeps the caller's caller; geth reports the contract that made it.
        from: bytesToHex(type === "DELEGATECALL" && msg.to ? msg.to.bytes : msg.caller.bytes),
        gas: toQuantity(msg.gasLimit),
        gasUsed: "0x0",
        input: bytesToHex(msg.data),
      };
      // DELEGATECALL and CALLCODE run the code address's code: geth reports it as `to`.
      if (msg.to) frame.to = bytesToHex(msg.codeAddress.bytes);
      if (type !== "STATICCALL") frame.value = toQuantity(msg.value);
      const parent = stack[stack.length - 1];
      if (parent && !opts.onlyTopCall) {
        parent.calls ??= [];
        parent.calls.push(frame);
      }
      if (!root) root = frame;
      stack.push(frame);
      // Keys, addresses and quantities stay under 300 bytes; the input is the variable part.
      if (counted(frame)) charge(300 + frame.input.length);
    });
    vm.evm.events?.on("newContract", (e: { address: Address }) => {
      const frame = stack[stack.length - 1];
      if (frame && frame.to === undefined) frame.to = e.address.toString();
    });
    vm.evm.events?.on("afterMessage", (r: EVMResult) => {
      const frame = stack.pop();
      if (!frame) return;
      frame.gasUsed = toQuantity(r.execResult.executionGasUsed);
      const err = r.execResult.exceptionError;
      const output = r.execResult.returnValue;
      // geth keeps the output of a successful or reverted frame only.
      if ((!err || err.error === "revert") && output.length > 0) frame.output = bytesToHex(output);
      if (r.createdAddress) frame.to = r.createdAddress.toString();
      if (err) {
        frame.error = gethError(err.error);
        if (err.error === "revert") {
          const reason = revertReason(output);
          if (reason !== undefined) frame.revertReason = reason;
        }
      }
      if (counted(frame)) charge(frame.output?.length ?? 0);
    });
  };
  const result = (r: TxOutcome): CallFrame | undefined => {
    if (root) {
      // The top frame's gas is what execution got (the gas limit less intrinsic gas), its
      // gasUsed the transaction's (intrinsic gas and refunds included), as geth and anvil report.
      root.gasUsed = toQuantity(r.gasUsed);
      if (opts.withLog) dropFailedLogs(root, false);
    }
    return root;
  };
  return { hook, result };
}

/** geth drops the logs of a failed frame and of every frame under it. */
function dropFailedLogs(frame: CallFrame, parentFailed: boolean): void {
  const failed = parentFailed || frame.error !== undefined;
  if (failed) delete frame.logs;
  for (const c of frame.calls ?? []) dropFailedLogs(c, failed);
}

type AccountView = { balance: string; nonce?: number; code?: string; storage?: Record<string, string> };

/**
 * geth's prestateTracer: every account the transaction touched (sender, recipient, coinbase,
 * call and create targets, BALANCE/EXTCODE* subjects, self-destruct beneficiaries) as it was
 * before, with the storage slots it read or wrote. `diffMode` gives `{pre, post}` with only
 * what changed.
 */
export function prestateTracer(opts: { diffMode?: boolean }, coinbase: Uint8Array, limits: TraceLimits = {}) {
  const pre = new Map<string, AccountView>();
  const slots = new Map<string, Set<string>>();
  const created = new Set<string>();
  const charge = sizeBudget(limits);
  let failure: unknown;
  let vmRef: VM | undefined;
  const lookUp = async (vm: VM, address: string): Promise<void> => {
    if (pre.has(address)) return;
    const a = new Address(Buffer.from(address.slice(2), "hex"));
    const account = await vm.stateManager.getAccount(a);
    const view: AccountView = { balance: toQuantity(account?.balance ?? 0n) };
    if (account && account.nonce > 0n) view.nonce = Number(account.nonce);
    const code = account ? await vm.stateManager.getCode(a) : new Uint8Array();
    if (code.length > 0) view.code = bytesToHex(code);
    pre.set(address, view);
    slots.set(address, new Set());
    charge(150 + (view.code?.length ?? 0));
  };
  const lookUpSlot = async (vm: VM, address: string, key: string): Promise<void> => {
    await lookUp(vm, address);
    const keys = slots.get(address) as Set<string>;
    if (keys.has(key)) return;
    keys.add(key);
    const view = pre.get(address) as AccountView;
    const value = await vm.stateManager.getStorage(
      new Address(Buffer.from(address.slice(2), "hex")),
      Buffer.from(key.slice(2), "hex"),
    );
    view.storage ??= {};
    view.storage[key] = word(value.length === 0 ? 0n : BigInt(bytesToHex(value)));
    charge(140);
  };
  /** Runs an async read from a two-argument (awaited) listener; a failure is thrown at the end. */
  const awaited = (work: () => Promise<void>, done: () => void) => {
    work().then(done, (err: unknown) => {
      failure ??= err;
      done();
    });
  };
  const hook = (vm: VM): void => {
    vmRef = vm;
    vm.events.on("beforeTx", (tx: TypedTransaction, done?: () => void) => {
      awaited(
        async () => {
          const from = tx.getSenderAddress();
          await lookUp(vm, from.toString());
          if (tx.to) await lookUp(vm, tx.to.toString());
          else {
            const account = await vm.stateManager.getAccount(from);
            const address = createContractAddress(from, account?.nonce ?? 0n).toString();
            await lookUp(vm, address);
            created.add(address);
          }
          await lookUp(vm, bytesToHex(coinbase));
        },
        done ?? (() => {}),
      );
    });
    vm.evm.events?.on("newContract", (e: { address: Address }, done?: () => void) => {
      const address = e.address.toString();
      created.add(address);
      // The address is funded (and its nonce set) already: it was empty before.
      if (!pre.has(address)) {
        pre.set(address, { balance: "0x0" });
        slots.set(address, new Set());
      }
      done?.();
    });
    vm.evm.events?.on("step", (step: InterpreterStep, done?: () => void) => {
      const finish = done ?? (() => {});
      const s = step.stack;
      const top = (i: number) => s[s.length - 1 - i];
      const here = step.address.toString();
      switch (step.opcode.name) {
        case "SLOAD":
        case "SSTORE":
          return awaited(() => lookUpSlot(vm, here, word(top(0))), finish);
        case "BALANCE":
        case "EXTCODESIZE":
        case "EXTCODECOPY":
        case "EXTCODEHASH":
        case "SELFDESTRUCT":
          return awaited(() => lookUp(vm, addressWord(top(0))), finish);
        case "CALL":
        case "CALLCODE":
        case "DELEGATECALL":
        case "STATICCALL": {
          const target = addressWord(top(1));
          if (vm.evm.getPrecompile?.(new Address(Buffer.from(target.slice(2), "hex")))) return finish();
          return awaited(() => lookUp(vm, target), finish);
        }
        default:
          return finish();
      }
    });
  };
  const result = async (): Promise<unknown> => {
    if (failure) throw failure;
    // Accounts the transaction created were empty before it: geth leaves them out of `pre`.
    const dropCreated = () => {
      for (const a of created) {
        const v = pre.get(a);
        if (v && v.balance === "0x0" && v.nonce === undefined && v.code === undefined) pre.delete(a);
      }
    };
    // Without diffMode anvil keeps created accounts (empty before) in the result; so do we.
    if (!opts.diffMode) return Object.fromEntries(pre);
    const vm = vmRef as VM;
    const post: Record<string, Partial<AccountView>> = {};
    for (const [address, before] of pre) {
      const a = new Address(Buffer.from(address.slice(2), "hex"));
      const account = await vm.stateManager.getAccount(a);
      // A self-destructed account is gone: geth keeps it in `pre` only.
      if (!account) continue;
      const after: Partial<AccountView> = {};
      let modified = false;
      const balance = toQuantity(account.balance);
      if (balance !== before.balance) {
        after.balance = balance;
        modified = true;
      }
      if (Number(account.nonce) !== (before.nonce ?? 0)) {
        after.nonce = Number(account.nonce);
        modified = true;
      }
      const code = bytesToHex(await vm.stateManager.getCode(a));
      if (code !== (before.code ?? "0x")) {
        after.code = code;
        modified = true;
      }
      for (const [key, value] of Object.entries(before.storage ?? {})) {
        const now = await vm.stateManager.getStorage(a, Buffer.from(key.slice(2), "hex"));
        const nowWord = word(now.length === 0 ? 0n : BigInt(bytesToHex(now)));
        if (nowWord === value || value === word(0n)) delete before.storage?.[key];
        if (nowWord !== value) {
          modified = true;
          if (nowWord !== word(0n)) {
            after.storage ??= {};
            after.storage[key] = nowWord;
          }
        }
      }
      if (before.storage && Object.keys(before.storage).length === 0) delete before.storage;
      if (modified) post[address] = after;
      else pre.delete(address);
    }
    dropCreated();
    return { pre: Object.fromEntries(pre), post };
  };
  return { hook, result };
}

/** geth's 4byteTracer: calls by `0x{selector}-{calldata size after it}`, precompiles left out. */
export function fourByteTracer() {
  const counts: Record<string, number> = {};
  const hook = (vm: VM): void => {
    vm.evm.events?.on("beforeMessage", (msg: Message) => {
      if (msg.to === undefined || msg.data.length < 4) return;
      if (vm.evm.getPrecompile?.(msg.codeAddress)) return;
      const key = `${bytesToHex(msg.data.subarray(0, 4))}-${msg.data.length - 4}`;
      counts[key] = (counts[key] ?? 0) + 1;
    });
  };
  return { hook, result: () => counts };
}
