import { rlpEncode } from "@meridian/primitives";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ConsensusError,
  ConsensusErrorCode,
  decodeEvidence,
  decodeMessage,
  encodeEvidence,
  encodeProposal,
  encodeVote,
  MessageType,
  orderEvidence,
  recoverProposal,
  recoverVote,
  type UnverifiedProposal,
  type UnverifiedVote,
  VoteType,
} from "../../src/index.ts";
import { CHAIN_ID, prevote, signedProposal, testValidators, value } from "../helpers.ts";

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const arbVote: fc.Arbitrary<UnverifiedVote> = fc.record({
  type: fc.constantFrom(VoteType.Prevote, VoteType.Precommit),
  height: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  round: fc.integer({ min: 0, max: 0x7fff_ffff }),
  valueId: fc.option(bytes(32), { nil: null }),
  signature: bytes(65),
});
const arbProposal: fc.Arbitrary<UnverifiedProposal> = fc
  .record({
    height: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    round: fc.integer({ min: 0, max: 0x7fff_ffff }),
    valueId: bytes(32),
    value: fc.uint8Array({ maxLength: 300 }),
    signature: bytes(65),
    polFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ polFraction, ...p }) => ({ ...p, polRound: Math.floor(polFraction * (p.round + 1)) - 1 }))
  .filter((p) => p.polRound < p.round);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ConsensusError ? err.code : "other";
  }
  return undefined;
}

describe("wire codecs", () => {
  it("vote: decode(encode(v)) = v and encode(decode(b)) = b", () => {
    fc.assert(
      fc.property(arbVote, (vote) => {
        const encoded = encodeVote(vote);
        expect(encoded[0]).toBe(MessageType.Vote);
        const decoded = decodeMessage(encoded);
        expect(decoded).toEqual({ type: "vote", vote });
        expect(encodeVote((decoded as { vote: UnverifiedVote }).vote)).toEqual(encoded);
      }),
    );
  });

  it("proposal: decode(encode(p)) = p", () => {
    fc.assert(
      fc.property(arbProposal, (proposal) => {
        const decoded = decodeMessage(encodeProposal(proposal));
        expect(decoded).toEqual({ type: "proposal", proposal });
      }),
    );
  });

  it("evidence round-trips", () => {
    const { vals } = testValidators([1]);
    const e = orderEvidence(
      prevote(vals[0]!, 3n, 1, null),
      prevote(vals[0]!, 3n, 1, new Uint8Array(32).fill(9)),
    );
    const decoded = decodeEvidence(encodeEvidence(e));
    expect(recoverVote(CHAIN_ID, decoded.voteA)).toEqual(e.voteA);
    expect(recoverVote(CHAIN_ID, decoded.voteB)).toEqual(e.voteB);
  });

  it("arbitrary bytes never crash the decoder: they decode or throw InvalidMessage", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const c = code(() => decodeMessage(data));
        expect(c === undefined || c === ConsensusErrorCode.InvalidMessage).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects malformed and oversized messages with a typed error", () => {
    const { vals } = testValidators([1]);
    const good = encodeVote(prevote(vals[0]!, 1n, 0, null));
    const cases: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["unknown type byte", Uint8Array.of(0x09, ...good.subarray(1))],
      ["trailing byte", Uint8Array.of(...good, 0)],
      [
        "wrong version",
        Uint8Array.of(MessageType.Vote, ...rlpEncode([2, 1, 1, 0, new Uint8Array(0), new Uint8Array(65)])),
      ],
      [
        "short signature",
        Uint8Array.of(MessageType.Vote, ...rlpEncode([1, 1, 1, 0, new Uint8Array(0), new Uint8Array(64)])),
      ],
      [
        "unknown vote type",
        Uint8Array.of(MessageType.Vote, ...rlpEncode([1, 3, 1, 0, new Uint8Array(0), new Uint8Array(65)])),
      ],
      [
        "31-byte value id",
        Uint8Array.of(MessageType.Vote, ...rlpEncode([1, 1, 1, 0, new Uint8Array(31), new Uint8Array(65)])),
      ],
      [
        "9-byte height",
        Uint8Array.of(
          MessageType.Vote,
          ...rlpEncode([1, 1, new Uint8Array(9).fill(1), 0, new Uint8Array(0), new Uint8Array(65)]),
        ),
      ],
      [
        "leading zero height",
        Uint8Array.of(
          MessageType.Vote,
          ...rlpEncode([1, 1, Uint8Array.of(0, 1), 0, new Uint8Array(0), new Uint8Array(65)]),
        ),
      ],
      ["missing field", Uint8Array.of(MessageType.Vote, ...rlpEncode([1, 1, 1, 0, new Uint8Array(0)]))],
    ];
    for (const [desc, data] of cases)
      expect(
        code(() => decodeMessage(data)),
        desc,
      ).toBe(ConsensusErrorCode.InvalidMessage);
    const big = signedProposal(vals[0]!, 1n, 0, new Uint8Array(2000));
    expect(code(() => decodeMessage(encodeProposal(big), 1000))).toBe(ConsensusErrorCode.InvalidMessage);
    expect(decodeMessage(encodeProposal(big), 4000).type).toBe("proposal");
    const polTooHigh = { ...signedProposal(vals[0]!, 1n, 2, value(1)), polRound: 2 };
    expect(code(() => decodeMessage(encodeProposal(polTooHigh)))).toBe(ConsensusErrorCode.InvalidMessage);
  });

  it("the recovered signer is the key's address; a different chain id recovers someone else", () => {
    const { vals } = testValidators([1]);
    const p = signedProposal(vals[0]!, 4n, 1, value(3));
    const decoded = decodeMessage(encodeProposal(p));
    if (decoded.type !== "proposal") throw new Error("expected a proposal");
    expect(recoverProposal(CHAIN_ID, decoded.proposal).proposer).toEqual(vals[0]!.address);
    expect(recoverProposal("other-chain", decoded.proposal).proposer).not.toEqual(vals[0]!.address);
  });
});
