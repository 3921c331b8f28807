export * from "./chain.ts";
export type { ChainReader } from "./reader.ts";
