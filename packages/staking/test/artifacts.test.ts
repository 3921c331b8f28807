import { readFileSync } from "node:fs";
import { type AbiFunction, toFunctionSignature } from "viem";
import { describe, expect, it } from "vitest";
import { ARTIFACT_JSON_PATH, ARTIFACT_TS_PATH, compileStaking } from "../scripts/compile.ts";
import { solcVersion, stakingAbi, stakingDeployedBytecode } from "../src/index.ts";

describe("committed artifacts", () => {
  it("are what the pinned solc compiles from contracts/Staking.sol today", () => {
    const fresh = compileStaking();
    expect(readFileSync(ARTIFACT_JSON_PATH, "utf8")).toBe(fresh.json);
    expect(readFileSync(ARTIFACT_TS_PATH, "utf8")).toBe(fresh.ts);
    const record = JSON.parse(fresh.json) as {
      settings: { evmVersion: string; optimizer: { enabled: boolean } };
    };
    expect(record.settings.evmVersion).toBe("prague");
    expect(record.settings.optimizer.enabled).toBe(true);
    expect(solcVersion).toMatch(/^0\.8\.37\+/);
    // EIP-170: the runtime must fit a normal deployment too.
    expect((stakingDeployedBytecode.length - 2) / 2).toBeLessThanOrEqual(24_576);
  }, 60_000);

  it("expose the interface issue 17 names, exactly", () => {
    const functions = (stakingAbi as readonly { type: string }[]).filter(
      (item): item is AbiFunction => item.type === "function",
    );
    const signatures = functions.map(
      (f) =>
        `${toFunctionSignature(f)} ${f.stateMutability} -> (${f.outputs.map((o) => `${o.type} ${o.name ?? ""}`.trim()).join(", ")})`,
    );
    for (const expected of [
      "registerValidator(address,uint16) payable -> ()",
      "delegate(address) payable -> ()",
      "undelegate(address,uint256) nonpayable -> ()",
      "withdraw() nonpayable -> ()",
      "claimRewards() nonpayable -> ()",
      "unjail(address) nonpayable -> ()",
      "getValidators() view -> (address[] signers, uint256[] powers)",
      "stakeOf(address,address) view -> (uint256)",
      "validatorInfo(address) view -> (address owner, address signer, uint256 totalStake, uint16 commissionBps, bool jailed, uint64 jailedUntilEpoch)",
      "minStake() view -> (uint256)",
      "currentEpoch() view -> (uint64)",
      "distributeRewards(address,address[]) nonpayable -> ()",
      "recordMissed(address[]) nonpayable -> ()",
      "slash(address) nonpayable -> ()",
      "endEpoch() nonpayable -> ()",
    ]) {
      expect(signatures).toContain(expected);
    }
  });
});
