// System calls run outside block gas but with a fixed budget (30M, as EIP-4788/2935 calls):
// check the worst per-block and per-epoch calls at a full set of 100 validators fit well within it.
import { type Address, getAddress } from "viem";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Anvil, baseParams, ETHER, installGenesis, type StakingHarness, startAnvil } from "./harness.ts";

const SYSTEM_CALL_GAS = 30_000_000n;
const VALIDATORS = 100;
const signer = (i: number): Address => getAddress(`0x${(0xa000 + i).toString(16).padStart(40, "0")}`);

let anvil: Anvil;
let h: StakingHarness;

beforeAll(async () => {
  anvil = await startAnvil(2);
  const owners = Array.from({ length: VALIDATORS }, (_, i) =>
    getAddress(`0x${(0xb000 + i).toString(16).padStart(40, "0")}`),
  );
  // 20 more candidates than seats, so endEpoch has to rank and drop.
  h = await installGenesis(
    anvil,
    { ...baseParams, maxValidators: VALIDATORS - 20 },
    owners.map((owner, i) => ({
      owner,
      signer: signer(i),
      commissionBps: 500,
      stake: 10n * ETHER + BigInt(i) * ETHER,
    })),
  );
}, 120_000);
afterAll(async () => {
  await anvil?.stop();
});

it("distributeRewards, recordMissed and endEpoch at 100 validators fit the system-call gas", async () => {
  const active = (await h.read("getValidators"))[0];
  expect(active).toHaveLength(VALIDATORS - 20);
  await h.credit(baseParams.issuancePerBlock);
  const distribute = await h.system("distributeRewards", [active[0]!, [...active]]);
  // The second block's split writes only non-zero slots: the steady-state cost.
  await h.credit(baseParams.issuancePerBlock);
  const distributeAgain = await h.system("distributeRewards", [active[0]!, [...active]]);
  const missed = await h.system("recordMissed", [[...active]]);
  const epoch = await h.system("endEpoch", []);
  const figures = {
    distribute: distribute.gasUsed,
    distributeAgain: distributeAgain.gasUsed,
    missed: missed.gasUsed,
    endEpoch: epoch.gasUsed,
  };
  console.log(
    `system-call gas at ${active.length} active of ${VALIDATORS}: ${JSON.stringify(figures, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`,
  );
  for (const gas of Object.values(figures)) expect(gas).toBeLessThan(SYSTEM_CALL_GAS / 3n);
}, 120_000);
