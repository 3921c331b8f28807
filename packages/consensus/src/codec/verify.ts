import { proposalSignBytes, recoverSigner, signDigest, voteSignBytes } from "../crypto.ts";
import type { SignedProposal, SignedVote } from "../types.ts";
import type { UnverifiedProposal, UnverifiedVote } from "./wire.ts";

/** Recovers the signer of a vote from its signature; throws InvalidSignature. */
export function recoverVote(chainId: string, vote: UnverifiedVote): SignedVote {
  const validator = recoverSigner(signDigest(voteSignBytes(chainId, vote)), vote.signature);
  return { ...vote, validator };
}

/** Recovers the signer of a proposal from its signature; throws InvalidSignature. */
export function recoverProposal(chainId: string, proposal: UnverifiedProposal): SignedProposal {
  const proposer = recoverSigner(signDigest(proposalSignBytes(chainId, proposal)), proposal.signature);
  return { ...proposal, proposer };
}
