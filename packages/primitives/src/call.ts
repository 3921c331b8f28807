/**
 * A message call as eth_call, eth_estimateGas and eth_createAccessList describe it,
 * after parsing. Absent fields take the node's defaults (zero address, gas cap,
 * the sender's nonce, no value, no data).
 */
export type CallParams = {
  from?: Uint8Array;
  /** null or absent: contract creation. */
  to?: Uint8Array | null;
  gas?: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  value?: bigint;
  data?: Uint8Array;
  nonce?: bigint;
  accessList?: { address: Uint8Array; storageKeys: Uint8Array[] }[];
  /** EIP-7702 authorizations: present (even empty) makes the call a type-4 transaction. */
  authorizationList?: CallAuthorization[];
  /** EIP-4844 blob hashes: present makes the call a type-3 transaction. */
  blobVersionedHashes?: Uint8Array[];
  maxFeePerBlobGas?: bigint;
};

/** One signed EIP-7702 authorization tuple, as an eth_call request carries it. */
export type CallAuthorization = {
  chainId: bigint;
  address: Uint8Array;
  nonce: bigint;
  yParity: bigint;
  r: bigint;
  s: bigint;
};
