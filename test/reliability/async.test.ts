import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { TestCluster } from "@nimbus/testkit";
import type { NimbusClient, StatefulAsyncInvocation } from "@nimbus/sdk";
import { FINAL, invokeAsync, listAll, statuses, waitForInvocation } from "../helpers/async.js";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { Collector, connectNats, withCluster } from "../helpers/nats.js";

const run = promisify(execFile);

/** Short locks and backoffs so takeovers and retries happen within a test. */
const ASYNC_ENV = {
  NIMBUS_LOG_LEVEL: "warn",
  NIMBUS_ASYNC_LOCK_MS: "1500",
  NIMBUS_ASYNC_RETRY_BASE_MS: "100",
  NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS: "200",
  NIMBUS_ASYNC_RETRY_MAX_MS: "1000",
  NIMBUS_ASYNC_SCAN_MS: "500",
  NIMBUS_NODE_TTL_MS: "2000",
};

const natsArn = (subject: string) => `acs:nats:::subjects/${subject}`;

/** Runs `count` calls of `task`, `parallel` at a time; returns their results in order. */
async function pool<T>(count: number, parallel: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** How many times an invocation started running. */
const runs = (i: StatefulAsyncInvocation) => statuses(i).filter((s) => s === "Running").length;


describe("async invocations under faults (RELIABILITY 9-15)", () => {
  it("#9: 2,000 invocations through a SIGKILLed async-queue replica and a SIGKILLed invoker: every one final, none lost", async () => {
    await withCluster({ services: ["gateway", "invoker", "invoker", "async-queue", "async-queue"], env: ASYNC_ENV }, async (cluster, nc) => {
      const client = cluster.client();
      const subject = "r9.done";
      const done = new Collector(nc, subject);
      await deploy(cluster, "r9", "work", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'did ' + e), 20);" }, { instanceConcurrency: 50 });
      await client.putFunctionAsyncConfig("r9", "work", undefined, { statefulInvocation: true, destinationConfig: { onSuccess: { destination: natsArn(subject) } } });

      const total = 2_000;
      const kills: number[] = [];
      const faults = (async () => {
        await eventually(async () => expect(done.messages.length).toBeGreaterThanOrEqual(total / 5), "a fifth done", 120_000);
        // A kill counts from when the process is gone: what was sent to it until then was in flight.
        await cluster.service("async-queue", 0).kill();
        kills.push(Date.now());
        await eventually(async () => expect(done.messages.length).toBeGreaterThanOrEqual(total / 2), "half done", 120_000);
        await cluster.service("invoker", 0).kill();
        kills.push(Date.now());
      })();
      const ids = await pool(total, 16, (i) => invokeAsync(client, "r9", "work", String(i)));
      expect(new Set(ids).size).toBe(total);
      await faults;

      await eventually(
        async () => {
          const all = await listAll(client, "r9", "work");
          const open = all.filter((i) => !FINAL.has(i.status)).length;
          if (all.length !== total || open > 0) throw new Error(`${all.length} records, ${open} not final`);
        },
        "every invocation final",
        120_000,
      );
      const all = await listAll(client, "r9", "work");
      const succeeded = all.filter((i) => i.status === "Succeeded").length;
      const again = all.filter((i) => runs(i) > 1);
      // A second run only for invocations that were running when something was killed.
      for (const i of again) {
        const firstRun = i.events.find((e) => e.status === "Running")?.timestamp ?? 0;
        expect(kills.some((k) => firstRun <= k), `${i.invocationId} ran twice without having been in flight at a kill (kills at ${kills.join(", ")}): ${JSON.stringify(i.events)}`).toBe(true);
      }
      const delivered = new Set(done.json<{ requestContext: { requestId: string } }>().map((r) => r.requestContext.requestId));
      console.log(
        `#9: ${total} async invocations, async-queue and invoker SIGKILLed mid-run: ${succeeded} succeeded, ` +
          `${total - all.length} lost, ${again.length} ran again (in flight at a kill), ${delivered.size} distinct destination records (${done.messages.length} delivered)`,
      );
      expect(succeeded).toBe(total);
      expect(delivered.size).toBe(total);
    });
  }, 300_000);

  it("#10: a worker frozen past its job lock records no second final state", async () => {
    await withCluster({ services: ["gateway", "invoker", "async-queue"], env: ASYNC_ENV }, async (cluster, nc) => {
      const client = cluster.client();
      const done = new Collector(nc, "r10.done");
      await deploy(cluster, "r10", "slow", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'slept'), 2500);" }, { timeout: 30, instanceConcurrency: 5 });
      await client.putFunctionAsyncConfig("r10", "slow", undefined, { statefulInvocation: true, destinationConfig: { onSuccess: { destination: natsArn("r10.done") } } });
      const frozen = cluster.service("async-queue", 0);

      const id = await invokeAsync(client, "r10", "slow", "x");
      await waitForInvocation(client, "r10", "slow", id, new Set(["Running"]));
      frozen.pause();
      try {
        // Another replica takes the job over once the frozen one's lock (1.5 s) lapses, and finishes it.
        await cluster.startService("async-queue");
        const first = await waitForInvocation(client, "r10", "slow", id, FINAL, 30_000);
        expect(first.status).toBe("Succeeded");
      } finally {
        frozen.resume();
      }
      // The thawed worker's run ends too (its invoker answered long ago): it must record nothing more.
      await new Promise((r) => setTimeout(r, 3_000));
      const after = (await client.getStatefulAsyncInvocation("r10", "slow", id)).data;
      const finals = statuses(after).filter((s) => FINAL.has(s));
      console.log(`#10: worker frozen past its lock: ${runs(after)} runs, ${finals.length} final state (${finals.join(", ")}), ${done.messages.length} destination record`);
      expect(finals).toEqual(["Succeeded"]);
      expect(runs(after)).toBe(2);
      expect(done.messages).toHaveLength(1);
      expect(await cluster.logs("async-queue", 0)).toMatch(/lost the job.s lock to another worker/);
    });
  }, 120_000);

  describe("on one cluster", () => {
    let cluster: TestCluster;
    let nc: NatsConnection;
    let client: NimbusClient;
    beforeAll(async () => {
      cluster = await TestCluster.start({ services: ["gateway", "invoker", "async-queue"], env: ASYNC_ENV });
      nc = await connectNats(cluster);
      client = cluster.client();
    });
    afterAll(async () => {
      await nc?.close().catch(() => undefined);
      await cluster?.stop();
    });

    it("#11: the same invocation id sent 20 times at once runs once", async () => {
      const done = new Collector(nc, "r11.done");
      await deploy(cluster, "r11", "once", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ran');" });
      await client.putFunctionAsyncConfig("r11", "once", undefined, { statefulInvocation: true, destinationConfig: { onSuccess: { destination: natsArn("r11.done") } } });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          send(cluster, {
            method: "POST",
            path: "/2016-08-15/services/r11/functions/once/invocations",
            headers: { "x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": "pay_order_7" },
            body: "charge",
          }),
        ),
      );
      const codes = answers.map((a) => a.status);
      expect(codes.every((c) => c === 202 || c === 409)).toBe(true);
      expect(codes).toContain(202);
      for (const a of answers.filter((x) => x.status === 409)) expect(a.json.ErrorCode).toBe("StatefulAsyncInvocationAlreadyExists");
      const record = await waitForInvocation(client, "r11", "once", "pay_order_7");
      await new Promise((r) => setTimeout(r, 500));
      console.log(`#11: 20 concurrent enqueues of one id: ${codes.filter((c) => c === 202).length} accepted, ${codes.filter((c) => c === 409).length} conflicts, ${runs(record)} run, ${done.messages.length} destination record`);
      expect(record.status).toBe("Succeeded");
      expect(runs(record)).toBe(1);
      expect(done.messages).toHaveLength(1);
      expect(await listAll(client, "r11", "once")).toHaveLength(1);
    });

    it("#12: a function that keeps failing is retried with backoff to its failure destination, while others keep flowing", async () => {
      const failures = new Collector(nc, "r12.failed");
      await deploy(cluster, "r12", "broken", { "index.js": "exports.handler = () => { throw new Error('still broken'); };" });
      await deploy(cluster, "r12", "healthy", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'fine');" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("r12", "healthy", undefined, { statefulInvocation: true });
      await client.putFunctionAsyncConfig("r12", "broken", undefined, { maxAsyncRetryAttempts: 3, statefulInvocation: true, destinationConfig: { onFailure: { destination: natsArn("r12.failed") } } });

      const broken = await pool(20, 4, (i) => invokeAsync(client, "r12", "broken", `b${i}`));
      const healthy = await pool(200, 8, (i) => invokeAsync(client, "r12", "healthy", `h${i}`));
      for (const id of healthy) expect((await waitForInvocation(client, "r12", "healthy", id)).status).toBe("Succeeded");
      const stillRetrying = (await listAll(client, "r12", "broken")).filter((i) => !FINAL.has(i.status)).length;

      const ended = await Promise.all(broken.map((id) => waitForInvocation(client, "r12", "broken", id, FINAL, 60_000)));
      await failures.waitFor(20);
      console.log(`#12: 200 invocations of a healthy function all succeeded while ${stillRetrying} of 20 failing ones were still being retried; the 20 ended Failed after ${runs(ended[0] as StatefulAsyncInvocation)} runs each`);
      for (const i of ended) {
        expect(i).toMatchObject({ status: "Failed", alreadyRetriedTimes: 3, invocationErrorMessage: "still broken" });
        expect(runs(i)).toBe(4);
      }
      const records = failures.json<{ requestContext: { requestId: string; condition: string; approximateInvokeCount: number }; requestPayload: string; responseContext: { functionError: string } }>();
      expect(new Set(records.map((r) => r.requestContext.requestId))).toEqual(new Set(broken));
      for (const r of records) {
        expect(r.requestContext).toMatchObject({ condition: "RetriesExhausted", approximateInvokeCount: 4 });
        expect(r.responseContext.functionError).toBe("UnhandledInvocationError");
        expect(r.requestPayload).toMatch(/^b\d+$/);
      }
    });

    it("#13: an event older than its max age when dequeued is Expired and never runs", async () => {
      const expired = new Collector(nc, "r13.expired");
      await deploy(cluster, "r13", "late", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ran');" });
      await client.putFunctionAsyncConfig("r13", "late", undefined, { maxAsyncEventAgeInSeconds: 1, statefulInvocation: true, destinationConfig: { onFailure: { destination: natsArn("r13.expired") } } });
      const queue = cluster.service("async-queue");
      await queue.stop();
      const ids = await pool(5, 5, (i) => invokeAsync(client, "r13", "late", `l${i}`));
      await new Promise((r) => setTimeout(r, 1_500));
      await queue.start();
      const ended = await Promise.all(ids.map((id) => waitForInvocation(client, "r13", "late", id)));
      await expired.waitFor(5);
      console.log(`#13: 5 invocations dequeued after their 1 s max age: ${ended.filter((i) => i.status === "Expired").length} Expired, ${ended.reduce((n, i) => n + runs(i), 0)} runs`);
      for (const i of ended) {
        expect(i.status).toBe("Expired");
        expect(runs(i)).toBe(0);
      }
      for (const r of expired.json<{ requestContext: { condition: string; approximateInvokeCount: number } }>()) {
        expect(r.requestContext).toMatchObject({ condition: "EventAgeExceeded", approximateInvokeCount: 0 });
      }
    });

    it("#15: every service reconnects when Redis drops all its clients under load, and when NATS restarts while idle", async () => {
      await deploy(cluster, "r15", "fn", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 10);" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("r15", "fn", undefined, { statefulInvocation: true });
      const redis = cluster.redis;
      if (!redis) throw new Error("no redis");
      const ids: string[] = [];
      let dropped = 0;
      const load = pool(300, 6, async (i) => {
        if (i === 100 || i === 200) {
          const out = await run("redis-cli", ["-p", String(redis.port), "-a", redis.options.password ?? "", "--no-auth-warning", "CLIENT", "KILL", "TYPE", "normal"]);
          dropped += Number.parseInt(out.stdout, 10) || 0;
        }
        // A request that met the drop may be refused (503): the caller retries it, as a client would.
        for (let attempt = 0; ; attempt++) {
          try {
            ids.push(await invokeAsync(client, "r15", "fn", String(i)));
            return;
          } catch (err) {
            if (attempt > 20) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      });
      await load;
      const ended = await Promise.all(ids.map((id) => waitForInvocation(client, "r15", "fn", id, FINAL, 60_000)));
      const ok = ended.filter((i) => i.status === "Succeeded").length;

      // NATS restarts while nothing happens: readiness drops, then async work flows again.
      await cluster.nats.kill();
      await eventually(async () => expect((await send(cluster, { method: "GET", path: "/readyz", sign: false })).status).toBe(503), "readyz 503 without NATS");
      await cluster.nats.restart();
      await eventually(async () => expect((await send(cluster, { method: "GET", path: "/readyz", sign: false })).status).toBe(200), "readyz 200 with NATS back", 30_000);
      const afterNats = await eventually(() => invokeAsync(client, "r15", "fn", "after-nats"), "enqueue after the NATS restart");
      expect((await waitForInvocation(client, "r15", "fn", afterNats, FINAL, 30_000)).status).toBe("Succeeded");
      console.log(`#15: Redis dropped ${dropped} client connections twice under load: ${ok} of ${ids.length} invocations succeeded; NATS restarted: readiness 503 then 200, async flowing again, no service restarted`);
      expect(dropped).toBeGreaterThan(0);
      expect(ok).toBe(300);
      for (const name of ["gateway", "invoker", "async-queue"] as const) expect(cluster.service(name).process.running).toBe(true);
    });
  });

  it("#14: Redis SIGKILLed and restarted on its AOF: invocations acknowledged more than 1 s before the crash survive", async () => {
    await withCluster({ services: ["gateway", "invoker", "async-queue"], env: ASYNC_ENV }, async (cluster) => {
      const client = cluster.client();
      const redis = cluster.redis;
      if (!redis) throw new Error("no redis");
      await deploy(cluster, "r14", "fn", { "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 5);" }, { instanceConcurrency: 20 });
      await client.putFunctionAsyncConfig("r14", "fn", undefined, { statefulInvocation: true });
      // The queue is stopped so what was acknowledged is still waiting in Redis at the crash.
      await cluster.service("async-queue").stop();

      const accepted: { id: string; at: number }[] = [];
      let refused = 0;
      let stop = false;
      let readyzDuringOutage = 0;
      const load = Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; !stop; i++) {
            try {
              const id = await invokeAsync(client, "r14", "fn", `${w}-${i}`);
              accepted.push({ id, at: Date.now() });
            } catch {
              refused++;
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 2_500));
      const crashAt = Date.now();
      await redis.kill();
      await eventually(async () => {
        readyzDuringOutage = (await send(cluster, { method: "GET", path: "/readyz", sign: false })).status;
        expect(readyzDuringOutage).toBe(503);
      }, "readyz 503 while Redis is down");
      await new Promise((r) => setTimeout(r, 1_000));
      await redis.restart();
      await new Promise((r) => setTimeout(r, 1_500));
      stop = true;
      await load;
      await cluster.service("async-queue").start();

      const old = accepted.filter((a) => a.at < crashAt - 1_000);
      const recent = accepted.filter((a) => a.at >= crashAt - 1_000 && a.at < crashAt);
      const afterwards = accepted.filter((a) => a.at >= crashAt);
      const survived = await Promise.all(
        old.map(async (a) => (await waitForInvocation(client, "r14", "fn", a.id, FINAL, 90_000)).status === "Succeeded"),
      );
      const recentKept = await Promise.all(
        recent.map(async (a) => {
          try {
            return (await waitForInvocation(client, "r14", "fn", a.id, FINAL, 20_000)).status === "Succeeded";
          } catch {
            return false;
          }
        }),
      );
      for (const a of afterwards) expect((await waitForInvocation(client, "r14", "fn", a.id, FINAL, 60_000)).status).toBe("Succeeded");
      console.log(
        `#14: Redis kill -9 + AOF restart: ${old.length} invocations acknowledged >1 s before the crash, ${survived.filter(Boolean).length} survived and ran; ` +
          `${recentKept.filter(Boolean).length} of ${recent.length} from its last second kept; ${refused} requests refused (503) during the outage; ` +
          `${afterwards.length} accepted after it all ran; readyz during the outage: ${readyzDuringOutage}`,
      );
      expect(old.length).toBeGreaterThan(50);
      expect(survived.every(Boolean)).toBe(true);
      expect(afterwards.length).toBeGreaterThan(0);
    });
  }, 240_000);
});
