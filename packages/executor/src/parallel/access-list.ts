/**
 * Block access list (in the spirit of EIP-7928): for every transaction of a
 * block, the accounts and storage slots it read and the values it wrote
 * (post-values of balance, nonce, code, storage). The proposer builds it, the
 * proposal carries it next to the block, and validators execute every
 * transaction in parallel against exactly the pre-state it names.
 *
 * Prague headers have no access-list field: the commitment
 * `keccak256(rlp(list))` is the block's 32-byte `extraData`.
 *
 * Encoding is canonical (sorted, minimal integers, no empty optional
 * fields), so one list has exactly one encoding and one hash. Decoding
 * rejects anything else with a DecodeError.
 */
import type { Block } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import {
  bigIntToBytes,
  bytesToBigInt,
  DecodeError,
  equalBytes,
  expectBytes,
  expectList,
  keccak256,
  type RlpDecoded,
  rlpDecode,
  rlpEncode,
  rlpListBounds,
} from "@meridian/primitives";
import { type CommonAt, decodeBlock } from "../block-rlp.ts";

/** What one transaction read: an account (nonce, balance, code) and/or some of its slots. */
export type AccountRead = {
  address: Uint8Array;
  /** The account itself (nonce, balance, code) was read. */
  account: boolean;
  /** 32-byte slots read, strictly ascending. */
  slots: Uint8Array[];
};

export type SlotWrite = { slot: Uint8Array; value: Uint8Array };

/** Post-values one transaction left in one account; absent fields did not change. */
export type AccountWrite = {
  address: Uint8Array;
  balance?: bigint;
  nonce?: bigint;
  /** New code (empty = code removed). */
  code?: Uint8Array;
  /** The account no longer exists after the transaction (its storage is gone too). */
  destroyed?: boolean;
  /** The account's storage was cleared during the transaction before `storage` was written (CREATE). */
  storageCleared?: boolean;
  /** Slot post-values, strictly ascending by slot; value without leading zeros, empty = zero. */
  storage: SlotWrite[];
};

export type TxAccess = { reads: AccountRead[]; writes: AccountWrite[] };

export type BlockAccessList = { txs: TxAccess[] };

/** Upper bounds a decoder enforces before allocating anything large. */
export const MAX_ACCESS_LIST_BYTES = 64 * 1024 * 1024;
const MAX_CODE_BYTES = 0xc000 * 2;

const FLAG_BALANCE = 1;
const FLAG_NONCE = 2;
const FLAG_CODE = 4;
const FLAG_DESTROYED = 8;
const FLAG_CLEARED = 16;
const ALL_FLAGS = 31;

const EMPTY = new Uint8Array(0);

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function sortedBy<T>(items: readonly T[], key: (t: T) => Uint8Array): T[] {
  return [...items].sort((x, y) => compareBytes(key(x), key(y)));
}

/** Returns a copy in canonical order (addresses and slots ascending). */
export function canonicalTxAccess(t: TxAccess): TxAccess {
  return {
    reads: sortedBy(t.reads, (r) => r.address).map((r) => ({
      address: r.address,
      account: r.account,
      slots: sortedBy(r.slots, (s) => s),
    })),
    writes: sortedBy(t.writes, (w) => w.address).map((w) => ({
      ...w,
      storage: sortedBy(w.storage, (s) => s.slot),
    })),
  };
}

function encodeWrite(w: AccountWrite): RlpDecoded {
  let flags = 0;
  if (w.balance !== undefined) flags |= FLAG_BALANCE;
  if (w.nonce !== undefined) flags |= FLAG_NONCE;
  if (w.code !== undefined) flags |= FLAG_CODE;
  if (w.destroyed) flags |= FLAG_DESTROYED;
  if (w.storageCleared) flags |= FLAG_CLEARED;
  return [
    w.address,
    bigIntToBytes(BigInt(flags)),
    w.balance === undefined ? EMPTY : bigIntToBytes(w.balance),
    w.nonce === undefined ? EMPTY : bigIntToBytes(w.nonce),
    w.code ?? EMPTY,
    w.storage.map((s) => [s.slot, s.value]),
  ];
}

export function txAccessToRlp(t: TxAccess): RlpDecoded {
  return [
    t.reads.map((r): RlpDecoded => [r.address, r.account ? Uint8Array.of(1) : EMPTY, r.slots]),
    t.writes.map(encodeWrite),
  ];
}

/** Reads recorded by a TxStateManager (keys "a"+address, "s"+address+slot) → canonical list entries. */
export function readsToAccess(keys: Iterable<string>): AccountRead[] {
  const by = new Map<string, AccountRead>();
  for (const key of keys) {
    const addr = key.slice(1, 41);
    let r = by.get(addr);
    if (!r) {
      r = { address: Buffer.from(addr, "hex"), account: false, slots: [] };
      by.set(addr, r);
    }
    if (key[0] === "a") r.account = true;
    else r.slots.push(Buffer.from(key.slice(41), "hex"));
  }
  const out = [...by.values()].sort((x, y) => compareBytes(x.address, y.address));
  for (const r of out) r.slots.sort(compareBytes);
  return out;
}

/** Sorts writes by address in place (their slots are already in order), as the list has them. */
export function sortWrites(ws: AccountWrite[]): AccountWrite[] {
  return ws.sort((x, y) => compareBytes(x.address, y.address));
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : equalBytes(a, b);
}

/** Field-by-field equality of two canonical read sets (the same answer as comparing their RLP). */
export function sameReads(a: readonly AccountRead[], b: readonly AccountRead[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AccountRead;
    const y = b[i] as AccountRead;
    if (x.account !== y.account || !sameBytes(x.address, y.address) || x.slots.length !== y.slots.length)
      return false;
    for (let j = 0; j < x.slots.length; j++) if (!sameBytes(x.slots[j], y.slots[j])) return false;
  }
  return true;
}

/** Field-by-field equality of two canonical write sets (the same answer as comparing their RLP). */
export function sameWrites(a: readonly AccountWrite[], b: readonly AccountWrite[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AccountWrite;
    const y = b[i] as AccountWrite;
    if (
      !sameBytes(x.address, y.address) ||
      x.balance !== y.balance ||
      x.nonce !== y.nonce ||
      !sameBytes(x.code, y.code) ||
      (x.destroyed === true) !== (y.destroyed === true) ||
      (x.storageCleared === true) !== (y.storageCleared === true) ||
      x.storage.length !== y.storage.length
    )
      return false;
    for (let j = 0; j < x.storage.length; j++) {
      const s = x.storage[j] as SlotWrite;
      const t = y.storage[j] as SlotWrite;
      if (!sameBytes(s.slot, t.slot) || !sameBytes(s.value, t.value)) return false;
    }
  }
  return true;
}

/** RLP of a list; the caller is responsible for canonical order (see `canonicalTxAccess`). */
export function encodeAccessList(list: BlockAccessList): Uint8Array {
  return rlpEncode(list.txs.map(txAccessToRlp));
}

export function accessListHash(list: BlockAccessList | Uint8Array): Uint8Array {
  return keccak256(list instanceof Uint8Array ? list : encodeAccessList(list));
}

// --- decoding ---------------------------------------------------------------------
// Messages name the failing field; where it sits (tx, read or write index) is added on the
// way out by `within`, so a valid list decodes without building any message text.

function fixedBytes(item: RlpDecoded | undefined, length: number, field: string): Uint8Array {
  const b = expectBytes(item, field);
  if (b.length !== length) throw new DecodeError(`${field}: expected ${length} bytes, got ${b.length}`);
  return b;
}

/** Minimal big-endian integer: no leading zero byte, zero is the empty string. */
function canonicalInt(item: RlpDecoded | undefined, field: string, maxBytes: number): bigint {
  const b = expectBytes(item, field);
  if (b.length > maxBytes) throw new DecodeError(`${field}: integer longer than ${maxBytes} bytes`);
  if (b.length > 0 && b[0] === 0) throw new DecodeError(`${field}: non-canonical integer (leading zero)`);
  return bytesToBigInt(b);
}

function requireAscending(prev: Uint8Array | undefined, next: Uint8Array, what: string): void {
  if (prev !== undefined && compareBytes(prev, next) >= 0)
    throw new DecodeError(`${what}: entries not strictly ascending`);
}

/** Runs `decode`; a DecodeError from it gets `where` prefixed to its message. */
function within<T>(where: () => string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    throw new DecodeError(`${where()} ${err.shortMessage}`, { details: err.details });
  }
}

function decodeRead(item: RlpDecoded): AccountRead {
  const f = expectList(item, "read", 3);
  const address = fixedBytes(f[0], 20, "address");
  const flag = expectBytes(f[1], "account flag");
  if (flag.length > 1 || (flag.length === 1 && flag[0] !== 1))
    throw new DecodeError("account flag must be empty or 0x01");
  const slots: Uint8Array[] = [];
  const raw = expectList(f[2], "slots");
  for (let j = 0; j < raw.length; j++) {
    const slot = fixedBytes(raw[j], 32, "slot");
    requireAscending(slots[j - 1], slot, "slots");
    slots.push(slot);
  }
  const account = flag.length === 1;
  if (!account && slots.length === 0) throw new DecodeError("reads nothing");
  return { address, account, slots };
}

function decodeWrite(item: RlpDecoded): AccountWrite {
  const f = expectList(item, "write", 6);
  const address = fixedBytes(f[0], 20, "address");
  const flags = Number(canonicalInt(f[1], "flags", 1));
  if ((flags & ~ALL_FLAGS) !== 0) throw new DecodeError(`unknown flags ${flags}`);
  const w: AccountWrite = { address, storage: [] };
  const balance = canonicalInt(f[2], "balance", 32);
  const nonce = canonicalInt(f[3], "nonce", 8);
  const code = expectBytes(f[4], "code");
  if (code.length > MAX_CODE_BYTES) throw new DecodeError("code too large");
  if ((flags & FLAG_BALANCE) === 0 && balance !== 0n) throw new DecodeError("balance set without its flag");
  if ((flags & FLAG_NONCE) === 0 && nonce !== 0n) throw new DecodeError("nonce set without its flag");
  if ((flags & FLAG_CODE) === 0 && code.length > 0) throw new DecodeError("code set without its flag");
  if (flags & FLAG_BALANCE) w.balance = balance;
  if (flags & FLAG_NONCE) w.nonce = nonce;
  if (flags & FLAG_CODE) w.code = code;
  if (flags & FLAG_CLEARED) w.storageCleared = true;
  const raw = expectList(f[5], "storage");
  for (let j = 0; j < raw.length; j++) {
    const pair = expectList(raw[j], "storage entry", 2);
    const slot = fixedBytes(pair[0], 32, "storage slot");
    const value = expectBytes(pair[1], "storage value");
    if (value.length > 32 || (value.length > 0 && value[0] === 0))
      throw new DecodeError("storage value must be at most 32 bytes without leading zeros");
    requireAscending(w.storage[j - 1]?.slot, slot, "storage");
    w.storage.push({ slot, value });
  }
  if (flags & FLAG_DESTROYED) {
    if (flags !== FLAG_DESTROYED || w.storage.length > 0)
      throw new DecodeError("a destroyed account carries no other change");
    w.destroyed = true;
  } else if (flags === 0 && w.storage.length === 0) {
    throw new DecodeError("writes nothing");
  }
  return w;
}

function txAccessFromRlp(item: RlpDecoded): TxAccess {
  const [readsRaw, writesRaw] = expectList(item, "entry", 2);
  const rawReads = expectList(readsRaw, "reads");
  const reads: AccountRead[] = [];
  for (let j = 0; j < rawReads.length; j++) {
    const read = within(
      () => `read ${j}:`,
      () => decodeRead(rawReads[j] as RlpDecoded),
    );
    requireAscending(reads[j - 1]?.address, read.address, "reads");
    reads.push(read);
  }
  const rawWrites = expectList(writesRaw, "writes");
  const writes: AccountWrite[] = [];
  for (let j = 0; j < rawWrites.length; j++) {
    const write = within(
      () => `write ${j}:`,
      () => decodeWrite(rawWrites[j] as RlpDecoded),
    );
    requireAscending(writes[j - 1]?.address, write.address, "writes");
    writes.push(write);
  }
  return { reads, writes };
}

/** Decodes one transaction's entry (its RLP as it sits in the list). */
export function decodeTxAccess(bytes: Uint8Array): TxAccess {
  return txAccessFromRlp(rlpDecode(bytes, bytes.length));
}

/** Decodes and validates a canonical access list; anything else is a DecodeError. */
export function decodeAccessList(bytes: Uint8Array, maxBytes = MAX_ACCESS_LIST_BYTES): BlockAccessList {
  const items = expectList(rlpDecode(bytes, maxBytes), "access list");
  const txs: TxAccess[] = [];
  for (let i = 0; i < items.length; i++)
    txs.push(
      within(
        () => `access list tx ${i}:`,
        () => txAccessFromRlp(items[i] as RlpDecoded),
      ),
    );
  return { txs };
}

/**
 * A list as a proposal carries it: its framing (one RLP list of entries) checked on receipt,
 * its entries decoded when used. `txs` decodes and checks the whole list once, as
 * decodeAccessList does; validation reads `entry(i)` instead, one entry at a time, so that a
 * block's worth of entry objects is never kept alive at once (objects that survive a young
 * collection are what makes it slow). Either way a malformed entry is a DecodeError.
 */
export class ReceivedAccessList implements BlockAccessList {
  readonly bytes: Uint8Array;
  /** Entry i is `bytes[bounds[2i], bounds[2i+1])`. */
  readonly bounds: Uint32Array;
  private decoded: TxAccess[] | undefined;

  constructor(bytes: Uint8Array, maxBytes = MAX_ACCESS_LIST_BYTES) {
    if (bytes.length > maxBytes)
      throw new DecodeError(`access list too large: ${bytes.length} > ${maxBytes} bytes`);
    this.bytes = bytes;
    this.bounds = within(
      () => "access list:",
      () => rlpListBounds(bytes),
    );
  }

  /** Number of entries (one per transaction), known without decoding them. */
  get length(): number {
    return this.bounds.length / 2;
  }

  get txs(): TxAccess[] {
    this.decoded ??= decodeAccessList(this.bytes).txs;
    return this.decoded;
  }

  /** Entry `i`, decoded and checked now (or taken from `txs` once that was asked for). */
  entry(i: number): TxAccess {
    if (this.decoded) return this.decoded[i] as TxAccess;
    if (i < 0 || i >= this.length) throw new RangeError(`access list has no entry ${i}`);
    return within(
      () => `access list tx ${i}:`,
      () => decodeTxAccess(this.bytes.subarray(this.bounds[2 * i], this.bounds[2 * i + 1])),
    );
  }
}

// --- proposal -----------------------------------------------------------------------

export type Proposal = { block: Block; accessList: ReceivedAccessList; accessListRlp: Uint8Array };

/** Proposal bytes: RLP([blockRlp, accessListRlp]). */
export function encodeProposal(
  block: Block | Uint8Array,
  accessList: BlockAccessList | Uint8Array,
): Uint8Array {
  const blockRlp = block instanceof Uint8Array ? block : block.serialize();
  const listRlp =
    accessList instanceof Uint8Array
      ? accessList
      : accessList instanceof ReceivedAccessList
        ? accessList.bytes
        : encodeAccessList(accessList);
  return rlpEncode([blockRlp, listRlp]);
}

/**
 * Decodes proposal bytes; malformed framing, block or list framing is a DecodeError.
 * Whether the list matches the header commitment is checked by validation, and so are the
 * list's entries (decoded as validation reaches them: see ReceivedAccessList) and the
 * transactions' fields (their objects are built on first use: see DecodeBlockOptions).
 */
export function decodeProposal(bytes: Uint8Array, common: Common | CommonAt): Proposal {
  const [blockRlp, listRlp] = expectList(rlpDecode(bytes, MAX_ACCESS_LIST_BYTES), "proposal", 2);
  const blockBytes = expectBytes(blockRlp, "proposal block");
  const accessListRlp = expectBytes(listRlp, "proposal access list");
  let block: Block;
  try {
    block = decodeBlock(blockBytes, common, { lazyTransactions: true });
  } catch (cause) {
    throw new DecodeError("proposal block: malformed", { cause, details: (cause as Error).message });
  }
  return { block, accessList: new ReceivedAccessList(accessListRlp), accessListRlp };
}
