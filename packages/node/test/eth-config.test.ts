import { readFileSync } from "node:fs";
import { paramsBlock } from "@ethereumjs/block";
import { chainCommon, hardforkAt, parseGenesis } from "@meridian/executor";
import { hexToBytes } from "@meridian/primitives";
import { describe, expect, it } from "vitest";
import { ethConfig, forkHash } from "../src/eth-config.ts";

const devnet = JSON.parse(readFileSync(new URL("../../../genesis/devnet.json", import.meta.url), "utf8"));
const T = 1_800_000_000;
const GENESIS_HASH = hexToBytes(`0x${"11".repeat(32)}`);

describe("eth_config (EIP-7910)", () => {
  it("computes EIP-2124/6122 fork hashes (mainnet vectors)", () => {
    const mainnet = hexToBytes("0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");
    expect(forkHash(mainnet, [])).toBe("0xfc64ec04");
    expect(forkHash(mainnet, [1_150_000n])).toBe("0x97c2c34c");
    expect(forkHash(mainnet, [1_150_000n, 1_920_000n])).toBe("0x91d1f948");
  });

  it("reports Prague as current and Osaka as next and last before osakaTime, Osaka alone after", () => {
    const spec = parseGenesis({ ...devnet, hardfork: "prague", timestamp: T, config: { osakaTime: T + 10 } });
    const commonAt = (time: bigint) => {
      const c = chainCommon({ chainId: spec.chainId, hardfork: hardforkAt(spec, time) });
      c.updateParams(paramsBlock);
      return c;
    };
    const before = ethConfig(spec, GENESIS_HASH, BigInt(T + 9), commonAt);
    expect(before.current.activationTime).toBe(0);
    expect(before.current.chainId).toBe("0x1ca3");
    expect(before.current.blobSchedule).toEqual({ baseFeeUpdateFraction: 5007716, max: 9, target: 6 });
    expect(before.current.precompiles.P256VERIFY).toBeUndefined();
    expect(before.current.precompiles.BLS12_MAP_FP2_TO_G2).toBe("0x0000000000000000000000000000000000000011");
    expect(before.current.systemContracts.HISTORY_STORAGE_ADDRESS).toBe(
      "0x0000f90827f1c53a10cb7a02335b175320002935",
    );
    expect(before.current.forkId).toBe(forkHash(GENESIS_HASH, []));
    expect(before.next?.activationTime).toBe(T + 10);
    expect(before.next?.precompiles.P256VERIFY).toBe("0x0000000000000000000000000000000000000100");
    expect(before.next?.forkId).toBe(forkHash(GENESIS_HASH, [BigInt(T + 10)]));
    expect(before.last).toEqual(before.next);

    const after = ethConfig(spec, GENESIS_HASH, BigInt(T + 10), commonAt);
    expect(after.current).toEqual(before.next);
    expect(after.next).toBeNull();
    expect(after.last).toBeNull();
  });
});
