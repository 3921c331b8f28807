import { type FinalizeBlockRequest, keccak256 } from "@meridian/primitives";

/**
 * A round-0 decision of `value` by `proposer` as the driver hands it to finalizeBlock, with no
 * signatures: the Chain stores the commit, it does not check it (consensus did).
 */
export function decision(height: bigint, value: Uint8Array, proposer: Uint8Array): FinalizeBlockRequest {
  return {
    height,
    round: 0,
    proposer,
    value,
    commit: { height, round: 0, valueId: keccak256(value), signatures: [] },
    misbehavior: [],
  };
}
