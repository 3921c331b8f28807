import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ParamError, parseCallRequest, parseDuration, parseTraceOptions } from "../src/index.ts";

const CHAIN_ID = 7331n;
const ADDRESS = `0x${"55".repeat(20)}`;

describe("call request: EIP-7702 and blob fields", () => {
  it("parses an authorization list (yParity, or v as some clients send)", () => {
    const req = parseCallRequest(
      {
        to: ADDRESS,
        authorizationList: [
          { chainId: "0x1ca3", address: ADDRESS, nonce: "0x2", yParity: "0x1", r: "0x3", s: "0x4" },
          { chainId: "0x0", address: ADDRESS, nonce: "0x0", v: "0x0", r: "0x5", s: "0x6" },
        ],
      },
      CHAIN_ID,
    );
    expect(req.authorizationList).toEqual([
      { chainId: 7331n, address: new Uint8Array(20).fill(0x55), nonce: 2n, yParity: 1n, r: 3n, s: 4n },
      { chainId: 0n, address: new Uint8Array(20).fill(0x55), nonce: 0n, yParity: 0n, r: 5n, s: 6n },
    ]);
  });

  it("refuses incomplete tuples, creations with authorizations, and both kinds at once", () => {
    const bad = [
      {
        to: ADDRESS,
        authorizationList: [{ chainId: "0x1", address: ADDRESS, nonce: "0x0", r: "0x1", s: "0x1" }],
      },
      {
        to: ADDRESS,
        authorizationList: [{ address: ADDRESS, nonce: "0x0", yParity: "0x0", r: "0x1", s: "0x1" }],
      },
      { to: null, authorizationList: [] },
      { to: ADDRESS, authorizationList: [], blobVersionedHashes: [] },
      { to: ADDRESS, authorizationList: "0x" },
    ];
    for (const v of bad) expect(() => parseCallRequest(v, CHAIN_ID)).toThrow(ParamError);
  });

  it("parses blob hashes and the blob fee cap", () => {
    const hash = `0x01${"ab".repeat(31)}`;
    const req = parseCallRequest(
      { to: ADDRESS, blobVersionedHashes: [hash], maxFeePerBlobGas: "0x10" },
      CHAIN_ID,
    );
    expect(req.blobVersionedHashes?.map((h) => Buffer.from(h).toString("hex"))).toEqual([hash.slice(2)]);
    expect(req.maxFeePerBlobGas).toBe(16n);
  });
});

describe("trace timeout (Go durations)", () => {
  it("reads geth's duration strings", () => {
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("0")).toBe(0);
    expect(parseTraceOptions({ timeout: "10s" }).timeoutMs).toBe(10_000);
  });

  it("rejects what Go's time.ParseDuration rejects", () => {
    for (const bad of ["", "5", "s", "-1s", "5 s", "5sec", "1h-2m"])
      expect(() => parseDuration(bad)).toThrow(ParamError);
  });

  it("sums its parts for any combination of units", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1000 }),
        fc.nat({ max: 59 }),
        fc.nat({ max: 59 }),
        fc.nat({ max: 999 }),
        (h, m, s, ms) => {
          expect(parseDuration(`${h}h${m}m${s}s${ms}ms`)).toBe(((h * 60 + m) * 60 + s) * 1000 + ms);
        },
      ),
    );
  });
});
