import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MerkleStateManager } from "@ethereumjs/statemanager";
import { Account, Address, bytesToHex, KECCAK256_RLP } from "@ethereumjs/util";
import { ChainDatabase } from "@meridian/storage";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { accountRlp, FlatStateManager, FlatStateStore, historicalState, stateProof } from "../src/index.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openStore(): Promise<FlatStateStore> {
  const d = await mkdtemp(join(tmpdir(), "meridian-state-"));
  dirs.push(d);
  return new FlatStateStore(await ChainDatabase.open(join(d, "db")));
}

type Op =
  | { t: "balance"; a: number; v: bigint }
  | { t: "nonce"; a: number; v: bigint }
  | { t: "slot"; a: number; k: number; v: bigint }
  | { t: "code"; a: number; c: number }
  | { t: "delete"; a: number }
  | { t: "clear"; a: number }
  | { t: "checkpoint" }
  | { t: "revert" }
  | { t: "commit" };

const addresses = Array.from({ length: 6 }, (_, i) => new Address(new Uint8Array(20).fill(i + 1)));
const slotKey = (k: number) => {
  const b = new Uint8Array(32);
  b[31] = k;
  return b;
};
const word = (v: bigint) => {
  const hex = v.toString(16).padStart(64, "0");
  return Uint8Array.from(Buffer.from(hex, "hex"));
};

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant("balance" as const), a: fc.nat(5), v: fc.bigInt(0n, 10n ** 20n) }),
  fc.record({ t: fc.constant("nonce" as const), a: fc.nat(5), v: fc.bigInt(0n, 100n) }),
  fc.record({ t: fc.constant("slot" as const), a: fc.nat(5), k: fc.nat(4), v: fc.bigInt(0n, 3n) }),
  fc.record({ t: fc.constant("code" as const), a: fc.nat(5), c: fc.nat(3) }),
  fc.record({ t: fc.constant("delete" as const), a: fc.nat(5) }),
  fc.record({ t: fc.constant("clear" as const), a: fc.nat(5) }),
  fc.constant({ t: "checkpoint" as const }),
  fc.constant({ t: "revert" as const }),
  fc.constant({ t: "commit" as const }),
);

type SM = FlatStateManager | MerkleStateManager;
async function apply(sm: SM, op: Op, depth: { n: number }): Promise<void> {
  switch (op.t) {
    case "balance":
    case "nonce": {
      const addr = addresses[op.a] as Address;
      const acc = (await sm.getAccount(addr)) ?? new Account();
      if (op.t === "balance") acc.balance = op.v;
      else acc.nonce = op.v;
      await sm.putAccount(addr, acc);
      return;
    }
    case "slot": {
      const addr = addresses[op.a] as Address;
      // Storage only on existing accounts, as the EVM does.
      if (!(await sm.getAccount(addr))) await sm.putAccount(addr, new Account(1n));
      return sm.putStorage(addr, slotKey(op.k), word(op.v));
    }
    case "code": {
      const addr = addresses[op.a] as Address;
      if (!(await sm.getAccount(addr))) await sm.putAccount(addr, new Account(1n));
      return sm.putCode(addr, Uint8Array.of(0x60, op.c, 0x00));
    }
    case "delete":
      return sm.deleteAccount(addresses[op.a] as Address);
    case "clear":
      return sm.clearStorage(addresses[op.a] as Address);
    case "checkpoint":
      depth.n++;
      return sm.checkpoint();
    case "revert":
      if (depth.n === 0) return;
      depth.n--;
      return sm.revert();
    case "commit":
      if (depth.n === 0) return;
      depth.n--;
      return sm.commit();
  }
}

describe("FlatStateManager", () => {
  it("matches MerkleStateManager roots and reads across committed blocks", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { maxLength: 40 }), { minLength: 1, maxLength: 3 }),
        async (blocks) => {
          const store = await openStore();
          const reference = new MerkleStateManager();
          let root: Uint8Array = KECCAK256_RLP;
          for (const ops of blocks) {
            const flat = new FlatStateManager(store, root);
            const dFlat = { n: 0 };
            const dRef = { n: 0 };
            for (const op of ops) {
              await apply(flat, op, dFlat);
              await apply(reference, op, dRef);
            }
            while (dFlat.n > 0) {
              await apply(flat, { t: "commit" }, dFlat);
              await apply(reference, { t: "commit" }, dRef);
            }
            const batch = store.db.batch();
            const { stateRoot, cacheUpdate } = await flat.writeTo(batch);
            await store.db.write(batch);
            store.applyCommitted(cacheUpdate);
            expect(bytesToHex(stateRoot)).toBe(bytesToHex(await reference.getStateRoot()));
            root = stateRoot;
            // Fresh overlay reads the committed flat state; historical reads the trie.
            const next = new FlatStateManager(store, root);
            const hist = historicalState(store.db, root);
            for (const addr of addresses) {
              const want = await reference.getAccount(addr);
              expect((await next.getAccount(addr))?.balance).toBe(want?.balance);
              expect((await hist.getAccount(addr))?.nonce).toBe(want?.nonce);
              for (let k = 0; k < 5; k++) {
                const v = bytesToHex(await reference.getStorage(addr, slotKey(k)));
                expect(bytesToHex(await next.getStorage(addr, slotKey(k)))).toBe(v);
              }
              expect(bytesToHex(await next.getCode(addr))).toBe(bytesToHex(await reference.getCode(addr)));
            }
          }
          await store.db.close();
        },
      ),
      { numRuns: 40, seed: 7331 },
    );
  });

  it("produces EIP-1186 proofs for committed state", async () => {
    const store = await openStore();
    const flat = new FlatStateManager(store, KECCAK256_RLP);
    const addr = addresses[0] as Address;
    await flat.putAccount(addr, new Account(3n, 1000n));
    await flat.putStorage(addr, slotKey(1), word(42n));
    const batch = store.db.batch();
    const { stateRoot } = await flat.writeTo(batch);
    await store.db.write(batch);
    const proof = await stateProof(store.db, stateRoot, addr, [slotKey(1)]);
    expect(proof.balance).toBe("0x3e8");
    expect(proof.nonce).toBe("0x3");
    expect(proof.storageProof[0]?.value).toBe("0x2a");
    expect(proof.accountProof.length).toBeGreaterThan(0);
    await store.db.close();
  });
});

describe("accountRlp", () => {
  it("equals Account.serialize", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (nonce, balance, storageRoot, codeHash) => {
          const account = new Account(nonce, balance, storageRoot, codeHash);
          expect(accountRlp(account)).toEqual(account.serialize());
        },
      ),
      { numRuns: 500 },
    );
  });

  it("peekAccountNow and modifyAccountFieldsNow answer without a disk read, or say they cannot", async () => {
    const store = await openStore();
    const [a, b, c] = addresses as [Address, Address, Address];
    const hex = (x: Address) => Buffer.from(x.bytes).toString("hex");
    // Commit a and b to disk, through a fresh store so that nothing of them is cached.
    const first = new FlatStateManager(store, KECCAK256_RLP);
    await first.putAccount(a, new Account(1n, 100n));
    await first.putAccount(b, new Account(2n, 200n));
    const batch = store.db.batch();
    const { stateRoot } = await first.writeTo(batch);
    await store.db.write(batch);
    const cold = new FlatStateStore(store.db);
    const flat = new FlatStateManager(cold, stateRoot);
    expect(flat.peekAccountNow(hex(a))).toBeUndefined();
    expect(flat.modifyAccountFieldsNow(hex(a), { balance: 5n })).toBe(false);
    expect((await flat.getAccount(a))?.balance).toBe(100n); // the refused write changed nothing
    // Read once (now cached), then known without a read, as peekAccount has it.
    const peeked = await flat.peekAccount(hex(b), b.bytes);
    expect(flat.peekAccountNow(hex(b))?.balance).toBe(peeked?.balance);
    expect(flat.modifyAccountFieldsNow(hex(b), { balance: 7n })).toBe(true);
    const after = await flat.getAccount(b);
    expect([after?.nonce, after?.balance]).toEqual([2n, 7n]);
    // An account known to be absent once asked for, and the overlay's own (a deletion too).
    await flat.peekAccount(hex(c), c.bytes);
    expect(flat.peekAccountNow(hex(c))).toBeNull();
    expect(flat.modifyAccountFieldsNow(hex(c), { nonce: 1n })).toBe(true);
    expect((await flat.getAccount(c))?.nonce).toBe(1n);
    await flat.deleteAccount(c);
    expect(flat.peekAccountNow(hex(c))).toBeNull();
  });
});
