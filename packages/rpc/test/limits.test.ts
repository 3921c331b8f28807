/** Request ids echoed exactly, and the caps on filters, subscriptions and eth_getProof keys. */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hostAllowed, RpcHandler, type RpcLimit, wsOriginChecker } from "../src/index.ts";
import { TestBackend } from "./helpers.ts";

let handler: RpcHandler;
let backend: TestBackend;
let refused: RpcLimit[];

beforeEach(() => {
  refused = [];
  backend = new TestBackend();
  handler = new RpcHandler({
    backend,
    filterMaxItems: 3,
    batchLimit: 5,
    maxFilters: 6,
    maxFiltersPerConnection: 4,
    maxSubscriptionsPerConnection: 2,
    maxProofKeys: 3,
    onLimit: (l) => refused.push(l),
  });
});
afterEach(() => handler.close());

const idOf = async (idText: string): Promise<string | undefined> => {
  const out = await handler.handle(`{"jsonrpc":"2.0","id":${idText},"method":"eth_chainId"}`);
  return out?.match(/^\{"jsonrpc":"2\.0","id":(.*),"result":/)?.[1];
};

describe("request ids", () => {
  it("come back exactly as sent, however the number is written", async () => {
    for (const id of ["9007199254740993", "1e400", "-0", "1.0", "1.50", "12345678901234567890123", "0", "7"])
      expect(await idOf(id)).toBe(id);
    expect(await idOf('"abc"')).toBe('"abc"');
    expect(await idOf("null")).toBe("null");
    // Spaces around the id are not part of it.
    const spaced = await handler.handle('{"jsonrpc":"2.0", "id" : 9007199254740993 ,"method":"eth_chainId"}');
    expect(spaced).toContain('"id":9007199254740993,');
  });

  it("keep each batch member's own id, not one of a nested object", async () => {
    const out = await handler.handle(
      '[{"jsonrpc":"2.0","id":9007199254740993,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2e308,"method":"eth_getBalance","params":[{"id":1.0},"latest"]}]',
    );
    expect(out).toMatch(
      /^\[\{"jsonrpc":"2\.0","id":9007199254740993,"result":.*\},\{"jsonrpc":"2\.0","id":2e308,"error":/,
    );
  });

  it("any JSON number id is echoed as its own text (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
          fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
          fc
            .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: -400, max: 400 }))
            .map(([m, e]) => `${m}e${e}`),
        ),
        async (id) => {
          expect(await idOf(id)).toBe(id);
        },
      ),
      { numRuns: 200, seed: 1414 },
    );
  });
});

describe("caps", () => {
  it("filters: per connection, then in all; uninstalling frees a slot", async () => {
    const a = {};
    const b = {};
    const newFilter = (conn: object) =>
      handler
        .handle('{"jsonrpc":"2.0","id":1,"method":"eth_newBlockFilter","params":[]}', conn)
        .then(
          (o) => JSON.parse(o ?? "null") as { result?: string; error?: { code: number; message: string } },
        );
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await newFilter(a)).result ?? "");
    expect(await newFilter(a)).toMatchObject({
      error: { code: -32005, message: "too many filters on this connection (limit 4)" },
    });
    expect((await newFilter(b)).result).toMatch(/^0x/);
    expect((await newFilter(b)).result).toMatch(/^0x/);
    expect(await newFilter(b)).toMatchObject({
      error: { code: -32005, message: "too many filters (limit 6)" },
    });
    await handler.handle(`{"jsonrpc":"2.0","id":1,"method":"eth_uninstallFilter","params":["${ids[0]}"]}`, a);
    expect((await newFilter(a)).result).toMatch(/^0x/);
    expect(refused).toEqual(["filters_per_connection", "filters"]);
    expect(handler.stats().filters).toBe(6);
  });

  it("an unpolled filter keeps only its newest changes", async () => {
    const id = JSON.parse(
      (await handler.handle('{"jsonrpc":"2.0","id":1,"method":"eth_newPendingTransactionFilter"}')) ?? "",
    ).result as string;
    const hashes = Array.from({ length: 10 }, (_, i) => Uint8Array.from({ length: 32 }, () => i));
    for (const h of hashes) backend.emitPending(h);
    const out = JSON.parse(
      (await handler.handle(`{"jsonrpc":"2.0","id":1,"method":"eth_getFilterChanges","params":["${id}"]}`)) ??
        "",
    );
    expect(out.result).toEqual(hashes.slice(7).map((h) => `0x${Buffer.from(h).toString("hex")}`));
  });

  it("subscriptions per WebSocket connection", async () => {
    const sent: string[] = [];
    const session = handler.openSession((m) => sent.push(m));
    for (let i = 0; i < 3; i++)
      await session.handle(`{"jsonrpc":"2.0","id":${i},"method":"eth_subscribe","params":["newHeads"]}`);
    expect(sent[2]).toBe(
      '{"jsonrpc":"2.0","id":2,"error":{"code":-32005,"message":"too many subscriptions on this connection (limit 2)"}}',
    );
    expect(handler.stats().subscriptions).toBe(2);
    session.close();
    expect(handler.stats().subscriptions).toBe(0);
  });

  it("eth_getProof storage keys, before any key is parsed (geth's message)", async () => {
    const keys = Array.from({ length: 4 }, () => "not even hex");
    const out = await handler.handle(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_getProof",
        params: [`0x${"11".repeat(20)}`, keys, "latest"],
      }),
    );
    expect(JSON.parse(out ?? "")).toEqual({
      jsonrpc: "2.0",
      id: 1,
      error: { code: -32602, message: "too many storage keys requested (max 3, got 4)" },
    });
  });
});

describe("who may talk to the node (geth's rules)", () => {
  const localhostOnly = new Set(["localhost"]);
  it.each([
    ["localhost:8545", true],
    ["LOCALHOST", true],
    ["127.0.0.1:8545", true],
    ["10.1.2.3", true],
    ["[::1]:8545", true],
    ["::1", true],
    [undefined, true],
    ["", true],
    ["evil.example", false],
    ["evil.example:8545", false],
    ["localhost.evil.example", false],
    ["127.0.0.1.nip.io", false],
  ] as const)("Host %s → served %s with the default vhosts", (host, served) => {
    expect(hostAllowed(host, localhostOnly)).toBe(served);
  });

  it("vhosts '*' serves any name; a listed name is compared without its port", () => {
    expect(hostAllowed("anything.example:1", new Set(["*"]))).toBe(true);
    expect(hostAllowed("node.example:8545", new Set(["node.example"]))).toBe(true);
    expect(hostAllowed("localhost:8545", new Set(["node.example"]))).toBe(false);
  });

  it.each([
    [[], "http://localhost:3000", true],
    [[], "http://localhost", true],
    [[], "https://localhost", false],
    [[], "http://127.0.0.1:3000", false],
    [[], "http://evil.example", false],
    [[], "null", false],
    [[], undefined, true],
    [["*"], "http://evil.example", true],
    [["https://app.example"], "https://app.example:8443", true],
    // Default ports are normalised: an explicit :443 is the same origin as none.
    [["https://app.example:443"], "https://app.example", true],
    [["app.example"], "http://app.example:1234", true],
    [["app.example"], "http://other.example", false],
  ] as const)("ws.origins %j, Origin %s → accepted %s", (allowed, origin, accepted) => {
    expect(wsOriginChecker(allowed)(origin)).toBe(accepted);
  });
});
