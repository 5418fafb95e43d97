import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";

// Issue 15: provision configs' scheduledActions and targetTrackingPolicies acted on, not only
// stored — seen through getProvisionConfig's `current`, as FC shows them.
const ctx = useCluster({
  services: ["gateway", "invoker"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_PROVISION_INTERVAL_MS: "300", NIMBUS_PROVISION_TRACKING_PERIOD_MS: "600", NIMBUS_INSTANCE_IDLE_MS: "1000" },
});

const SLOW = "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'done'), 250);";
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

async function setup(): Promise<string> {
  const svc = uniqueName("policy");
  await deploy(ctx.cluster, svc, "fn", { "index.js": SLOW });
  await ctx.fc.publishVersion(svc);
  await ctx.fc.createAlias(svc, "live", "1");
  return svc;
}

const current = async (svc: string) => (await ctx.fc.getProvisionConfig(svc, "fn", "live")).data.current as number;

describe("scheduled actions", () => {
  it("change the provisioned instances at their times, the latest fired in force", async () => {
    const svc = await setup();
    const start = Date.now();
    // Whole seconds, a few ahead: the first raises the target to 2, the second lowers it to 1.
    const up = Math.ceil((start + 4000) / 1000) * 1000;
    const down = up + 5000;
    const put = await ctx.fc.putProvisionConfig(svc, "fn", "live", {
      target: 0,
      scheduledActions: [
        { name: "up", target: 2, scheduleExpression: `at(${iso(up)})` },
        { name: "down", target: 1, scheduleExpression: `at(${iso(down)})` },
      ],
    });
    expect(put.data.scheduledActions.map((a: { name: string }) => a.name)).toEqual(["up", "down"]);
    expect(await current(svc)).toBe(0);
    await eventually(async () => expect(await current(svc)).toBe(2), "the first action's target", 15_000);
    const reachedUp = Date.now();
    expect(reachedUp).toBeGreaterThanOrEqual(up);
    console.log(`scheduled action: 2 instances ${reachedUp - up} ms after its time`);
    await eventually(async () => expect(await current(svc)).toBe(1), "the second action's target", 15_000);
    console.log(`scheduled action: down to 1 instance ${Date.now() - down} ms after its time`);
    await ctx.fc.putProvisionConfig(svc, "fn", "live", { target: 0 });
    await eventually(async () => expect(await current(svc)).toBe(0), "released", 15_000);
  });
});

describe("target tracking", () => {
  it("raises the target under load and lowers it after, never past its bounds", async () => {
    const svc = await setup();
    await ctx.fc.putProvisionConfig(svc, "fn", "live", {
      target: 0,
      targetTrackingPolicies: [{ name: "busy", metricType: "ProvisionedConcurrencyUtilization", metricTarget: 0.5, minCapacity: 1, maxCapacity: 3 }],
    });
    await eventually(async () => expect(await current(svc)).toBe(1), "the policy's minimum", 15_000);

    // Four callers, each calling again as soon as it is answered: more than one instance can take.
    let loading = true;
    let calls = 0;
    const seen: number[] = [];
    const callers = Array.from({ length: 4 }, async () => {
      while (loading) {
        await ctx.fc.invokeFunction(svc, "fn", "", {}, "live");
        calls++;
      }
    });
    // (Generous: instances start slowly on a loaded machine.)
    const until = Date.now() + 45_000;
    while (Date.now() < until) {
      const n = await current(svc);
      seen.push(n);
      if (n === 3) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    loading = false;
    await Promise.all(callers);
    console.log(`target tracking under load (${calls} calls): current went ${seen.join(" ")}`);
    expect(Math.max(...seen)).toBe(3);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await current(svc)).toBeLessThanOrEqual(3);
    await eventually(async () => expect(await current(svc)).toBe(1), "back to the minimum once idle", 20_000);
  }, 120_000);
});

describe("bad policies", () => {
  it("are refused at write time, writing nothing", async () => {
    const svc = await setup();
    await ctx.fc.putProvisionConfig(svc, "fn", "live", { target: 1 });
    const bad = async (body: Record<string, unknown>, part: string) => expectFcError(ctx.fc.putProvisionConfig(svc, "fn", "live", { target: 1, ...body }), "InvalidArgument", part);
    await bad({ scheduledActions: [{ name: "x", target: 1, scheduleExpression: "cron(0 8 * * *)" }] }, "six fields");
    await bad({ scheduledActions: [{ name: "x", target: 1, scheduleExpression: "tomorrow" }] }, "at(");
    await bad({ scheduledActions: [{ name: "x", target: 1, scheduleExpression: "cron(0 0 8 * * *)", timeZone: "Nowhere/Land" }] }, "time zone");
    await bad({ scheduledActions: [{ name: "x", target: 500, scheduleExpression: "cron(0 0 8 * * *)" }] }, "maximumInstanceCount");
    await bad({ scheduledActions: [{ name: "x", target: 1, scheduleExpression: "cron(0 0 8 * * *)", startTime: "2026-12-02T00:00:00Z", endTime: "2026-12-01T00:00:00Z" }] }, "after startTime");
    const policy = { metricType: "ProvisionedConcurrencyUtilization", metricTarget: 0.5, minCapacity: 1, maxCapacity: 2 };
    await bad(
      {
        targetTrackingPolicies: [
          { ...policy, name: "a", startTime: "2026-12-01T00:00:00Z", endTime: "2026-12-01T12:00:00Z" },
          { ...policy, name: "b", startTime: "2026-12-01T11:00:00Z", endTime: "2026-12-01T13:00:00Z" },
        ],
      },
      "overlap in time",
    );
    await bad({ targetTrackingPolicies: [{ ...policy, name: "a", maxCapacity: 1000 }] }, "maximumInstanceCount");
    await bad({ targetTrackingPolicies: [{ ...policy, name: "a", metricType: "CPU" }] }, "ProvisionedConcurrencyUtilization");
    await bad({ targetTrackingPolicies: [{ ...policy, name: "a", minCapacity: 3 }] }, "above maxCapacity");
    const kept = (await ctx.fc.getProvisionConfig(svc, "fn", "live")).data;
    expect(kept).toMatchObject({ target: 1, scheduledActions: [], targetTrackingPolicies: [] });
    await ctx.fc.putProvisionConfig(svc, "fn", "live", { target: 0 });
  });
});
