import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak_256 } from "@noble/hashes/sha3.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesToHex, keccak256 } from "../src/index.ts";

describe("keccak256", () => {
  it("gives the known digests of the empty string and 'abc'", () => {
    expect(bytesToHex(keccak256(new Uint8Array(0)))).toBe(
      "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
    expect(bytesToHex(keccak256(new TextEncoder().encode("abc")))).toBe(
      "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    );
  });

  it("equals @noble/hashes' keccak_256 at every length around the 136-byte block", () => {
    for (let len = 0; len <= 3 * 136 + 1; len++) {
      const data = new Uint8Array(len).map((_, i) => (i * 131 + len) & 0xff);
      expect(keccak256(data)).toEqual(keccak_256(data));
    }
  });

  it("equals @noble/hashes' keccak_256 on random input, also unaligned views", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), fc.nat(7), (bytes, skip) => {
        const view = bytes.subarray(Math.min(skip, bytes.length));
        expect(keccak256(view)).toEqual(keccak_256(view));
        // The input is left as it was.
        expect(keccak256(view)).toEqual(keccak_256(view));
      }),
      { numRuns: 300 },
    );
  });

  it("returns a fresh array per call (callers keep them)", () => {
    const a = keccak256(new Uint8Array([1]));
    const b = keccak256(new Uint8Array([2]));
    expect(a).not.toBe(b);
    expect(a).toEqual(keccak_256(new Uint8Array([1])));
  });

  it("keccak-f.ts is what its generator writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "keccak-gen-"));
    try {
      const out = join(dir, "keccak-f.ts");
      execFileSync(process.execPath, [new URL("../scripts/keccak-gen.ts", import.meta.url).pathname, out]);
      expect(readFileSync(out, "utf8")).toBe(
        readFileSync(new URL("../src/keccak-f.ts", import.meta.url), "utf8"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
