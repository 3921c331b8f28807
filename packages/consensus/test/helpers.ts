import { equalBytes, keccak256, privateKeyToAddress } from "@meridian/primitives";
import {
  type ConsensusState,
  defaultConsensusParams,
  initialState,
  type Mutation,
  proposalSignBytes,
  type SignedProposal,
  type SignedVote,
  signDigest,
  signDigestWithKey,
  ValidatorSet,
  VoteType,
  voteSignBytes,
} from "../src/index.ts";

export const CHAIN_ID = "meridian-test";

export function testKey(i: number): Uint8Array {
  const k = new Uint8Array(32);
  k[0] = 0x42;
  k[31] = i + 1;
  return k;
}

export type TestValidator = { key: Uint8Array; address: Uint8Array; power: number };

export function testValidators(powers: readonly number[]): { set: ValidatorSet; vals: TestValidator[] } {
  const vals = powers.map((power, i) => ({
    key: testKey(i),
    address: privateKeyToAddress(testKey(i)),
    power,
  }));
  return { set: ValidatorSet.create(vals.map((v) => ({ address: v.address, power: v.power }))), vals };
}

/** The validator of `vals` with address `a` (a test names validators by a set's answers). */
export function validatorByAddress(vals: readonly TestValidator[], a: Uint8Array): TestValidator {
  const v = vals.find((x) => equalBytes(x.address, a));
  if (!v) throw new Error("no test validator has that address");
  return v;
}

export function signedVote(
  v: TestValidator,
  type: VoteType,
  height: bigint,
  round: number,
  valueId: Uint8Array | null,
  chainId = CHAIN_ID,
): SignedVote {
  const vote = { type, height, round, valueId };
  return {
    ...vote,
    validator: v.address,
    signature: signDigestWithKey(v.key, signDigest(voteSignBytes(chainId, vote))),
  };
}

export function prevote(
  v: TestValidator,
  height: bigint,
  round: number,
  valueId: Uint8Array | null,
): SignedVote {
  return signedVote(v, VoteType.Prevote, height, round, valueId);
}

export function precommit(
  v: TestValidator,
  height: bigint,
  round: number,
  valueId: Uint8Array | null,
): SignedVote {
  return signedVote(v, VoteType.Precommit, height, round, valueId);
}

export function signedProposal(
  v: TestValidator,
  height: bigint,
  round: number,
  value: Uint8Array,
  polRound = -1,
): SignedProposal {
  const p = { height, round, valueId: keccak256(value), polRound };
  return {
    ...p,
    value,
    proposer: v.address,
    signature: signDigestWithKey(v.key, signDigest(proposalSignBytes(CHAIN_ID, p))),
  };
}

export function stateFor(self: Uint8Array | null, mutation?: Mutation): ConsensusState {
  return initialState({
    chainId: CHAIN_ID,
    params: defaultConsensusParams,
    self,
    ...(mutation ? { mutation } : {}),
  });
}

export function value(tag: number): Uint8Array {
  return Uint8Array.of(0xaa, tag);
}
