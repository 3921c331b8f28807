export type { Head, OpenOptions, StorageErrorCode } from "./database.ts";
export { ChainDatabase, SCHEMA_VERSION, StorageError, WriteBatch } from "./database.ts";
export { numberKey, Prefix, readNumberKey } from "./keys.ts";
