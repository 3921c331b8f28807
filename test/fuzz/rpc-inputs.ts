/**
 * JSON-RPC bodies for the handler campaign: known methods with parameters drawn from what the
 * parsers look for (hex quantities and data of every length, block tags, call and filter objects
 * with known and unknown keys, nesting) plus the odd envelope (ids, batches, notifications,
 * non-JSON text).
 */
import fc from "fast-check";

const hex = fc.uint8Array({ maxLength: 40 }).map((b) => `0x${Buffer.from(b).toString("hex")}`);
const oddHex = fc.oneof(
  fc.constantFrom(
    "0x",
    "0x0",
    "0x00",
    "0x01",
    "0xg1",
    "0X10",
    "1",
    "-0x1",
    `0x${"f".repeat(65)}`,
    `0x${"0".repeat(64)}`,
  ),
  fc.stringMatching(/^0x[0-9a-fA-F]{0,70}$/),
);
const tag = fc.constantFrom("latest", "pending", "safe", "finalized", "earliest", "Latest", "");
const sized = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => `0x${Buffer.from(b).toString("hex")}`);
const quantity = fc.bigInt({ min: 0n, max: 2n ** 80n }).map((n) => `0x${n.toString(16)}`);
const scalar: fc.Arbitrary<unknown> = fc.oneof(
  // Well-formed values first, so that calls get past parsing to the backend and formatting.
  { weight: 3, arbitrary: sized(20) },
  { weight: 3, arbitrary: sized(32) },
  { weight: 3, arbitrary: quantity },
  { weight: 2, arbitrary: tag },
  hex,
  oddHex,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
);
const KEYS = [
  "from",
  "to",
  "gas",
  "gasPrice",
  "maxFeePerGas",
  "maxPriorityFeePerGas",
  "value",
  "data",
  "input",
  "nonce",
  "type",
  "accessList",
  "chainId",
  "blobVersionedHashes",
  "authorizationList",
  "fromBlock",
  "toBlock",
  "address",
  "topics",
  "blockHash",
  "blockNumber",
  "requireCanonical",
  "tracer",
  "balance",
  "code",
  "state",
  "stateDiff",
  "disableStorage",
];
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), tie("v"), { maxKeys: 5 }),
  ),
})).v;

/** Call, filter and override objects: known keys with plausible values, now and then an odd one. */
const knownObject = fc.dictionary(
  fc.constantFrom(...KEYS),
  fc.oneof(
    { weight: 5, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
    { weight: 1, arbitrary: value },
  ),
  { maxKeys: 5 },
);

/** One positional parameter: mostly a plausible scalar or object, so calls reach the backend. */
const param = fc.oneof(
  { weight: 6, arbitrary: scalar },
  { weight: 3, arbitrary: knownObject },
  { weight: 1, arbitrary: value },
);

const id = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constant(null),
  fc.constantFrom("1e400", "-0", "1.5"),
);

export function jsonRpcRequestArb(methods: readonly string[]): fc.Arbitrary<string> {
  const call = fc
    .record(
      {
        jsonrpc: fc.oneof(
          { weight: 9, arbitrary: fc.constant("2.0") },
          { weight: 1, arbitrary: fc.constant("1.0") },
        ),
        id,
        method: fc.oneof(
          { weight: 9, arbitrary: fc.constantFrom(...methods) },
          { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
        ),
        params: fc.oneof(
          { weight: 9, arbitrary: fc.array(param, { maxLength: 3 }) },
          { weight: 1, arbitrary: value },
        ),
      },
      { requiredKeys: ["jsonrpc", "method"] },
    )
    .map((r) => {
      const { id: rid, ...rest } = r;
      const text = JSON.stringify(rest);
      // Ids are spliced in as raw JSON text so that 1e400 and friends reach the parser.
      return rid === undefined
        ? text
        : `{"id":${typeof rid === "string" && /^[-0-9.e]+$/.test(rid) ? rid : JSON.stringify(rid)},${text.slice(1)}`;
    });
  return fc.oneof(
    { weight: 8, arbitrary: call },
    { weight: 1, arbitrary: fc.array(call, { maxLength: 4 }).map((cs) => `[${cs.join(",")}]`) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.json()) },
  );
}
