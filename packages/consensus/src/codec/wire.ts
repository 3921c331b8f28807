import { bytesToBigInt, type RlpDecoded, rlpDecode, rlpEncode } from "@meridian/primitives";
import { SIGNATURE_BYTES } from "../crypto.ts";
import { ConsensusError, ConsensusErrorCode } from "../errors.ts";
import type { DuplicateVoteEvidence } from "../evidence/evidence.ts";
import { type Proposal, type Vote, VoteType } from "../types.ts";

/**
 * Consensus wire messages: one type byte, then an RLP list whose first item is the format
 * version. Signers are not on the wire: they are recovered from the signatures.
 *
 *   0x01 proposal: [version, height, round, polRound + 1, valueId, value, signature]
 *   0x02 vote:     [version, voteType, height, round, valueId or empty for nil, signature]
 *   0x03 evidence: [version, voteA, voteB], each vote as the vote message's list
 */
export const MessageType = { Proposal: 0x01, Vote: 0x02, Evidence: 0x03 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const WIRE_VERSION = 1;
/** Default bound on a proposal's value (the block); decoders reject anything larger. */
export const DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024;
const MAX_ROUND = 0x7fff_ffff;
const EMPTY = new Uint8Array(0);

/** A proposal as it arrives: signed, signer not yet recovered. */
export type UnverifiedProposal = Proposal & { value: Uint8Array; signature: Uint8Array };
/** A vote as it arrives: signed, signer not yet recovered. */
export type UnverifiedVote = Vote & { signature: Uint8Array };

export type WireMessage =
  | { type: "proposal"; proposal: UnverifiedProposal }
  | { type: "vote"; vote: UnverifiedVote };

function bad(details: string, cause?: unknown): never {
  throw new ConsensusError("invalid consensus message", {
    code: ConsensusErrorCode.InvalidMessage,
    details,
    cause,
  });
}

function voteFields(vote: UnverifiedVote): (Uint8Array | bigint | number)[] {
  return [WIRE_VERSION, vote.type, vote.height, vote.round, vote.valueId ?? EMPTY, vote.signature];
}

export function encodeProposal(p: UnverifiedProposal): Uint8Array {
  const body = rlpEncode([WIRE_VERSION, p.height, p.round, p.polRound + 1, p.valueId, p.value, p.signature]);
  return withType(MessageType.Proposal, body);
}

export function encodeVote(vote: UnverifiedVote): Uint8Array {
  return withType(MessageType.Vote, rlpEncode(voteFields(vote)));
}

export function encodeEvidence(evidence: DuplicateVoteEvidence): Uint8Array {
  const body = rlpEncode([WIRE_VERSION, voteFields(evidence.voteA), voteFields(evidence.voteB)]);
  return withType(MessageType.Evidence, body);
}

function withType(type: MessageType, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

/** Decodes a proposal or vote message; throws InvalidMessage for anything malformed or oversized. */
export function decodeMessage(bytes: Uint8Array, maxValueBytes = DEFAULT_MAX_VALUE_BYTES): WireMessage {
  const items = decodeBody(bytes, maxValueBytes);
  switch (bytes[0]) {
    case MessageType.Proposal:
      return { type: "proposal", proposal: proposalFromItems(items, maxValueBytes) };
    case MessageType.Vote:
      return { type: "vote", vote: voteFromItems(items) };
    default:
      return bad(`unknown message type ${bytes[0]}`);
  }
}

/** Decodes evidence as it is carried in a block; the signers are filled in by `recoverEvidence`. */
export function decodeEvidence(bytes: Uint8Array): { voteA: UnverifiedVote; voteB: UnverifiedVote } {
  if (bytes[0] !== MessageType.Evidence) bad(`expected evidence, got message type ${bytes[0]}`);
  const items = decodeBody(bytes, 1024);
  if (items.length !== 3) bad(`evidence has ${items.length} fields, expected 3`);
  return { voteA: voteFromItems(list(items[1])), voteB: voteFromItems(list(items[2])) };
}

function decodeBody(bytes: Uint8Array, maxValueBytes: number): RlpDecoded[] {
  if (bytes.length < 2) bad("message shorter than 2 bytes");
  // The value is the only large field; the rest is under 200 bytes.
  const limit = maxValueBytes + 512;
  if (bytes.length > limit) bad(`message of ${bytes.length} bytes exceeds ${limit}`);
  let decoded: RlpDecoded;
  try {
    decoded = rlpDecode(bytes.subarray(1), limit);
  } catch (cause) {
    return bad("malformed rlp", cause);
  }
  const items = list(decoded);
  const version = uint(items[0], 1, "version");
  if (version !== BigInt(WIRE_VERSION)) bad(`unsupported version ${version}`);
  return items;
}

function proposalFromItems(items: RlpDecoded[], maxValueBytes: number): UnverifiedProposal {
  if (items.length !== 7) bad(`proposal has ${items.length} fields, expected 7`);
  const value = bytes(items[5], "value");
  if (value.length > maxValueBytes) bad(`value of ${value.length} bytes exceeds ${maxValueBytes}`);
  const polRoundPlusOne = Number(uint(items[3], 4, "polRound"));
  const round = Number(uint(items[2], 4, "round"));
  if (round > MAX_ROUND || polRoundPlusOne > MAX_ROUND) bad("round out of range");
  if (polRoundPlusOne - 1 >= round) bad("polRound must be below round");
  return {
    height: uint(items[1], 8, "height"),
    round,
    polRound: polRoundPlusOne - 1,
    valueId: fixed(items[4], 32, "valueId"),
    value: value.slice(),
    signature: fixed(items[6], SIGNATURE_BYTES, "signature"),
  };
}

function voteFromItems(items: RlpDecoded[]): UnverifiedVote {
  if (items.length !== 6) bad(`vote has ${items.length} fields, expected 6`);
  const type = Number(uint(items[1], 1, "vote type"));
  if (type !== VoteType.Prevote && type !== VoteType.Precommit) bad(`unknown vote type ${type}`);
  const round = Number(uint(items[3], 4, "round"));
  if (round > MAX_ROUND) bad("round out of range");
  const valueId = bytes(items[4], "valueId");
  if (valueId.length !== 0 && valueId.length !== 32) bad(`valueId of ${valueId.length} bytes`);
  return {
    type: type as VoteType,
    height: uint(items[2], 8, "height"),
    round,
    valueId: valueId.length === 0 ? null : valueId.slice(),
    signature: fixed(items[5], SIGNATURE_BYTES, "signature"),
  };
}

function list(item: RlpDecoded | undefined): RlpDecoded[] {
  if (!Array.isArray(item)) return bad("expected a list");
  return item;
}

function bytes(item: RlpDecoded | undefined, field: string): Uint8Array {
  if (!(item instanceof Uint8Array)) return bad(`${field} must be a byte string`);
  return item;
}

function fixed(item: RlpDecoded | undefined, length: number, field: string): Uint8Array {
  const b = bytes(item, field);
  if (b.length !== length) bad(`${field} must be ${length} bytes, got ${b.length}`);
  return b.slice();
}

/** A canonical unsigned integer of at most `maxBytes` bytes (no leading zero byte). */
function uint(item: RlpDecoded | undefined, maxBytes: number, field: string): bigint {
  const b = bytes(item, field);
  if (b.length > maxBytes) bad(`${field} longer than ${maxBytes} bytes`);
  if (b.length > 0 && b[0] === 0) bad(`${field} has a leading zero byte`);
  return bytesToBigInt(b);
}
