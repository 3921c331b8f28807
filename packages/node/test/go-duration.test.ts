import { describe, expect, it } from "vitest";
import { goDuration } from "../src/backend.ts";

describe("goDuration (geth's 'execution aborted (timeout = …)' wording)", () => {
  it("prints durations as Go's time.Duration.String does", () => {
    expect(goDuration(5000)).toBe("5s");
    expect(goDuration(2000)).toBe("2s");
    expect(goDuration(1500)).toBe("1.5s");
    expect(goDuration(500)).toBe("500ms");
    expect(goDuration(0)).toBe("0s");
    expect(goDuration(90_000)).toBe("1m30s");
    expect(goDuration(60_000)).toBe("1m0s");
    expect(goDuration(3_600_000)).toBe("1h0m0s");
    expect(goDuration(3_725_500)).toBe("1h2m5.5s");
  });
});
