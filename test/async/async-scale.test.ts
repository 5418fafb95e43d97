import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { useCluster } from "../helpers/cluster.js";
import { uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";
import { Collector, connectNats } from "../helpers/nats.js";
import { invokeAsync, listAll, statuses, waitForInvocation } from "../helpers/async.js";
import { makeZip } from "@nimbus/testkit";
import { createNaming, type AsyncJob } from "@nimbus/protocol";
import { Queue } from "bullmq";
import { Redis } from "ioredis";

const run = promisify(execFile);

// Short backoffs and throttles so everything happens within a test.
const ctx = useCluster({
  services: ["gateway", "invoker", "async-queue", "trigger-router"],
  env: {
    NIMBUS_LOG_LEVEL: "warn",
    NIMBUS_ASYNC_RETRY_BASE_MS: "100",
    NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS: "200",
    NIMBUS_ASYNC_RETRY_MAX_MS: "1000",
    NIMBUS_ASYNC_IDLE_MS: "2000",
    NIMBUS_METRICS_PORT: "0",
    NIMBUS_ASYNC_SCAN_MS: "1000",
  },
});

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectNats(ctx.cluster);
});
afterAll(async () => {
  await nc?.close();
});

const natsArn = (subject: string) => `acs:nats:::subjects/${subject}`;
const fnArn = (service: string, fn: string) => `acs:fc:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:services/${service}.LATEST/functions/${fn}`;
/** Sleeps for the event's number of milliseconds, then answers it. */
const SLEEPER = "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'slept ' + e), Number(String(e)) || 0);";

interface DestinationRecord {
  requestContext: { requestId: string; condition: string; approximateInvokeCount: number };
  requestPayload: string;
  responsePayload: string;
}

/** The async-queue's Prometheus text. */
const asyncQueueMetrics = () => fetch(`http://127.0.0.1:${ctx.cluster.service("async-queue").ready?.metricsPort}/metrics`).then((r) => r.text());

/** How many times an invocation started running. */
const runs = (events: string[]) => events.filter((s) => s === "Running").length;

async function redisCli(...args: string[]): Promise<string> {
  const redis = ctx.cluster.redis;
  if (!redis) throw new Error("no redis");
  const out = await run("redis-cli", ["-p", String(redis.port), "-a", redis.options.password ?? "", "--no-auth-warning", ...args]);
  return out.stdout;
}

describe("async invocations at a function's limits", () => {
  it("keeps what a function at its instance limit cannot run waiting in its queue: past their age they end Expired, never run", async () => {
    const svc = uniqueName("cap");
    const expired = new Collector(nc, `${svc}.expired`);
    const client = await deploy(ctx.cluster, svc, "busy", { "index.js": SLEEPER }, { timeout: 30, instanceConcurrency: 1 });
    await client.putOnDemandConfig(svc, "LATEST", "busy", 1);
    await ctx.fc.putFunctionAsyncConfig(svc, "busy", "LATEST", {
      maxAsyncEventAgeInSeconds: 1,
      statefulInvocation: true,
      destinationConfig: { onFailure: { destination: natsArn(`${svc}.expired`) } },
    });

    // Async work alone: the queue hands out one invocation at a time (1 instance × concurrency 1).
    const first = await invokeAsync(client, svc, "busy", "2000");
    await waitForInvocation(client, svc, "busy", first, new Set(["Running"]));
    const queued = await Promise.all([1, 2, 3].map(() => invokeAsync(client, svc, "busy", "1")));
    // A synchronous call holds the only instance: async invocations taken meanwhile are refused and put back.
    expect((await waitForInvocation(client, svc, "busy", first)).status).toBe("Succeeded");
    const holding = client.invokeFunction(svc, "busy", "3000");
    await new Promise((r) => setTimeout(r, 300));
    const refused = await Promise.all([1, 2].map(() => invokeAsync(client, svc, "busy", "1")));
    expect(String((await holding).data)).toBe("slept 3000");

    const ended = await Promise.all([...queued, ...refused].map((id) => waitForInvocation(client, svc, "busy", id)));
    console.log(`at the instance limit: ${ended.map((i) => `${i.status} [${statuses(i).join(" ")}]`).join("; ")}`);
    for (const invocation of ended) {
      expect(invocation.status).toBe("Expired");
      expect(runs(statuses(invocation))).toBe(0);
      expect(invocation.invocationErrorMessage).toMatch(/maxAsyncEventAgeInSeconds/);
    }
    await expired.waitFor(5);
    for (const r of expired.json<DestinationRecord>()) expect(r.requestContext).toMatchObject({ condition: "EventAgeExceeded", approximateInvokeCount: 0 });
    const metrics = await asyncQueueMetrics();
    expect(metrics).toMatch(new RegExp(`nimbus_async_throttled_total\\{service="${svc}",function="busy"[^}]*\\} [1-9]`));
  });

  it("keeps no record without statefulInvocation, still delivers destinations, and still runs a caller-chosen id once", async () => {
    const svc = uniqueName("nostate");
    const done = new Collector(nc, `${svc}.done`);
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'did ' + e);" });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { destinationConfig: { onSuccess: { destination: natsArn(`${svc}.done`) } } });
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => invokeAsync(client, svc, "fn", `e${i}`)));
    const once = await invokeAsync(client, svc, "fn", "chosen", "chosen-1");
    expect(once).toBe("chosen-1");
    expect(await client.invokeFunction(svc, "fn", "again", { async: true, headers: { "x-fc-stateful-async-invocation-id": "chosen-1" } }).catch((e) => e)).toMatchObject({
      code: "StatefulAsyncInvocationAlreadyExists",
      status: 409,
    });
    await done.waitFor(21);
    await new Promise((r) => setTimeout(r, 500));
    expect(done.messages).toHaveLength(21);
    expect(new Set(done.json<DestinationRecord>().map((r) => r.responsePayload))).toEqual(new Set([...ids.map((_, i) => `did e${i}`), "did chosen"]));
    expect(await client.getStatefulAsyncInvocation(svc, "fn", ids[0] as string).catch((e) => e)).toMatchObject({ code: "StatefulAsyncInvocationNotExists", status: 404 });
    expect(await listAll(client, svc, "fn")).toEqual([]);
    // What Redis keeps for them: the chosen id's marker, nothing per invocation otherwise.
    expect((await redisCli("--scan", "--pattern", `*:async:inv:{${svc}:fn}:*`)).trim()).toBe("");
    expect((await redisCli("--scan", "--pattern", `*:async:seen:{${svc}:fn}:*`)).trim().split("\n")).toHaveLength(1);
  });
});

describe("redrive", () => {
  it("runs failed invocations again with their original payload under linked ids, once however often it is asked", async () => {
    const svc = uniqueName("redrive");
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(new Error('broken for ' + e.length + ' bytes'));" });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 0, statefulInvocation: true });
    const text = await invokeAsync(client, svc, "fn", "hello", "text-1");
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
    const res = await client.invokeFunction(svc, "fn", binary, { async: true, headers: { "x-fc-stateful-async-invocation-id": "binary-1" } });
    expect(res.status).toBe(202);
    const ok = await invokeAsync(client, svc, "fn", "x", "fine-1");
    for (const id of [text, "binary-1", ok]) expect((await waitForInvocation(client, svc, "fn", id)).status).toBe("Failed");

    // The fix: the function now answers the base64 of what it got.
    await client.updateFunction(svc, "fn", { code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, Buffer.from(e).toString('base64'));" })).toString("base64") } });
    const first = await client.redriveStatefulAsyncInvocations(svc, "fn", { status: "Failed", invocationIds: [text, "binary-1"] });
    expect(first.data.redriven).toEqual([
      { invocationId: "text-1", newInvocationId: "text-1_redrive1" },
      { invocationId: "binary-1", newInvocationId: "binary-1_redrive1" },
    ]);
    const again = await waitForInvocation(client, svc, "fn", "text-1_redrive1");
    expect(again).toMatchObject({ status: "Succeeded", returnPayload: Buffer.from("hello").toString("base64"), redriveOf: "text-1" });
    expect((await waitForInvocation(client, svc, "fn", "binary-1_redrive1")).returnPayload).toBe(binary.toString("base64"));
    expect((await client.getStatefulAsyncInvocation(svc, "fn", "text-1")).data).toMatchObject({ status: "Failed", redrivenAs: "text-1_redrive1" });

    // Everything Failed: the two already redriven are not run again; the third is.
    const all = await client.redriveStatefulAsyncInvocations(svc, "fn", { status: "Failed" });
    expect(all.data.redriven).toEqual([{ invocationId: "fine-1", newInvocationId: "fine-1_redrive1" }]);
    expect(all.data.skipped.map((s) => s.invocationId).sort()).toEqual(["binary-1", "text-1"]);
    expect(all.data.skipped[0]?.reason).toMatch(/already redriven as/);
    const repeated = await client.redriveStatefulAsyncInvocations(svc, "fn", { status: "Failed" });
    expect(repeated.data.redriven).toEqual([]);
    expect((await waitForInvocation(client, svc, "fn", "fine-1_redrive1")).status).toBe("Succeeded");
    const runsOf = (await listAll(client, svc, "fn")).filter((i) => i.redriveOf).map((i) => `${i.invocationId} ${runs(statuses(i))}`);
    expect(runsOf.sort()).toEqual(["binary-1_redrive1 1", "fine-1_redrive1 1", "text-1_redrive1 1"]);

    // A Succeeded invocation is not redriven; bad input and a deleted function answer FC's errors.
    const succeeded = await client.redriveStatefulAsyncInvocations(svc, "fn", { invocationIds: ["text-1_redrive1"] });
    expect(succeeded.data).toEqual({ redriven: [], skipped: [{ invocationId: "text-1_redrive1", reason: expect.stringMatching(/it is Succeeded/) }] });
    const refused = (body: Parameters<typeof client.redriveStatefulAsyncInvocations>[2]) => client.redriveStatefulAsyncInvocations(svc, "fn", body).catch((e) => e);
    expect(await refused({ status: "Running" as "Failed" })).toMatchObject({ code: "InvalidArgument", status: 400, message: expect.stringMatching(/status/) });
    expect(await refused({ invocationIds: ["bad id!"] })).toMatchObject({ code: "InvalidArgument", status: 400 });
    await client.deleteFunction(svc, "fn");
    expect(await refused({})).toMatchObject({ code: "FunctionNotFound", status: 404 });
  });
});

describe("recursive loop protection", () => {
  it("stops a two-function loop through destinations at the chain limit and sends it to the failure destination", async () => {
    const svc = uniqueName("loop");
    const stopped = new Collector(nc, `${svc}.stopped`);
    const code = { "index.js": "exports.handler = (e, c, cb) => cb(null, 'hop');" };
    const client = await deploy(ctx.cluster, svc, "ping", code);
    await deploy(ctx.cluster, svc, "pong", code);
    for (const [fn, next] of [["ping", "pong"], ["pong", "ping"]] as const) {
      await ctx.fc.putFunctionAsyncConfig(svc, fn, "LATEST", {
        statefulInvocation: true,
        destinationConfig: { onSuccess: { destination: fnArn(svc, next) }, onFailure: { destination: natsArn(`${svc}.stopped`) } },
      });
    }
    await invokeAsync(client, svc, "ping", "start");
    const [msg] = await stopped.waitFor(1, 60_000);
    const record = msg?.json<DestinationRecord>();
    expect(record?.requestContext).toMatchObject({ condition: "RecursiveLoopDetected", approximateInvokeCount: 0 });

    const ping = await listAll(client, svc, "ping");
    const pong = await listAll(client, svc, "pong");
    const succeeded = (list: typeof ping) => list.filter((i) => i.status === "Succeeded").length;
    console.log(`loop: ping ${succeeded(ping)} runs, pong ${succeeded(pong)} runs, then stopped`);
    // 16 invocations ran (8 each); the 17th, a ping, was stopped unrun.
    expect(succeeded(ping)).toBe(8);
    expect(succeeded(pong)).toBe(8);
    const failed = ping.filter((i) => i.status === "Failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]?.invocationErrorMessage).toMatch(/recursive loop detected.*number 17.*limit of 16/);
    expect(runs(statuses(failed[0] as (typeof ping)[number]))).toBe(0);
    const metrics = await asyncQueueMetrics();
    expect(metrics).toMatch(new RegExp(`nimbus_async_loops_stopped_total\\{service="${svc}",function="ping"[^}]*\\} 1\\n`));
    await new Promise((r) => setTimeout(r, 500));
    expect(await listAll(client, svc, "pong")).toHaveLength(8);
  });

  it("follows a chain through a NATS trigger and a function's own calls back into Nimbus; maxChainDepth and Allow are per function", async () => {
    const svc = uniqueName("natsloop");
    const subject = `${svc}.again`;
    const stopped = new Collector(nc, `${svc}.stopped`);
    const client = await deploy(ctx.cluster, svc, "echo", { "index.js": "exports.handler = (e, c, cb) => cb(null, JSON.stringify(c.tracing.openTracingSpanBaggages));" });
    await ctx.fc.putFunctionAsyncConfig(svc, "echo", "LATEST", {
      statefulInvocation: true,
      maxChainDepth: 3,
      destinationConfig: { onSuccess: { destination: natsArn(subject) }, onFailure: { destination: natsArn(`${svc}.stopped`) } },
    } as never);
    await ctx.fc.createTrigger(svc, "echo", { triggerName: "again", triggerType: "nats", triggerConfig: { subject, cloudEvents: false } });
    await eventually(async () => {
      nc.publish(subject, "kick");
      await stopped.waitFor(1, 2_000);
    }, "the trigger took the first message");
    const all = await listAll(client, svc, "echo");
    const ran = all.filter((i) => i.status === "Succeeded").map((i) => JSON.parse(i.returnPayload ?? "{}")["nimbus-chain-depth"]);
    // Each kick published until the trigger was subscribed starts a chain of its own: every chain stops after 3.
    expect(ran.filter((d: string) => d === "0").length).toBeGreaterThanOrEqual(1);
    expect(new Set(ran)).toEqual(new Set(["0", "1", "2"]));
    expect(all.filter((i) => i.status === "Failed").every((i) => /limit of 3/.test(i.invocationErrorMessage))).toBe(true);

    // A call back into Nimbus with the tracing baggage continues the chain: one at depth 3 is stopped.
    const headers = { "x-fc-tracing-opentracing-span-context-baggage-nimbus-chain-depth": "2" };
    const called = await client.invokeFunction(svc, "echo", "from a function", { async: true, headers: { ...headers, "x-fc-stateful-async-invocation-id": "callback-1" } });
    expect(called.status).toBe(202);
    expect((await waitForInvocation(client, svc, "echo", "callback-1")).status).toBe("Failed");
    // …and a sync call sees its place in the chain.
    const sync = await client.invokeFunction(svc, "echo", "x", { headers });
    expect(JSON.parse(String(sync.data))).toMatchObject({ "nimbus-chain-depth": "3" });

    // Allow: the same call runs.
    await ctx.fc.deleteTrigger(svc, "echo", "again");
    await ctx.fc.putFunctionAsyncConfig(svc, "echo", "LATEST", { statefulInvocation: true, maxChainDepth: 3, recursiveLoop: "Allow" } as never);
    await eventually(async () => expect((await client.getFunctionAsyncConfig(svc, "echo")).data).toMatchObject({ recursiveLoop: "Allow" }), "the config is read back");
    await client.invokeFunction(svc, "echo", "allowed", { async: true, headers: { ...headers, "x-fc-stateful-async-invocation-id": "callback-2" } });
    expect((await waitForInvocation(client, svc, "echo", "callback-2")).status).toBe("Succeeded");
  });
});

describe("async faults", () => {
  const FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

  it("does not expire events early when the nodes' clocks disagree (ages are measured on Redis's clock)", async () => {
    const svc = uniqueName("skew");
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ran ' + e);" });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncEventAgeInSeconds: 60, statefulInvocation: true });
    // A gateway 90 s behind and an async-queue 90 s ahead: by their own clocks every event is 3 minutes old.
    const behind = await ctx.cluster.startService("gateway", { LD_PRELOAD: FAKETIME, FAKETIME: "-90s", DONT_FAKE_MONOTONIC: "1" });
    const original = ctx.cluster.service("async-queue");
    await original.stop();
    const ahead = await ctx.cluster.startService("async-queue", { LD_PRELOAD: FAKETIME, FAKETIME: "+90s", DONT_FAKE_MONOTONIC: "1" });
    try {
      const skewed = ctx.cluster.client(ctx.cluster.services.get("gateway")?.indexOf(behind));
      const ids = await Promise.all([1, 2, 3, 4, 5].map((i) => invokeAsync(skewed, svc, "fn", String(i))));
      const ended = await Promise.all(ids.map((id) => waitForInvocation(client, svc, "fn", id)));
      expect(ended.map((i) => i.status)).toEqual(["Succeeded", "Succeeded", "Succeeded", "Succeeded", "Succeeded"]);
    } finally {
      await ahead.stop();
      await behind.stop();
      await original.start();
    }
  });

  it("answers 503 while Redis is out of memory, and loses none of the invocations it accepted", async () => {
    const svc = uniqueName("oom");
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" }, { instanceConcurrency: 20 });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { statefulInvocation: true });
    const used = Number(/used_memory:(\d+)/.exec(await redisCli("INFO", "memory"))?.[1]);
    const payload = "x".repeat(64 * 1024);
    const accepted: string[] = [];
    const refused: { code?: string; status?: number }[] = [];
    await redisCli("CONFIG", "SET", "maxmemory-policy", "noeviction");
    await redisCli("CONFIG", "SET", "maxmemory", String(used + 2 * 1024 * 1024));
    try {
      for (let i = 0; i < 200 && refused.length < 5; i++) {
        const res = await client.invokeFunction(svc, "fn", payload, { async: true }).catch((e: { code?: string; status?: number }) => e);
        if ("headers" in res && res.status === 202) accepted.push(res.headers.get("x-fc-stateful-async-invocation-id") ?? "");
        else refused.push(res as { code?: string; status?: number });
      }
    } finally {
      await redisCli("CONFIG", "SET", "maxmemory", "0");
    }
    console.log(`Redis out of memory: ${accepted.length} accepted, then ${refused.length} refused (${refused[0]?.status} ${refused[0]?.code})`);
    expect(accepted.length).toBeGreaterThan(0);
    expect(refused).toHaveLength(5);
    for (const r of refused) expect(r).toMatchObject({ status: 503, code: "ServiceUnavailable" });
    const ended = await Promise.all(accepted.map((id) => waitForInvocation(client, svc, "fn", id, undefined, 60_000)));
    expect(ended.every((i) => i.status === "Succeeded")).toBe(true);
  });

  it("retries a payload that crashes its instance within its limits, ends it Failed, and keeps the function's other invocations flowing", async () => {
    const svc = uniqueName("poison");
    // One call per instance: the poison takes only its own instance down (calls sharing an instance
    // with it would die with it, and be retried like any function error).
    const client = await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => String(e) === 'poison' ? process.exit(3) : setTimeout(() => cb(null, 'ok ' + e), 20);" });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 2, statefulInvocation: true });
    const poison = await invokeAsync(client, svc, "fn", "poison");
    const good = await Promise.all(Array.from({ length: 12 }, (_, i) => invokeAsync(client, svc, "fn", `g${i}`)));
    const ended = await Promise.all(good.map((id) => waitForInvocation(client, svc, "fn", id, undefined, 60_000)));
    expect(ended.map((i) => `${i.status} ${i.invocationErrorMessage}`.trim())).toEqual(good.map(() => "Succeeded"));
    const failed = await waitForInvocation(client, svc, "fn", poison, undefined, 60_000);
    console.log(`poison: ${failed.status} after ${runs(statuses(failed))} runs: ${failed.invocationErrorMessage.split("\n")[0]}`);
    expect(failed.status).toBe("Failed");
    expect(failed.alreadyRetriedTimes).toBe(2);
    expect(runs(statuses(failed))).toBe(3);
  });
});

describe("upgrade", () => {
  it("runs the invocations an earlier version left in a queue without a hash tag, and empties it", async () => {
    const svc = uniqueName("legacy");
    await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ran ' + e);" });
    const done = new Collector(nc, `${svc}.done`);
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { destinationConfig: { onSuccess: { destination: natsArn(`${svc}.done`) } } });
    // What a gateway before hash tags wrote: the job in `<prefix>:async.<service>.<fn>`, the function in the known queues.
    const naming = createNaming();
    const legacy = naming.bull.legacyAsyncQueue(svc, "fn");
    const redis = new Redis(ctx.cluster.redis?.url ?? "", { maxRetriesPerRequest: null });
    const queue = new Queue(legacy.name, { connection: redis, prefix: legacy.prefix });
    try {
      const jobs: AsyncJob[] = ["one", "two"].map((event, i) => ({
        invocationId: `old-${i}`,
        requestId: `old-${i}`,
        service: svc,
        function: "fn",
        qualifier: "LATEST",
        payload: Buffer.from(event).toString("base64"),
        enqueuedAt: Date.now(),
        functionErrors: 0,
        platformErrors: 0,
        stateful: false,
      }));
      await queue.addBulk(jobs.map((job) => ({ name: "invoke", data: job, opts: { jobId: job.invocationId, removeOnComplete: true } })));
      await redis.sadd(naming.redis.asyncQueues, `${svc}.fn`);
      await eventually(async () => expect(done.json<DestinationRecord>().map((r) => r.responsePayload).sort()).toEqual(["ran one", "ran two"]), "both ran", 30_000);
      await eventually(async () => expect(Object.values(await queue.getJobCounts()).reduce((n, c) => n + c, 0)).toBe(0), "the old queue is empty");
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});
