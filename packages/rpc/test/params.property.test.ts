import { bytesToHex, toQuantity } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeRevertReason,
  ParamError,
  parseAddress,
  parseBlockNumberOrHash,
  parseBlockNumberOrTag,
  parseData,
  parseHash,
  parseQuantity,
  parseStorageKey,
} from "../src/index.ts";

const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_INT64 = (1n << 63n) - 1n;

describe("param parsers (property)", () => {
  it("round-trips every uint256 quantity", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_UINT256 }), (n) => {
        expect(parseQuantity(toQuantity(n))).toBe(n);
        expect(parseQuantity(toQuantity(n).toUpperCase().replace("0X", "0x"))).toBe(n);
      }),
    );
  });

  it("rejects quantities with leading zeros or past the bit width", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_UINT256 }), (n) => {
        expect(() => parseQuantity(`0x0${n.toString(16)}`)).toThrow(ParamError);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 1n << 64n, max: MAX_UINT256 }), (n) => {
        expect(() => parseQuantity(toQuantity(n), 64)).toThrow("hex number > 64 bits");
      }),
    );
  });

  it("round-trips arbitrary data, addresses and hashes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const decoded = parseData(bytesToHex(bytes));
        expect(decoded).toBeInstanceOf(Uint8Array);
        expect(bytesToHex(decoded)).toBe(bytesToHex(bytes));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
        const hex = bytesToHex(bytes);
        expect(bytesToHex(parseAddress(hex))).toBe(hex);
        expect(bytesToHex(parseAddress(`0x${hex.slice(2).toUpperCase()}`))).toBe(hex);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const hex = bytesToHex(bytes);
        expect(bytesToHex(parseHash(hex))).toBe(hex);
        expect(parseBlockNumberOrHash(hex)).toEqual({ hash: bytes });
      }),
    );
  });

  it("rejects data of the wrong size or shape", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }).filter((b) => b.length !== 20),
        (bytes) => {
          expect(() => parseAddress(bytesToHex(bytes))).toThrow(ParamError);
        },
      ),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        expect(() => parseData(bytesToHex(bytes).slice(0, -1))).toThrow("hex string of odd length");
        expect(() => parseData(bytesToHex(bytes).slice(2))).toThrow("hex string without 0x prefix");
      }),
    );
  });

  it("left-pads storage keys of up to 32 bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), (bytes) => {
        const padded = new Uint8Array(32);
        padded.set(bytes, 32 - bytes.length);
        expect(bytesToHex(parseStorageKey(bytesToHex(bytes)))).toBe(bytesToHex(padded));
      }),
    );
  });

  it("round-trips block numbers up to int64", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_INT64 }), (n) => {
        expect(parseBlockNumberOrTag(toQuantity(n))).toEqual({ number: n });
        expect(parseBlockNumberOrHash({ blockNumber: toQuantity(n) })).toEqual({ number: n });
      }),
    );
  });

  it("decodes any Error(string) revert reason", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (reason) => {
        const body = Buffer.from(reason, "utf8");
        const padded = Buffer.alloc(Math.ceil(body.length / 32) * 32);
        body.copy(padded);
        const word = (n: number) => Buffer.from(n.toString(16).padStart(64, "0"), "hex");
        const data = Buffer.concat([Buffer.from("08c379a0", "hex"), word(32), word(body.length), padded]);
        expect(decodeRevertReason(new Uint8Array(data))).toBe(reason);
      }),
    );
  });
});
