import { bytesToHex, hexKey } from "@meridian/primitives";
import { recoverSigner, signDigest, voteSignBytes } from "./crypto.ts";
import { ConsensusError, ConsensusErrorCode } from "./errors.ts";
import { type Commit, VoteType } from "./types.ts";
import type { ValidatorSet } from "./validator-set.ts";

function invalid(message: string, cause?: unknown): never {
  throw new ConsensusError(message, { code: ConsensusErrorCode.InvalidCommit, cause });
}

/**
 * Checks that `commit` carries precommits for its value at its height and round from distinct
 * validators of `validators` holding more than two thirds of the power. Anyone who knows the
 * validator set can check a block's finality this way (and an L1 contract with ecrecover).
 */
export function verifyCommit(validators: ValidatorSet, chainId: string, commit: Commit): void {
  const digest = signDigest(
    voteSignBytes(chainId, {
      type: VoteType.Precommit,
      height: commit.height,
      round: commit.round,
      valueId: commit.valueId,
    }),
  );
  const seen = new Set<string>();
  let power = 0;
  for (const sig of commit.signatures) {
    let signer: Uint8Array;
    try {
      signer = recoverSigner(digest, sig.signature);
    } catch (cause) {
      invalid(`commit signature of ${bytesToHex(sig.validator)} does not recover`, cause);
    }
    const key = hexKey(signer);
    if (key !== hexKey(sig.validator))
      invalid(`commit signature of ${bytesToHex(sig.validator)} was made by ${bytesToHex(signer)}`);
    if (seen.has(key)) invalid(`commit has two signatures of ${bytesToHex(signer)}`);
    seen.add(key);
    const p = validators.powerOf(signer);
    if (p === 0) invalid(`commit signer ${bytesToHex(signer)} is not a validator`);
    power += p;
  }
  if (3 * power <= 2 * validators.totalPower)
    invalid(`commit has ${power} of ${validators.totalPower} voting power, needs more than two thirds`);
}
