import { describe, expect, it } from "vitest";
import { effectiveTarget, policyProblems, ScheduledAction, scheduledInForce, TargetTrackingPolicy, trackedTarget, trackingInForce } from "./provision-policy.js";

const at = (iso: string) => Date.parse(iso);
const action = (a: Record<string, unknown>) => ScheduledAction.parse(a);
const policy = (p: Record<string, unknown>) => TargetTrackingPolicy.parse({ metricType: "ProvisionedConcurrencyUtilization", metricTarget: 0.5, minCapacity: 1, maxCapacity: 10, ...p });

describe("scheduled actions", () => {
  const morning = action({ name: "morning", target: 5, scheduleExpression: "cron(0 0 8 * * *)" });
  const night = action({ name: "night", target: 1, scheduleExpression: "cron(0 0 20 * * *)" });

  it("put the most recently fired action in force", () => {
    expect(scheduledInForce([morning, night], at("2026-12-01T09:00:00Z"))).toMatchObject({ name: "morning", target: 5 });
    expect(scheduledInForce([morning, night], at("2026-12-01T21:00:00Z"))).toMatchObject({ name: "night", target: 1 });
    expect(scheduledInForce([morning, night], at("2026-12-02T07:59:59Z"))).toMatchObject({ name: "night" });
    expect(scheduledInForce([morning, night], at("2026-12-02T08:00:00Z"))).toMatchObject({ name: "morning", firedAt: at("2026-12-02T08:00:00Z") });
  });

  it("follow their time zone and window, and at() fires once", () => {
    const shanghai = action({ name: "sh", target: 3, scheduleExpression: "cron(0 0 8 * * *)", timeZone: "Asia/Shanghai" });
    expect(scheduledInForce([shanghai], at("2026-12-01T00:30:00Z"))?.firedAt).toBe(at("2026-12-01T00:00:00Z"));
    const windowed = action({ name: "w", target: 2, scheduleExpression: "cron(0 0 * * * *)", startTime: "2026-12-01T10:30:00Z", endTime: "2026-12-01T12:30:00Z" });
    expect(scheduledInForce([windowed], at("2026-12-01T10:45:00Z"))).toBeUndefined();
    expect(scheduledInForce([windowed], at("2026-12-01T11:10:00Z"))?.firedAt).toBe(at("2026-12-01T11:00:00Z"));
    expect(scheduledInForce([windowed], at("2026-12-01T20:00:00Z"))?.firedAt).toBe(at("2026-12-01T12:00:00Z"));
    const once = action({ name: "once", target: 7, scheduleExpression: "at(2026-12-01T10:00:00Z)" });
    expect(scheduledInForce([once], at("2026-12-01T09:59:59Z"))).toBeUndefined();
    expect(scheduledInForce([once], at("2026-12-03T00:00:00Z"))).toMatchObject({ target: 7 });
  });

  it("refuse what cannot be acted on", () => {
    expect(ScheduledAction.safeParse({ name: "x", target: 1, scheduleExpression: "cron(0 8 * * *)" }).error?.message).toMatch(/six fields/);
    expect(ScheduledAction.safeParse({ name: "x", target: 1, scheduleExpression: "every day" }).error?.message).toMatch(/cron\(|at\(/);
    expect(ScheduledAction.safeParse({ name: "x", target: 1, scheduleExpression: "cron(0 0 99 * * *)" }).error?.message).toMatch(/does not parse/);
    expect(ScheduledAction.safeParse({ name: "x", target: 1, scheduleExpression: "at(2026-12-01T10:00:00Z)", timeZone: "Mars/Olympus" }).error?.message).toMatch(/IANA/);
    expect(ScheduledAction.safeParse({ name: "x", target: 1, scheduleExpression: "at(2026-12-01T10:00:00Z)", startTime: "2026-12-02T00:00:00Z", endTime: "2026-12-01T00:00:00Z" }).error?.message).toMatch(/after startTime/);
    const twice = action({ name: "a", target: 1, scheduleExpression: "at(2026-12-01T10:00:00Z)" });
    expect(policyProblems([twice, { ...twice }], [], 100)).toEqual(["the name 'a' is used twice", "scheduled actions 'a' and 'a' fire at the same time"]);
    expect(policyProblems([action({ name: "big", target: 500, scheduleExpression: "at(2026-12-01T10:00:00Z)" })], [], 100)).toEqual(["scheduled action 'big': target 500 is above the function's maximumInstanceCount of 100"]);
  });
});

describe("target tracking", () => {
  it("follows utilization between its bounds, and keeps its last decision when nothing is measured", () => {
    const p = policy({ name: "t", minCapacity: 2, maxCapacity: 6 });
    expect(trackedTarget(p, { utilization: 1, instances: 2 }, 2)).toBe(4);
    expect(trackedTarget(p, { utilization: 1, instances: 4 }, 4)).toBe(6);
    expect(trackedTarget(p, { utilization: 0.1, instances: 6 }, 6)).toBe(2);
    expect(trackedTarget(p, { utilization: 0.5, instances: 4 }, 4)).toBe(4);
    expect(trackedTarget(p, undefined, 5)).toBe(5);
    expect(trackedTarget(p, undefined, undefined)).toBe(2);
    expect(trackedTarget(p, undefined, 60)).toBe(6);
  });

  it("is in force within its window, and never below the scheduled target", () => {
    const p = policy({ name: "day", startTime: "2026-12-01T08:00:00Z", endTime: "2026-12-01T20:00:00Z", minCapacity: 1, maxCapacity: 4 });
    const floor = action({ name: "floor", target: 3, scheduleExpression: "at(2026-12-01T07:00:00Z)" });
    expect(trackingInForce([p], at("2026-12-01T07:59:00Z"))).toBeUndefined();
    expect(effectiveTarget(1, [floor], [p], at("2026-12-01T07:59:00Z"), undefined)).toBe(3);
    expect(effectiveTarget(1, [floor], [p], at("2026-12-01T09:00:00Z"), 1)).toBe(3);
    expect(effectiveTarget(1, [floor], [p], at("2026-12-01T09:00:00Z"), 4)).toBe(4);
    expect(effectiveTarget(9, [], [], at("2026-12-01T09:00:00Z"), undefined)).toBe(9);
    const other = policy({ name: "overlap", startTime: "2026-12-01T19:00:00Z", endTime: "2026-12-01T22:00:00Z" });
    expect(policyProblems([], [p, other], 100)).toEqual(["target tracking policies 'day' and 'overlap' overlap in time"]);
    expect(TargetTrackingPolicy.safeParse({ name: "x", metricType: "CPU", metricTarget: 0.5, minCapacity: 1, maxCapacity: 2 }).success).toBe(false);
    expect(TargetTrackingPolicy.safeParse({ name: "x", metricType: "ProvisionedConcurrencyUtilization", metricTarget: 0.5, minCapacity: 3, maxCapacity: 2 }).error?.message).toMatch(/above maxCapacity/);
  });
});
