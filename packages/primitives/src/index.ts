export type {
  AppInfo,
  Application,
  CommitInfo,
  CommitSignature,
  DecidedCommit,
  DuplicateVoteMisbehavior,
  FinalizeBlockRequest,
  FinalizeBlockResult,
  FinalizedBlock,
  PrepareProposalRequest,
  ProcessProposalRequest,
  ProcessProposalResult,
  ProposalBytes,
  SignedVoteData,
  ValidatorUpdate,
} from "./application.ts";
export { cappedVotingPower, MAX_TOTAL_VOTING_POWER } from "./application.ts";
export type { Hex } from "./bytes.ts";
export {
  ByteArena,
  bigIntToBytes,
  bytesToBigInt,
  bytesToHex,
  concatBytes,
  equalBytes,
  fromQuantity,
  hexKey,
  hexToBytes,
  isHex,
  padBytes,
  toQuantity,
  utf8ToBytes,
} from "./bytes.ts";
export type { CallAuthorization, CallParams } from "./call.ts";
export type { ChainParams, GenesisValidator, RoundTimeout, RoundTimeoutStep } from "./chain-params.ts";
export { GenesisError, genesisFieldParsers, parseChainParams } from "./chain-params.ts";
export type { MeridianErrorOptions } from "./errors.ts";
export { DecodeError, MeridianError } from "./errors.ts";
export { KECCAK256_EMPTY, keccak256 } from "./hash.ts";
export type { LogContext, Logger } from "./logger.ts";
export { silentLogger } from "./logger.ts";
export type { RlpDecoded, RlpInput } from "./rlp.ts";
export {
  expectBytes,
  expectList,
  MAX_RLP_BYTES,
  rlpDecode,
  rlpEncode,
  rlpEncodeInto,
  rlpListBounds,
} from "./rlp.ts";
export {
  privateKeyToAddress,
  publicKeyToAddress,
  randomPrivateKey,
  recoverPublicKey,
  SECP256K1_HALF_ORDER,
  SIGNATURE_BYTES,
  secpBackend,
  signDigestSecp256k1,
} from "./secp256k1.ts";
export type { RawTrieNode, TrieItem, TrieNode, TrieNodeWriter, TrieRef } from "./trie-root.ts";
export {
  buildTrieNode,
  compareNibbles,
  decodeHexPrefix,
  EMPTY_TRIE_ROOT,
  encodeTrieNode,
  hexPrefix,
  isTrieNode,
  listTrieLeafRef,
  OrderedTrie,
  orderedTrieRoot,
  sortedTrieItems,
  toNibbles,
  trieRoot,
  trieRootOf,
} from "./trie-root.ts";
