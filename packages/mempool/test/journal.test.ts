import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rlpEncode } from "@meridian/primitives";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { TxJournal } from "../src/index.ts";
import { addr, setup, tx1559 } from "./helpers.ts";

const dirs: string[] = [];
function journalPath(): string {
  const d = mkdtempSync(join(tmpdir(), "meridian-journal-"));
  dirs.push(d);
  return join(d, "txpool", "transactions.rlp");
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("TxJournal", () => {
  it("reads back what was appended, in order, after a rotation", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }), (raws) => {
        const path = journalPath();
        const j = new TxJournal(path);
        j.rotate([]);
        for (const r of raws) j.append(r);
        j.close();
        expect(new TxJournal(path).load()).toEqual(raws);
      }),
      { numRuns: 50, seed: 77 },
    );
  });

  it("keeps the records before a torn tail and ignores the rest", () => {
    const path = journalPath();
    const j = new TxJournal(path);
    j.rotate([Uint8Array.of(1, 2, 3)]);
    j.append(new Uint8Array(100).fill(7));
    j.close();
    const whole = readFileSync(path);
    // A crash in the middle of the last write.
    writeFileSync(path, whole.subarray(0, whole.length - 10));
    expect(new TxJournal(path).load()).toEqual([Uint8Array.of(1, 2, 3)]);
    // Garbage (a list header) after valid records.
    writeFileSync(path, whole);
    appendFileSync(path, rlpEncode([1n, 2n]));
    expect(new TxJournal(path).load()).toHaveLength(2);
  });

  it("a pool journals each admission before it resolves, and not before journalTo", async () => {
    const path = journalPath();
    const j = new TxJournal(path);
    j.rotate([]);
    const { pool } = setup();
    await pool.add(tx1559(0, { nonce: 0, maxFee: 10n, tip: 1n }), addr(0));
    pool.journalTo(j);
    const second = tx1559(0, { nonce: 1, maxFee: 10n, tip: 1n });
    await pool.add(second, addr(0));
    // Read without closing: the append is in the file already.
    expect(new TxJournal(path).load()).toEqual([second.serialize()]);
    expect(pool.rawTransactions()).toHaveLength(2);
    j.close();
  });
});
