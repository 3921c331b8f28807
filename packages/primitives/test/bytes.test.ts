import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteArena } from "../src/index.ts";

describe("ByteArena", () => {
  it("returns equal copies that share a few chunks and never alias the input", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 512 }),
        (inputs, chunkSize) => {
          const arena = new ByteArena(chunkSize);
          const copies = inputs.map((b) => arena.copy(b));
          const buffers = new Set<ArrayBufferLike>();
          for (const [i, c] of copies.entries()) {
            const input = inputs[i] as Uint8Array;
            expect(c).toEqual(input);
            if (input.length > 0) expect(c.buffer).not.toBe(input.buffer);
            buffers.add(c.buffer);
          }
          // Changing an input afterwards leaves its copy alone.
          const before = inputs.map((b) => Uint8Array.from(b));
          for (const b of inputs) b.fill(0xee);
          expect(copies).toEqual(before);
          const total = inputs.reduce((n, b) => n + b.length, 0);
          // A chunk holds chunkSize bytes or one larger input; the empty array is shared.
          expect(buffers.size).toBeLessThanOrEqual(
            inputs.length === 0 ? 0 : 1 + Math.ceil(total / chunkSize) * 2,
          );
        },
      ),
    );
  });

  it("keeps neighbouring copies apart within one chunk", () => {
    const arena = new ByteArena(64);
    const a = arena.copy(Uint8Array.of(1, 2, 3));
    const b = arena.copy(Uint8Array.of(4, 5));
    expect(a.buffer).toBe(b.buffer);
    b.fill(9);
    expect([...a]).toEqual([1, 2, 3]);
  });
});
