import { describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { deploy, eventually } from "../helpers/functions.js";
import { allRan, recovery, underLoad } from "../helpers/load.js";

describe("Nimbus on a NATS cluster and highly available Redis (RELIABILITY, beyond one machine)", () => {
  it("loses no accepted invocation when a NATS node is killed under load", async () => {
    const cluster = await TestCluster.start({ nats: "cluster", services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const client = await deploy(cluster, "ha", "fn", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 5);" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("ha", "fn", undefined, { statefulInvocation: true });
      let recoveredMs = 0;
      const node = cluster.natsCluster?.nodes[0];
      if (!node) throw new Error("no NATS cluster");
      const { accepted, refused, syncOk, syncFailed } = await underLoad(client, "ha", async () => {
        await node.kill();
        recoveredMs = await recovery(() => client.invokeFunction("ha", "fn", "probe"));
      });
      await allRan(client, "ha", accepted);
      console.log(`NATS node killed: ${accepted.size} async invocations accepted, all ran; ${refused} requests refused and retried; sync ${syncOk} ok, ${syncFailed} failed; a sync call worked again after ${recoveredMs} ms`);
      await node.restart();
    } finally {
      await cluster.stop();
    }
  }, 240_000);

  it("loses no accepted invocation when the Redis primary is killed and Sentinel fails over", async () => {
    const cluster = await TestCluster.start({ redis: "sentinel", services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const client = await deploy(cluster, "ha", "fn", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 5);" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("ha", "fn", undefined, { statefulInvocation: true });
      let failoverMs = 0;
      const primary = cluster.sentinel?.primary;
      if (!primary) throw new Error("no Sentinel");
      // What /readyz says meanwhile: not ready while the gateway has no Redis primary, ready after.
      const readiness: number[] = [];
      const { accepted, refused, syncOk, syncFailed } = await underLoad(client, "ha", async () => {
        await primary.kill();
        let watching = true;
        const watch = (async () => {
          while (watching) {
            readiness.push((await fetch(`${cluster.endpoint()}/readyz`).catch(() => ({ status: 0 }))).status);
            await new Promise((r) => setTimeout(r, 100));
          }
        })();
        failoverMs = await recovery(() => client.invokeFunction("ha", "fn", "probe", { async: true }));
        await eventually(async () => expect((await fetch(`${cluster.endpoint()}/readyz`)).status).toBe(200), "ready again");
        watching = false;
        await watch;
      });
      await allRan(client, "ha", accepted);
      console.log(
        `Redis primary killed: async enqueue worked again after ${failoverMs} ms (Sentinel failover); ${accepted.size} async invocations accepted, all ran; ${refused} refused and retried; ` +
          `sync ${syncOk} ok, ${syncFailed} failed; /readyz answered 503 ${readiness.filter((r) => r === 503).length} times during the gap`,
      );
      expect(accepted.size).toBeGreaterThan(50);
      expect(readiness).toContain(503);
    } finally {
      await cluster.stop();
    }
  }, 240_000);
});
