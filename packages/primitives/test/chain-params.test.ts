import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  bytesToHex,
  cappedVotingPower,
  GenesisError,
  MAX_TOTAL_VOTING_POWER,
  parseChainParams,
} from "../src/index.ts";

const devnet = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));

describe("parseChainParams (what consensus reads of a genesis, without the executor)", () => {
  it("reads chain id, validators, block time and the empty-block policy of the devnet genesis", () => {
    const params = parseChainParams(devnet, "devnet.json");
    expect(params.chainId).toBe(BigInt(devnet.chainId));
    expect(params.validators.map((v) => [bytesToHex(v.address), v.power])).toEqual(
      devnet.validators.map((v: { address: string; power: number }) => [
        v.address.toLowerCase(),
        BigInt(v.power),
      ]),
    );
    expect(params.blockTimeMs).toBe(devnet.meridian?.blockTimeMs ?? 1000);
    expect(params.emptyBlocks).toBe(devnet.meridian?.emptyBlocks ?? true);
  });

  it("defaults the block time and empty blocks, and ignores the EVM's fields", () => {
    const params = parseChainParams({
      chainId: "0x1ca3",
      validators: [{ address: `0x${"11".repeat(20)}`, power: "0x5" }],
    });
    expect(params).toEqual({
      chainId: 7331n,
      validators: [{ address: new Uint8Array(20).fill(0x11), power: 5n }],
      blockTimeMs: 1000,
      emptyBlocks: true,
      timeouts: {},
    });
  });

  it("reads the round timeouts every validator uses (meridian.timeouts), a step left out keeping the default", () => {
    const params = parseChainParams({
      chainId: 1,
      validators: [{ address: `0x${"11".repeat(20)}`, power: 1 }],
      meridian: { timeouts: { proposeMs: 3000, proposeDeltaMs: "0x3e8", prevoteMs: 800, prevoteDeltaMs: 0 } },
    });
    expect(params.timeouts).toEqual({
      propose: { baseMs: 3000, deltaMs: 1000 },
      prevote: { baseMs: 800, deltaMs: 0 },
    });
  });

  it.each<[unknown, string]>([
    [{ chainId: 0, validators: [{ address: `0x${"11".repeat(20)}`, power: 1 }] }, "chainId"],
    [{ chainId: 1, validators: [] }, "validators"],
    [{ chainId: 1, validators: [{ address: `0x${"11".repeat(20)}`, power: 0 }] }, "validators[0].power"],
    [{ chainId: 1, validators: [{ address: "0x1234", power: 1 }] }, "validators[0].address"],
    // Above consensus's maximum total power (2^53 - 1) / 8, together though not alone.
    [
      {
        chainId: 1,
        validators: [
          { address: `0x${"11".repeat(20)}`, power: "0x10000000000000" },
          { address: `0x${"22".repeat(20)}`, power: "0x10000000000000" },
        ],
      },
      "validators",
    ],
    [
      {
        chainId: 1,
        validators: [{ address: `0x${"11".repeat(20)}`, power: 1 }],
        meridian: { blockTimeMs: 5 },
      },
      "meridian.blockTimeMs",
    ],
    [
      {
        chainId: 1,
        validators: [{ address: `0x${"11".repeat(20)}`, power: 1 }],
        meridian: { emptyBlocks: "no" },
      },
      "meridian.emptyBlocks",
    ],
    [[], "(root)"],
    ...(
      [
        [{ proposeMs: 1000 }, "meridian.timeouts.proposeDeltaMs"],
        [{ precommitDeltaMs: 10 }, "meridian.timeouts.precommitMs"],
        [{ proposeMs: 5, proposeDeltaMs: 0 }, "meridian.timeouts.proposeMs"],
        [{ prevoteMs: 500, prevoteDeltaMs: 700_000 }, "meridian.timeouts.prevoteDeltaMs"],
        [{ commitMs: 500 }, "meridian.timeouts.commitMs"],
      ] as const
    ).map(([timeouts, path]): [unknown, string] => [
      { chainId: 1, validators: [{ address: `0x${"11".repeat(20)}`, power: 1 }], meridian: { timeouts } },
      path,
    ]),
  ])("names the bad field: %j → %s", (json, path) => {
    let error: unknown;
    try {
      parseChainParams(json, "g.json");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GenesisError);
    expect((error as GenesisError).code).toBe("GENESIS_INVALID");
    expect((error as Error).message).toContain(`g.json: ${path}: `);
  });

  it("caps a staked validator's power at an equal share of the maximum among maxValidators", () => {
    expect(cappedVotingPower(1000n, 100)).toBe(1000);
    const share = Math.floor(MAX_TOTAL_VOTING_POWER / 100);
    expect(cappedVotingPower(BigInt(share) + 1n, 100)).toBe(share);
    expect(cappedVotingPower(10n ** 40n, 100)).toBe(share);
    // However the stake grows, a full set of capped validators stays within the maximum.
    expect(cappedVotingPower(10n ** 40n, 7) * 7).toBeLessThanOrEqual(MAX_TOTAL_VOTING_POWER);
  });
});
