import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  expectedCategories,
  networkHardfork,
  readKnownFailures,
  rejectionCategory,
  rejectionMatches,
  runBlocktests,
} from "../src/index.ts";

const EEST = fileURLToPath(
  new URL("../../../test/fixtures/execution-spec-tests/blockchain_tests", import.meta.url),
);
const KNOWN = readKnownFailures(fileURLToPath(new URL("../KNOWN_FAILURES", import.meta.url)));
const at = (p: string) => join(EEST, p);

/**
 * A few Prague and Osaka cases of each EIP, through both executors (`npm run conformance`
 * runs all 786). Small files: 2-8 cases each. EIP-7934 has no vendored case (see the README).
 */
const SLICE = [
  "prague/eip7702_set_code_tx/test_eip_7702.json",
  "prague/eip7702_set_code_tx/test_empty_authorization_list.json",
  "prague/eip7702_set_code_tx/test_set_code_type_tx_pre_fork.json",
  "prague/eip2935_historical_block_hashes_from_state/test_eip_2935.json",
  "prague/eip2537_bls_12_381_precompiles/test_invalid_zero_gas_g1msm.json",
  "prague/eip7623_increase_calldata_cost/test_eip_7623.json",
  "prague/eip6110_deposits/test_eip_6110.json",
  "prague/eip7002_el_triggerable_withdrawals/test_eip_7002.json",
  "prague/eip7002_el_triggerable_withdrawals/test_withdrawal_requests_during_fork.json",
  "prague/eip7251_consolidations/test_eip_7251.json",
  "osaka/eip7825_transaction_gas_limit_cap/test_tx_gas_limit_cap_exceeded.json",
  "osaka/eip7825_transaction_gas_limit_cap/test_tx_gas_limit_cap_at_maximum.json",
  "osaka/eip7825_transaction_gas_limit_cap/test_transaction_gas_limit_cap_at_transition.json",
  "osaka/eip7823_modexp_upper_bounds/test_modexp_over_boundary.json",
  "osaka/eip7883_modexp_gas_increase/test_modexp_fork_transition.json",
  "osaka/eip7939_count_leading_zeros/test_clz_gas_cost.json",
  "osaka/eip7939_count_leading_zeros/test_clz_fork_transition.json",
  "osaka/eip7951_p256verify_precompiles/test_precompile_as_tx_entry_point.json",
  "osaka/eip7918_blob_reserve_price/test_reserve_price_at_transition.json",
].map(at);

const tmp = mkdtempSync(join(tmpdir(), "meridian-eest-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("execution-spec-tests Prague and Osaka", () => {
  it("passes a slice of every EIP's cases, transitions included, through both executors", async () => {
    const summary = await runBlocktests({
      paths: SLICE,
      executor: "both",
      json: true,
      out: () => {},
      progress: () => {},
      knownFailures: KNOWN,
    });
    expect(summary.failures).toEqual([]);
    expect(summary.skipped).toBe(0);
    expect(summary.passed).toBe(summary.total);
    // Transition cases (CancunToPrague, PragueToOsaka) run: nothing was skipped.
    expect(summary.total).toBeGreaterThanOrEqual(29);
  }, 120_000);

  it("fails an invalid block rejected for a reason of another category", async () => {
    // An Osaka transaction over the EIP-7825 cap, relabelled as a block-level (state root) failure.
    const source = at("osaka/eip7825_transaction_gas_limit_cap/test_tx_gas_limit_cap_exceeded.json");
    const json = JSON.parse(readFileSync(source, "utf8")) as Record<
      string,
      { blocks: { expectException?: string }[] }
    >;
    for (const c of Object.values(json))
      for (const b of c.blocks)
        if (b.expectException) b.expectException = "BlockException.INVALID_STATE_ROOT";
    const file = join(tmp, "relabelled.json");
    writeFileSync(file, JSON.stringify(json));
    const summary = await runBlocktests({ paths: [file], executor: "sequential", json: true, out: () => {} });
    expect(summary.failed).toBe(summary.total);
    const diff = summary.failures[0]?.diffs[0];
    expect(diff?.path).toMatch(/rejection category$/);
    expect(diff?.expected).toBe("BlockException.INVALID_STATE_ROOT");
    expect(diff?.actual).toMatch(/^transaction rejection: .*exceeds the maximum allowed by EIP-7825/);
  });
});

describe("rejection categories", () => {
  it.each([
    [
      "invalid block 1: invalid requestsHash (vm hf=osaka -> block number=1 hash=0xab baseFeePerGas=7)",
      "block",
    ],
    ["invalid block 1: invalid deposit log: unsupported data layout", "block"],
    [
      "invalid block 3: invalid withdrawals trie (block number=3 hash=0x12 hf=cancun baseFeePerGas=7)",
      "block",
    ],
    ["invalid block 2: wrong base fee", "header"],
    ["invalid block 2: timestamp not after parent", "header"],
    ["decode: Invalid block: too much gas used. Used: 5, gas limit: 0 (block header number=1)", "header"],
    [
      "decode: Transaction gas limit 16777217 exceeds the maximum allowed by EIP-7825 (16777216)",
      "transaction",
    ],
    [
      "invalid block 1: invalid transactions: errors at tx 0: tx unable to pay base fee (EIP-1559 tx)",
      "transaction",
    ],
    ["decode: Invalid EIP-7702 transaction: authorization list is empty", "transaction"],
    ["invalid block 1: invalid sender address, address is not EOA (EIP-3607)", "transaction"],
  ] as const)("%s → %s", (reason, category) => {
    expect(rejectionCategory(reason)).toBe(category);
  });

  it("reads the categories of an expectException, alternatives included", () => {
    expect([...expectedCategories("TransactionException.INTRINSIC_GAS_TOO_LOW")]).toEqual(["transaction"]);
    expect([...expectedCategories("BlockException.INVALID_GASLIMIT")]).toEqual(["header"]);
    expect([...expectedCategories("BlockException.INVALID_REQUESTS")]).toEqual(["block"]);
    expect(
      [
        ...expectedCategories(
          "BlockException.RLP_STRUCTURES_ENCODING|TransactionException.TYPE_3_TX_WITH_FULL_BLOBS",
        ),
      ].sort(),
    ).toEqual(["block", "header", "transaction"]);
  });

  it("counts a transactions-root mismatch for a transaction exception only", () => {
    const reason =
      "invalid block 1: invalid transaction trie (block number=1 hash=0x1 hf=cancun baseFeePerGas=7)";
    expect(rejectionMatches("TransactionException.INSUFFICIENT_ACCOUNT_FUNDS", reason)).toBe(true);
    expect(rejectionMatches("BlockException.INVALID_GASLIMIT", reason)).toBe(false);
  });
});

describe("networkHardfork", () => {
  it("maps single and transition networks to a timestamp schedule", () => {
    expect(networkHardfork("Osaka")).toEqual({ forks: [{ hardfork: "osaka", fromTime: 0n }] });
    expect(networkHardfork("PragueToOsakaAtTime15k")).toEqual({
      forks: [
        { hardfork: "prague", fromTime: 0n },
        { hardfork: "osaka", fromTime: 15_000n },
      ],
    });
    expect(networkHardfork("OsakaToBPO1AtTime15k")).toHaveProperty("skip");
    expect(networkHardfork("Berlin")).toHaveProperty("skip");
  });
});
