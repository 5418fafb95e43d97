import { describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { deploy, eventually } from "../helpers/functions.js";
import { allRan, recovery, underLoad } from "../helpers/load.js";

// Nimbus given `redis+cluster://…`: a real Redis Cluster of three primaries with a replica each.
// Every key of a function carries its hash tag, so each script and BullMQ queue touches one slot.
describe("Nimbus on a Redis Cluster (RELIABILITY, beyond one machine)", () => {
  it("runs sync and async calls, records, logs, metrics, timers and instance limits across the cluster's slots", async () => {
    const cluster = await TestCluster.start({ redis: "cluster", services: ["gateway", "invoker", "invoker", "async-queue", "trigger-router", "log-collector"], env: { NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const set = cluster.redisCluster;
      if (!set) throw new Error("no Redis Cluster");
      const client = await deploy(cluster, "rc", "fn", { "index.js": "exports.handler = (e, c, cb) => { console.log('saw ' + e); setTimeout(() => cb(null, 'ok ' + e), 20); };" }, { instanceConcurrency: 1 });
      // More functions whose keys are on the other primaries: every one of them serves Nimbus.
      const owners = new Map<number, string>([[(await set.primaryFor("{rc:fn}")).port, "fn"]]);
      for (let i = 0; owners.size < 3 && i < 50; i++) {
        const port = (await set.primaryFor(`{rc:f${i}}`)).port;
        if (!owners.has(port)) owners.set(port, `f${i}`);
      }
      const others = [...owners.values()].filter((n) => n !== "fn");
      for (const name of others) await deploy(cluster, "rc", name, { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
      await client.putFunctionAsyncConfig("rc", "fn", undefined, { statefulInvocation: true });
      await client.putOnDemandConfig("rc", "LATEST", "fn", 2);

      const sync = await client.invokeFunction("rc", "fn", "one");
      expect(sync.data.toString()).toBe("ok one");
      // The instance limit holds cluster-wide (two invokers, at most two instances of one request each).
      const burst = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => client.invokeFunction("rc", "fn", `b${i}`)));
      expect(burst.filter((r) => r.status === "fulfilled").length).toBeGreaterThan(0);
      const instances = ((await client.listInstances("rc", "fn")).data as unknown as { instances: { node: string }[] }).instances;
      expect(instances.length).toBeGreaterThan(0);
      expect(instances.length).toBeLessThanOrEqual(2);

      for (const name of ["fn", ...others]) {
        await client.putFunctionAsyncConfig("rc", name, undefined, { statefulInvocation: true });
        expect((await client.invokeFunction("rc", name, "x", { async: true, headers: { "x-fc-stateful-async-invocation-id": `a-${name}` } })).status).toBe(202);
      }
      for (const name of ["fn", ...others]) {
        await eventually(async () => expect((await client.getStatefulAsyncInvocation("rc", name, `a-${name}`)).data.status).toBe("Succeeded"), `${name}'s invocation succeeded`);
      }
      // The same id again is the same invocation.
      await expect(client.invokeFunction("rc", "fn", "x", { async: true, headers: { "x-fc-stateful-async-invocation-id": "a-fn" } })).rejects.toMatchObject({ code: "StatefulAsyncInvocationAlreadyExists" });

      // Logs by request id and the per-minute figures (the collector's scripts, per function slot).
      const logs = await eventually(async () => {
        const res = await client.getFunctionLogs("rc", "fn", { requestId: sync.requestId });
        expect(res.data.logs.some((l) => l.message.includes("saw one"))).toBe(true);
        return res.data.logs;
      }, "the sync call's log lines");
      expect(logs.length).toBeGreaterThan(0);
      await eventually(async () => {
        const points = (await client.getFunctionMetrics("rc", "fn", { since: String(Date.now() - 600_000) })).data.points;
        expect(points.reduce((n, p) => n + p.invocations, 0)).toBeGreaterThanOrEqual(3);
      }, "the function's figures");

      // A timer trigger fires through the timers' queue.
      await client.createTrigger("rc", "fn", { triggerName: "tick", triggerType: "timer", triggerConfig: { cronExpression: "@every 1s", payload: "tick", enable: true } });
      await eventually(async () => {
        const res = await client.getFunctionLogs("rc", "fn", { keyword: "saw" });
        expect(res.data.logs.some((l) => l.message.includes('"payload":"tick"'))).toBe(true);
      }, "a timer tick ran", 30_000);
      expect(owners.size).toBe(3);
      console.log(`Redis Cluster: ${owners.size} functions whose keys are on ${owners.size} different primaries ran sync and async; ${instances.length} instance(s) under a limit of 2`);
    } finally {
      await cluster.stop();
    }
  }, 180_000);

  it("loses no accepted invocation when the primary holding a function's slot is killed and its replica takes over", async () => {
    const cluster = await TestCluster.start({ redis: "cluster", services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const client = await deploy(cluster, "ha", "fn", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 5);" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("ha", "fn", undefined, { statefulInvocation: true });
      const set = cluster.redisCluster;
      if (!set) throw new Error("no Redis Cluster");
      const primary = await set.primaryFor("{ha:fn}");
      let failoverMs = 0;
      const { accepted, refused, syncOk, syncFailed } = await underLoad(client, "ha", async () => {
        await primary.kill();
        failoverMs = await recovery(() => client.invokeFunction("ha", "fn", "probe", { async: true }));
      });
      await allRan(client, "ha", accepted);
      const promoted = await set.primaryFor("{ha:fn}");
      console.log(
        `Redis Cluster primary of the function's slot killed: its replica (port ${promoted.port}) took over; async enqueue worked again after ${failoverMs} ms; ` +
          `${accepted.size} async invocations accepted, all ran; ${refused} refused and retried; sync ${syncOk} ok, ${syncFailed} failed`,
      );
      expect(promoted.port).not.toBe(primary.port);
      expect(accepted.size).toBeGreaterThan(50);
    } finally {
      await cluster.stop();
    }
  }, 240_000);
});
