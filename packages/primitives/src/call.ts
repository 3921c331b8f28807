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
};
