import cronParser from "cron-parser";
import { z } from "zod";

/**
 * FC's provisioned-instance policies. A scheduled action sets the target at the times of its
 * `scheduleExpression` (`cron(<six fields, with seconds>)` or `at(<ISO time>)`, in `timeZone`, UTC by
 * default) while within `startTime`–`endTime`; the most recent one fired is in force. A target
 * tracking policy, while within its window, moves the target between `minCapacity` and `maxCapacity`
 * so that `ProvisionedConcurrencyUtilization` (busy slots of the provisioned instances over all of
 * their slots) stays near `metricTarget` — never below what a scheduled action set.
 */
const isoTime = z.string().refine((v) => !Number.isNaN(Date.parse(v)), { error: "must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z" });
const timeZone = z.string().refine(validTimeZone, { error: "must be an IANA time zone, e.g. Asia/Shanghai" });
const name = z.string().min(1).max(128);

export const ScheduledAction = z
  .object({
    name,
    startTime: isoTime.optional(),
    endTime: isoTime.optional(),
    target: z.number().int().min(0),
    scheduleExpression: z.string().max(256),
    timeZone: timeZone.optional(),
  })
  .superRefine((a, ctx) => {
    const problem = expressionProblem(a.scheduleExpression, a.timeZone);
    if (problem) ctx.addIssue({ code: "custom", path: ["scheduleExpression"], message: problem });
    windowIssue(a, ctx);
  });
export type ScheduledAction = z.output<typeof ScheduledAction>;

export const TargetTrackingPolicy = z
  .object({
    name,
    startTime: isoTime.optional(),
    endTime: isoTime.optional(),
    metricType: z.literal("ProvisionedConcurrencyUtilization", { error: "must be ProvisionedConcurrencyUtilization" }),
    metricTarget: z.number().gt(0).max(1),
    minCapacity: z.number().int().min(0),
    maxCapacity: z.number().int().min(0),
    timeZone: timeZone.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.minCapacity > p.maxCapacity) ctx.addIssue({ code: "custom", path: ["minCapacity"], message: `${p.minCapacity} is above maxCapacity ${p.maxCapacity}` });
    windowIssue(p, ctx);
  });
export type TargetTrackingPolicy = z.output<typeof TargetTrackingPolicy>;

/** What a set of policies may not be, beyond each one's own shape: names twice, windows that overlap, targets above `max`. */
export function policyProblems(actions: readonly ScheduledAction[], policies: readonly TargetTrackingPolicy[], max: number): string[] {
  const problems: string[] = [];
  for (const list of [actions, policies]) {
    const seen = new Set<string>();
    for (const { name: n } of list) {
      if (seen.has(n)) problems.push(`the name '${n}' is used twice`);
      seen.add(n);
    }
  }
  for (const a of actions) if (a.target > max) problems.push(`scheduled action '${a.name}': target ${a.target} is above the function's maximumInstanceCount of ${max}`);
  for (const p of policies) if (p.maxCapacity > max) problems.push(`target tracking policy '${p.name}': maxCapacity ${p.maxCapacity} is above the function's maximumInstanceCount of ${max}`);
  const ats = new Map<number, string>();
  for (const a of actions) {
    const at = atTime(a.scheduleExpression);
    if (at === undefined) continue;
    const other = ats.get(at);
    if (other) problems.push(`scheduled actions '${other}' and '${a.name}' fire at the same time`);
    ats.set(at, a.name);
  }
  for (let i = 0; i < policies.length; i++) {
    for (let j = i + 1; j < policies.length; j++) {
      const [p, q] = [policies[i] as TargetTrackingPolicy, policies[j] as TargetTrackingPolicy];
      if (windowStart(p) < windowEnd(q) && windowStart(q) < windowEnd(p)) problems.push(`target tracking policies '${p.name}' and '${q.name}' overlap in time`);
    }
  }
  return problems;
}

/** The scheduled action in force at `now` (the one that fired last within its window), if any. */
export function scheduledInForce(actions: readonly ScheduledAction[], now: number): { name: string; target: number; firedAt: number } | undefined {
  let best: { name: string; target: number; firedAt: number } | undefined;
  for (const a of actions) {
    const fired = lastFire(a, now);
    if (fired !== undefined && (!best || fired > best.firedAt)) best = { name: a.name, target: a.target, firedAt: fired };
  }
  return best;
}

/** The target tracking policy whose window holds `now` (windows never overlap). */
export function trackingInForce(policies: readonly TargetTrackingPolicy[], now: number): TargetTrackingPolicy | undefined {
  return policies.find((p) => windowStart(p) <= now && now < windowEnd(p));
}

/**
 * A tracking policy's next decision: enough instances for the observed busy slots to be
 * `metricTarget` of them, within the policy's bounds; with no observation (no node reported), the
 * previous decision stands (or `minCapacity`).
 */
export function trackedTarget(policy: TargetTrackingPolicy, observed: { utilization: number; instances: number } | undefined, previous: number | undefined): number {
  const clamp = (n: number) => Math.min(policy.maxCapacity, Math.max(policy.minCapacity, n));
  if (!observed) return clamp(previous ?? policy.minCapacity);
  const busy = observed.utilization * Math.max(observed.instances, 1);
  return clamp(Math.ceil(busy / policy.metricTarget - 1e-9));
}

/** The target in force: a tracking policy's decision (never below the scheduled target), else the scheduled target, else the configured one. */
export function effectiveTarget(configured: number, actions: readonly ScheduledAction[], policies: readonly TargetTrackingPolicy[], now: number, tracked: number | undefined): number {
  const scheduled = scheduledInForce(actions, now)?.target;
  const policy = trackingInForce(policies, now);
  if (policy) return Math.max(tracked ?? policy.minCapacity, scheduled ?? 0);
  return scheduled ?? configured;
}

function lastFire(a: ScheduledAction, now: number): number | undefined {
  const start = a.startTime ? Date.parse(a.startTime) : -Infinity;
  const end = a.endTime ? Date.parse(a.endTime) : Infinity;
  const until = Math.min(now, end);
  if (until < start) return undefined;
  const at = atTime(a.scheduleExpression);
  if (at !== undefined) return at <= until && at >= start ? at : undefined;
  const pattern = cronPattern(a.scheduleExpression);
  if (!pattern) return undefined;
  try {
    // prev() is strictly before currentDate: a fire exactly at `until` counts.
    const fired = cronParser.parseExpression(pattern, { currentDate: new Date(until + 1), tz: a.timeZone ?? "UTC" }).prev().getTime();
    return fired >= start ? fired : undefined;
  } catch {
    return undefined;
  }
}

function cronPattern(expression: string): string | undefined {
  return /^cron\((.+)\)$/.exec(expression.trim())?.[1]?.trim();
}

function atTime(expression: string): number | undefined {
  const m = /^at\((.+)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const t = Date.parse(m[1] as string);
  return Number.isNaN(t) ? undefined : t;
}

function expressionProblem(expression: string, tz: string | undefined): string | undefined {
  if (atTime(expression) !== undefined) return undefined;
  const pattern = cronPattern(expression);
  if (!pattern) return `'${expression.slice(0, 80)}' must be cron(<seconds minutes hours day-of-month month day-of-week>) or at(<ISO time>)`;
  if (pattern.split(/\s+/).length !== 6) return `cron(${pattern.slice(0, 80)}) must have six fields (seconds minutes hours day-of-month month day-of-week)`;
  try {
    cronParser.parseExpression(pattern, { tz: tz ?? "UTC" }).next();
    return undefined;
  } catch (err) {
    return `cron(${pattern.slice(0, 80)}) does not parse: ${(err as Error).message}`;
  }
}

function windowStart(w: { startTime?: string | undefined }): number {
  return w.startTime ? Date.parse(w.startTime) : -Infinity;
}

function windowEnd(w: { endTime?: string | undefined }): number {
  return w.endTime ? Date.parse(w.endTime) : Infinity;
}

function windowIssue(w: { startTime?: string | undefined; endTime?: string | undefined }, ctx: z.RefinementCtx): void {
  if (w.startTime && w.endTime && windowStart(w) >= windowEnd(w)) ctx.addIssue({ code: "custom", path: ["endTime"], message: "must be after startTime" });
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
