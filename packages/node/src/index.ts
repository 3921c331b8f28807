export * from "@meridian/keys";
export * from "./backend.ts";
export * from "./config.ts";
export * from "./logger.ts";
export * from "./metrics.ts";
export * from "./node.ts";
export * from "./validator.ts";
