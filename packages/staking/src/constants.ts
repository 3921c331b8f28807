import type { Address } from "viem";

/** Where the genesis deploys the staking contract. */
export const STAKING_ADDRESS: Address = "0x0000000000000000000000000000000000001000";

/** The sender of node system calls (the one EIP-4788/2935 system calls use); the contract's only privileged caller. */
export const SYSTEM_ADDRESS: Address = "0xfffffffffffffffffffffffffffffffffffffffe";
