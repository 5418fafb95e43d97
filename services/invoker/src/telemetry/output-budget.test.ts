import { describe, expect, it } from "vitest";
import { OutputBudget } from "./output-budget.js";

describe("OutputBudget", () => {
  /** A write of `bytes` that costs `cost` once stored, when admitted. */
  const write = (budget: OutputBudget, bytes: number, now: number, cost = bytes) => {
    if (!budget.admit(bytes, now)) return false;
    budget.spend(cost);
    return true;
  };

  it("lets a burst through, then only the rate, and counts what it refuses", () => {
    const budget = new OutputBudget({ bytesPerSecond: 1_000, burstBytes: 5_000 }, 0);
    expect(write(budget, 5_000, 0)).toBe(true);
    expect(write(budget, 1, 0)).toBe(false);
    expect(write(budget, 500, 500)).toBe(true); // half a second refills 500 bytes
    expect(write(budget, 600, 500)).toBe(false);
    expect(budget.dropped).toBe(601);
  });

  it("charges what a write cost when stored, so the bucket dips below empty by one write at most", () => {
    const budget = new OutputBudget({ bytesPerSecond: 1_000, burstBytes: 1_000 }, 0);
    expect(write(budget, 100, 0, 4_000)).toBe(true); // short lines: stored, they cost far more
    expect(write(budget, 1, 1_000)).toBe(false); // a second refills 1,000 of the 3,000 owed
    expect(write(budget, 1, 3_001)).toBe(true);
  });

  it("never holds more than its burst, however long it was idle", () => {
    const budget = new OutputBudget({ bytesPerSecond: 1_000, burstBytes: 2_000 }, 0);
    expect(write(budget, 2_000, 3_600_000)).toBe(true);
    expect(write(budget, 1, 3_600_000)).toBe(false);
  });

  it("says what it refused at most once a second, then starts counting again", () => {
    const budget = new OutputBudget({ bytesPerSecond: 1, burstBytes: 1 }, 0);
    write(budget, 1_000, 0);
    write(budget, 10, 1_000);
    expect(budget.noteDue(1_000)).toBe(10);
    write(budget, 10, 1_100);
    expect(budget.noteDue(1_100)).toBe(0); // too soon
    write(budget, 5, 2_000);
    expect(budget.noteDue(2_000)).toBe(15);
    expect(budget.noteDue(5_000)).toBe(0); // nothing refused since
  });

  it("is idle once full again with nothing to say", () => {
    const budget = new OutputBudget({ bytesPerSecond: 100, burstBytes: 100 }, 0);
    write(budget, 100, 0);
    expect(budget.idle(500)).toBe(false);
    expect(budget.idle(1_000)).toBe(true);
  });
});
