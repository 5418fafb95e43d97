import { describe, expect, it } from "vitest";
import { NodeBudget } from "./budget.js";

describe("NodeBudget", () => {
  it("counts instances and waiting sandboxes against the same memory and process limits", () => {
    const budget = new NodeBudget(512, 3);
    expect(budget.holdWaiting(128)).toBe(true);
    expect(budget.holdWaiting(128)).toBe(true);
    expect(budget.room(256)).toBe(true);
    budget.addInstance(256);
    // 512 MB are taken: no sandbox may wait, no instance start, until something gives room back.
    expect(budget.holdWaiting(128)).toBe(false);
    expect(budget.room(1)).toBe(false);
    budget.releaseWaiting(128);
    expect(budget.room(128)).toBe(true);
    expect(budget.instances).toEqual({ count: 1, memoryMb: 256 });
  });

  it("limits the number of processes whatever their memory", () => {
    const budget = new NodeBudget(10_000, 2);
    budget.addInstance(128);
    expect(budget.holdWaiting(128)).toBe(true);
    expect(budget.room(128)).toBe(false);
    budget.removeInstance(128);
    expect(budget.room(128)).toBe(true);
    expect(budget.instances).toEqual({ count: 0, memoryMb: 0 });
  });
});
