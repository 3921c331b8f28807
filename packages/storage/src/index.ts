export type { Head, OpenOptions, StorageErrorCode } from "./database.ts";
export { ChainDatabase, SCHEMA_VERSION, StorageError, WriteBatch } from "./database.ts";
export type { DatadirLock } from "./datadir-lock.ts";
export { acquireDatadirLock, DATADIR_LOCK_FILE } from "./datadir-lock.ts";
export { numberKey, Prefix, readNumberKey } from "./keys.ts";
