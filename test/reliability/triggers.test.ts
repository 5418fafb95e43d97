import { describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { fcClient } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { Collector, withCluster } from "../helpers/nats.js";

const ENV = { NIMBUS_LOG_LEVEL: "warn", NIMBUS_TRIGGER_ACK_WAIT_MS: "2000", NIMBUS_NODE_TTL_MS: "2000" };


/** An echo function whose successes are published to `subject`. */
async function echo(cluster: TestCluster, svc: string, fn: string, subject: string) {
  await deploy(cluster, svc, fn, { "index.js": "exports.handler = (e, c, cb) => cb(null, e.toString());" }, { instanceConcurrency: 50 });
  await fcClient(cluster).putFunctionAsyncConfig(svc, fn, "LATEST", { destinationConfig: { onSuccess: { destination: `acs:nats:::subjects/${subject}` } } });
}

const payloads = (c: Collector) => c.json<{ responsePayload: string }>().map((r) => JSON.parse(r.responsePayload) as { data?: { i: number }; triggerTime?: string });

describe("triggers under faults (RELIABILITY 15-17)", () => {
  it("#16: a durable trigger's messages in flight when its router is SIGKILLed are delivered after the restart", async () => {
    await withCluster({ services: ["gateway", "invoker", "async-queue", "trigger-router"], env: ENV }, async (cluster, nc) => {
      const done = new Collector(nc, "r16.done");
      await echo(cluster, "r16", "work", "r16.done");
      await fcClient(cluster).createTrigger("r16", "work", { triggerName: "q", triggerType: "nats", triggerConfig: { subject: "r16.jobs", durable: true } });
      await new Promise((r) => setTimeout(r, 500));
      const total = 500;
      for (let i = 0; i < total; i++) nc.publish("r16.jobs", JSON.stringify({ i }));
      await nc.flush();
      await eventually(async () => expect(done.messages.length).toBeGreaterThan(20), "some handled before the kill");
      const router = cluster.service("trigger-router");
      await router.kill();
      const beforeRestart = done.messages.length;
      await router.start();
      await eventually(async () => expect(new Set(payloads(done).map((p) => p.data?.i)).size).toBe(total), "every message delivered", 60_000);
      await new Promise((r) => setTimeout(r, 1_000));
      const distinct = new Set(payloads(done).map((p) => p.data?.i)).size;
      console.log(`#16: ${total} messages on a durable trigger, router SIGKILLed after ${beforeRestart} had run: ${distinct} delivered, ${done.messages.length - distinct} twice`);
      expect(distinct).toBe(total);
      expect(done.messages.length).toBe(total); // a redelivered message finds its invocation: none ran twice
    });
  }, 120_000);

  it("#17: two routers fire each timer tick once, over more than 10 ticks", async () => {
    await withCluster({ services: ["gateway", "invoker", "async-queue", "trigger-router", "trigger-router"], env: ENV }, async (cluster, nc) => {
      const fired = new Collector(nc, "r17.fired");
      await echo(cluster, "r17", "tick", "r17.fired");
      await fcClient(cluster).createTrigger("r17", "tick", { triggerName: "sec", triggerType: "timer", triggerConfig: { cronExpression: "* * * * * *", payload: "x" } });
      await fired.waitFor(12, 30_000);
      await new Promise((r) => setTimeout(r, 1_500));
      await fcClient(cluster).deleteTrigger("r17", "tick", "sec");
      const times = payloads(fired).map((p) => String(p.triggerTime));
      const distinct = new Set(times);
      const seconds = [...distinct].map((t) => Date.parse(t) / 1000).sort((a, b) => a - b);
      const gaps = seconds.slice(1).map((s, i) => s - (seconds[i] as number));
      console.log(`#17: two routers, a timer firing every second: ${times.length} fires for ${distinct.size} ticks (${times.length - distinct.size} duplicates), largest gap ${Math.max(...gaps)} s`);
      expect(distinct.size).toBeGreaterThanOrEqual(10);
      expect(times.length).toBe(distinct.size);
      expect(Math.max(...gaps)).toBeLessThanOrEqual(2);
    });
  }, 90_000);

  it("#15: core and durable NATS triggers resume after a nats-server restart, without a router restart", async () => {
    await withCluster({ services: ["gateway", "invoker", "async-queue", "trigger-router"], env: ENV }, async (cluster, nc) => {
      const core = new Collector(nc, "r15.core");
      const durable = new Collector(nc, "r15.durable");
      await echo(cluster, "r15", "core", "r15.core");
      await echo(cluster, "r15", "durable", "r15.durable");
      const fc = fcClient(cluster);
      await fc.createTrigger("r15", "core", { triggerName: "c", triggerType: "nats", triggerConfig: { subject: "r15.in.core" } });
      await fc.createTrigger("r15", "durable", { triggerName: "d", triggerType: "nats", triggerConfig: { subject: "r15.in.durable", durable: true } });
      await new Promise((r) => setTimeout(r, 500));
      nc.publish("r15.in.core", JSON.stringify({ i: 1 }));
      nc.publish("r15.in.durable", JSON.stringify({ i: 1 }));
      await core.waitFor(1);
      await durable.waitFor(1);

      const pid = cluster.service("trigger-router").process.pid;
      await cluster.nats.kill();
      await cluster.nats.restart();
      await eventually(async () => expect((await send(cluster, { method: "GET", path: "/readyz", sign: false })).status).toBe(200), "readyz after the NATS restart", 30_000);
      // The test's own connection reconnects too; publish until the routers are back on their subscriptions.
      await eventually(
        async () => {
          nc.publish("r15.in.core", JSON.stringify({ i: 2 }));
          await core.waitFor(2, 1_000);
        },
        "the core trigger back",
        30_000,
      );
      nc.publish("r15.in.durable", JSON.stringify({ i: 2 }));
      await durable.waitFor(2, 30_000);
      console.log(`#15: nats-server restarted: core trigger resumed (${core.messages.length} runs), durable trigger resumed (${durable.messages.length} runs), router pid unchanged`);
      expect(cluster.service("trigger-router").process.pid).toBe(pid);
    });
  }, 120_000);
});
