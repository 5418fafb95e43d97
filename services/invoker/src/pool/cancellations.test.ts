import { describe, expect, it } from "vitest";
import { Cancellations } from "./cancellations.js";

describe("Cancellations", () => {
  it("remembers a stopped request for a minute, then forgets it", () => {
    let now = 0;
    const cancelled = new Cancellations(() => now);
    cancelled.add("r1");
    expect(cancelled.has("r1")).toBe(true);
    expect(cancelled.has("r2")).toBe(false);
    now = 60_001;
    expect(cancelled.has("r1")).toBe(false);
  });

  it("stays bounded: beyond ten thousand live stops, new ones are not remembered", () => {
    const cancelled = new Cancellations(() => 0);
    for (let i = 0; i < 10_000; i++) cancelled.add(`r${i}`);
    cancelled.add("late");
    expect(cancelled.has("r9999")).toBe(true);
    expect(cancelled.has("late")).toBe(false);
  });
});
