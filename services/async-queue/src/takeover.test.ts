import { describe, expect, it } from "vitest";
import { takeoverTimings } from "./takeover.js";

describe("takeoverTimings", () => {
  it.each([500, 1_500, 10_000, 30_000, 600_000])("fits a takeover within %i ms", (takeoverMs) => {
    const t = takeoverTimings(takeoverMs);
    // Stalled checks run up to two intervals apart: a dead worker's job is marked by one made after
    // its last renewal and moved by the first one after its lock lapsed.
    expect(t.lockDuration).toBeGreaterThanOrEqual(2 * t.stalledInterval);
    expect(t.lockDuration + 2 * t.stalledInterval).toBeLessThan(takeoverMs);
    // A live worker's lock never has less than half the bound left (BullMQ renews every lockRenewTime/2 to lockRenewTime).
    expect(t.lockDuration - t.lockRenewTime).toBeGreaterThanOrEqual(takeoverMs / 2 - 5);
    expect(t.stalledInterval).toBeGreaterThan(0);
  });

  it("splits the default 30 s bound: 21 s lock, renewed every 3–6 s, checked every 3 s", () => {
    expect(takeoverTimings(30_000)).toEqual({ lockDuration: 21_000, lockRenewTime: 6_000, stalledInterval: 3_000 });
  });
});
