import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { Collector, connectNats } from "../helpers/nats.js";
import { invokeAsync, listAll, statuses, waitForInvocation } from "../helpers/async.js";

// Short backoffs so retries happen within a test; everything else as deployed.
const ctx = useCluster({
  services: ["gateway", "invoker", "async-queue"],
  env: {
    NIMBUS_LOG_LEVEL: "warn",
    NIMBUS_ASYNC_RETRY_BASE_MS: "100",
    NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS: "200",
    NIMBUS_ASYNC_RETRY_MAX_MS: "1000",
    NIMBUS_ASYNC_IDLE_MS: "2000",
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

interface DestinationRecord {
  timestamp: number;
  requestContext: { requestId: string; functionArn: string; condition: string; approximateInvokeCount: number };
  requestPayload: string;
  responseContext: { statusCode: number; functionError: string };
  responsePayload: string;
}

/** A handler that counts its calls per event and fails the first `failures` of them. */
const FLAKY = `
  const calls = {};
  exports.handler = (event, context, callback) => {
    const e = String(event);
    calls[e] = (calls[e] || 0) + 1;
    const failures = Number(e.split(':')[1] || 0);
    if (calls[e] <= failures) return callback(new Error('attempt ' + calls[e] + ' of ' + e));
    callback(null, 'done ' + e + ' after ' + calls[e]);
  };`;

/** Sleeps for the milliseconds the event says, and reports when it ran. */
const SLEEPER = `exports.handler = (event, context, callback) => {
  const started = Date.now();
  setTimeout(() => callback(null, JSON.stringify({ started, ended: Date.now(), event: String(event) })), Number(String(event).split(':')[0]) || 0);
};`;

describe("asynchronous invocation through @alicloud/fc2", () => {
  it("answers 202 with an empty body once queued, runs the function, and delivers FC's destination record", async () => {
    const svc = uniqueName("as");
    const subject = uniqueName("dest.ok").replace("_", ".");
    const dest = new Collector(nc, subject);
    await deploy(ctx.cluster, svc, "echo", { "index.js": "exports.handler = (event, context, callback) => callback(null, 'got ' + event);" });
    await ctx.fc.putFunctionAsyncConfig(svc, "echo", "LATEST", { statefulInvocation: true, destinationConfig: { onSuccess: { destination: natsArn(subject) } } });

    const res = await ctx.fc.invokeFunction(svc, "echo", "hello", { "x-fc-invocation-type": "Async" });
    expect(res.data).toBe("");
    const requestId = res.headers["x-fc-request-id"];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

    const [msg] = await dest.waitFor(1);
    expect(msg?.headers?.get("Nimbus-Request-Id")).toBe(requestId);
    const record = msg?.json<DestinationRecord>();
    expect(record).toEqual({
      timestamp: expect.any(Number),
      requestContext: { requestId, functionArn: `acs:fc:cn-local:${ctx.cluster.credentials.accountId}:services/${svc}.LATEST/functions/echo`, condition: "Success", approximateInvokeCount: 1 },
      requestPayload: "hello",
      responseContext: { statusCode: 200, functionError: "" },
      responsePayload: "got hello",
    });

    // A stateful async invocation has a record, looked up by its id (the request id when the caller chose none);
    // how the destination went is recorded right after delivering it.
    const path = `/services/${svc}/functions/echo/stateful-async-invocations/${requestId}`;
    await expect.poll(async () => (await ctx.fc.get(path)).data.destinationStatus, { timeout: 10_000 }).toBe("Succeeded");
    const invocation = (await ctx.fc.get(path)).data;
    expect(invocation).toMatchObject({
      invocationId: requestId,
      requestId,
      status: "Succeeded",
      serviceName: svc,
      functionName: "echo",
      qualifier: "LATEST",
      alreadyRetriedTimes: 0,
      destinationStatus: "Succeeded",
      invocationErrorMessage: "",
      invocationPayload: "hello",
      returnPayload: "got hello",
      instanceId: expect.stringMatching(/^c-/),
    });
    expect(invocation.endTime).toBeGreaterThanOrEqual(invocation.startedTime);
    expect(invocation.events.map((e: { status: string }) => e.status)).toEqual(["Enqueued", "Running", "Succeeded"]);
    expect(invocation.events.map((e: { eventId: number }) => e.eventId)).toEqual([1, 2, 3]);
  });

  it("takes the invocation-type header in any letter case and the value case-insensitively", async () => {
    const svc = uniqueName("as");
    await deploy(ctx.cluster, svc, "echo", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    await ctx.fc.putFunctionAsyncConfig(svc, "echo", "LATEST", { statefulInvocation: true });
    const res = await send(ctx.cluster, {
      method: "POST",
      path: `/2016-08-15/services/${svc}/functions/echo/invocations`,
      headers: { "X-Fc-Invocation-Type": "async" },
      body: "x",
    });
    expect(res.status).toBe(202);
    expect(res.text).toBe("");
    const id = String(res.headers["x-fc-stateful-async-invocation-id"]);
    expect((await waitForInvocation(ctx.cluster.client(), svc, "echo", id)).status).toBe("Succeeded");
  });

  it("manages async configs with FC's shapes and errors", async () => {
    const svc = uniqueName("as");
    await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    await expectFcError(ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST"), "AsyncConfigNotExists");

    const put = await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", {
      maxAsyncRetryAttempts: 1,
      maxAsyncEventAgeInSeconds: 600,
      destinationConfig: { onFailure: { destination: fnArn(svc, "fn") } },
      statefulInvocation: true,
    });
    expect(put.data).toEqual({
      service: svc,
      function: "fn",
      qualifier: "LATEST",
      maxAsyncRetryAttempts: 1,
      maxAsyncEventAgeInSeconds: 600,
      destinationConfig: { onFailure: { destination: fnArn(svc, "fn") } },
      statefulInvocation: true,
      // Nimbus's own: what a chain of async calls that loops back on itself may do.
      recursiveLoop: "Terminate",
      maxChainDepth: 16,
      createdTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/),
      lastModifiedTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/),
    });
    const got = await ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST");
    expect(got.data).toEqual(put.data);

    // A second put replaces the config (FC defaults for what it leaves out) and keeps createdTime.
    await new Promise((r) => setTimeout(r, 5));
    const replaced = await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 0 });
    expect(replaced.data).toMatchObject({ maxAsyncRetryAttempts: 0, maxAsyncEventAgeInSeconds: 86_400, destinationConfig: {}, statefulInvocation: false, createdTime: put.data.createdTime });

    const list = await ctx.fc.listFunctionAsyncConfigs(svc, "fn");
    expect(list.data.configs).toEqual([replaced.data]);

    await expectFcError(ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 9 }), "InvalidArgument", "maxAsyncRetryAttempts");
    await expectFcError(ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncEventAgeInSeconds: 604_801 }), "InvalidArgument", "maxAsyncEventAgeInSeconds");
    await expectFcError(
      ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { destinationConfig: { onSuccess: { destination: "http://example.com" } } }),
      "InvalidArgument",
      "destination",
    );
    await expectFcError(ctx.fc.putFunctionAsyncConfig(svc, "nope", "LATEST", {}), "FunctionNotFound");
    await expectFcError(ctx.fc.putFunctionAsyncConfig(uniqueName("nosvc"), "fn", "LATEST", {}), "ServiceNotFound");
    // Refused puts changed nothing.
    expect((await ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST")).data).toEqual(replaced.data);

    const deleted = await ctx.fc.deleteFunctionAsyncConfig(svc, "fn", "LATEST");
    expect(deleted.data).toBe("");
    await expectFcError(ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST"), "AsyncConfigNotExists");
    await expectFcError(ctx.fc.deleteFunctionAsyncConfig(svc, "fn", "LATEST"), "AsyncConfigNotExists");
    expect((await ctx.fc.listFunctionAsyncConfigs(svc, "fn")).data.configs).toEqual([]);

    // A function's configs go with it.
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 2 });
    await ctx.fc.deleteFunction(svc, "fn");
    await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    await expectFcError(ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST"), "AsyncConfigNotExists");
  });

  it("never answers 202 for what it cannot queue", async () => {
    const svc = uniqueName("as");
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { statefulInvocation: true });
    const async = { "x-fc-invocation-type": "Async" };
    await expectFcError(ctx.fc.invokeFunction(svc, "missing", "x", async), "FunctionNotFound");
    await expectFcError(ctx.fc.invokeFunction(uniqueName("nosvc"), "fn", "x", async), "ServiceNotFound");
    await expectFcError(ctx.fc.invokeFunction(svc, "fn", "x", async, "prod"), "AliasNotFound");
    await expectFcError(ctx.fc.invokeFunction(svc, "fn", "x", { ...async, "x-fc-log-type": "Tail" }), "InvalidArgument", "LogType");
    await expectFcError(ctx.fc.invokeFunction(svc, "fn", "x", { ...async, "x-fc-stateful-async-invocation-id": "9starts-with-digit" }), "InvalidArgument", "invocation id");
    await expectFcError(ctx.fc.invokeFunction(svc, "fn", "x", { ...async, "x-fc-stateful-async-invocation-id": "a".repeat(129) }), "InvalidArgument", "invocation id");

    // 128 KB is the limit: at it is queued, one byte more is refused with FC's error.
    const limit = 128 * 1024;
    const at = await client.invokeFunction(svc, "fn", Buffer.alloc(limit, 0x61), { async: true });
    expect(at.status).toBe(202);
    const over = await send(ctx.cluster, {
      method: "POST",
      path: `/2016-08-15/services/${svc}/functions/fn/invocations`,
      headers: async,
      body: Buffer.alloc(limit + 1, 0x61),
    });
    expect(over.status).toBe(413);
    expect(over.json.ErrorCode).toBe("EntityTooLarge");
    expect(over.headers["x-fc-request-id"]).toBeTruthy();

    // Only the one that was accepted exists.
    await waitForInvocation(client, svc, "fn", String(at.headers.get("x-fc-stateful-async-invocation-id")));
    expect(await listAll(client, svc, "fn")).toHaveLength(1);
  });

  it("gives stateful invocations the caller's id, refuses to queue one twice, and lists them as FC does", async () => {
    const svc = uniqueName("as");
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "fn", { "index.js": FLAKY });
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { statefulInvocation: true });
    const first = await ctx.fc.invokeFunction(svc, "fn", "one", { "x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": "order_1" });
    expect(first.headers["x-fc-stateful-async-invocation-id"]).toBe("order_1");
    await expectFcError(
      ctx.fc.invokeFunction(svc, "fn", "one", { "x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": "order_1" }),
      "StatefulAsyncInvocationAlreadyExists",
    );
    // Ids belong to a function: another function may use the same one.
    await deploy(ctx.cluster, svc, "other", { "index.js": FLAKY });
    await invokeAsync(client, svc, "other", "x", "order_1");

    for (const [id, event] of [["order_2", "two"], ["order_3", "three:9"], ["batch_1", "four"]] as const) await invokeAsync(client, svc, "fn", event, id);
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { maxAsyncRetryAttempts: 0, statefulInvocation: true });
    for (const id of ["order_1", "order_2", "order_3", "batch_1"]) await waitForInvocation(client, svc, "fn", id);

    const got = await ctx.fc.get(`/services/${svc}/functions/fn/stateful-async-invocations/order_1`);
    expect(got.data).toMatchObject({ invocationId: "order_1", status: "Succeeded", invocationPayload: "one", returnPayload: "done one after 1" });
    expect(got.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    await expectFcError(ctx.fc.get(`/services/${svc}/functions/fn/stateful-async-invocations/never_was`), "StatefulAsyncInvocationNotExists");
    await expectFcError(ctx.fc.get(`/services/${svc}/functions/fn/stateful-async-invocations/bad.id`), "InvalidArgument");

    const base = `/services/${svc}/functions/fn/stateful-async-invocations`;
    const ids = (data: { invocations: { invocationId: string }[] }) => data.invocations.map((i) => i.invocationId);
    expect(ids((await ctx.fc.get(base)).data)).toEqual(["order_1", "order_2", "order_3", "batch_1"]);
    expect(ids((await ctx.fc.get(base, { sortOrderByTime: "desc" })).data)).toEqual(["batch_1", "order_3", "order_2", "order_1"]);
    expect(ids((await ctx.fc.get(base, { invocationIdPrefix: "order_" })).data)).toEqual(["order_1", "order_2", "order_3"]);
    expect(ids((await ctx.fc.get(base, { status: "Failed" })).data)).toEqual(["order_3"]);
    const order2 = (await ctx.fc.get(`${base}/order_2`)).data;
    expect(ids((await ctx.fc.get(base, { startedTimeBegin: order2.startedTime, startedTimeEnd: order2.startedTime })).data)).toEqual(["order_2"]);
    const page1 = (await ctx.fc.get(base, { limit: 3 })).data;
    expect(ids(page1)).toEqual(["order_1", "order_2", "order_3"]);
    expect(page1.nextToken).toBeTruthy();
    const page2 = (await ctx.fc.get(base, { limit: 3, nextToken: page1.nextToken })).data;
    expect(ids(page2)).toEqual(["batch_1"]);
    expect(page2.nextToken).toBeUndefined();
    expect((await ctx.fc.get(base, { includePayload: "false" })).data.invocations[0].invocationPayload).toBeUndefined();
    await expectFcError(ctx.fc.get(base, { status: "Sleeping" }), "InvalidArgument", "status");
    await expectFcError(ctx.fc.get(base, { limit: 101 }), "InvalidArgument", "limit");
  });

  it("retries a failing function with backoff, then sends the failure destination the full record", async () => {
    const svc = uniqueName("as");
    const subject = uniqueName("dest.fail").replace("_", ".");
    const dest = new Collector(nc, subject);
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "flaky", { "index.js": FLAKY });
    await ctx.fc.putFunctionAsyncConfig(svc, "flaky", "LATEST", {
      maxAsyncRetryAttempts: 2,
      statefulInvocation: true,
      destinationConfig: { onFailure: { destination: natsArn(subject) }, onSuccess: { destination: natsArn(`${subject}.ok`) } },
    });
    const ok = new Collector(nc, `${subject}.ok`);

    const failing = await invokeAsync(client, svc, "flaky", "always:99");
    await waitForInvocation(client, svc, "flaky", failing);
    // The destination is delivered, and its status written, just after the final state.
    const failed = await eventually(async () => {
      const record = (await client.getStatefulAsyncInvocation(svc, "flaky", failing)).data;
      expect(record.destinationStatus).not.toBe("");
      return record;
    }, "the failure destination's status");
    expect(failed).toMatchObject({ status: "Failed", alreadyRetriedTimes: 2, invocationErrorMessage: "attempt 3 of always:99", destinationStatus: "Succeeded" });
    expect(statuses(failed)).toEqual(["Enqueued", "Running", "Retrying", "Running", "Retrying", "Running", "Failed"]);
    expect(failed.events[2]?.eventDetail).toBe(JSON.stringify({ Error: "HandledInvocationError" }));
    // Backoff: each retry waited at least half its ceiling (100 ms, then 200 ms).
    const at = (i: number) => failed.events[i]?.timestamp ?? 0;
    expect(at(3) - at(2)).toBeGreaterThanOrEqual(50);
    expect(at(5) - at(4)).toBeGreaterThanOrEqual(100);

    const [msg] = await dest.waitFor(1);
    expect(msg?.json<DestinationRecord>()).toEqual({
      timestamp: expect.any(Number),
      requestContext: { requestId: failing, functionArn: expect.stringContaining(`services/${svc}.LATEST/functions/flaky`), condition: "RetriesExhausted", approximateInvokeCount: 3 },
      requestPayload: "always:99",
      responseContext: { statusCode: 200, functionError: "HandledInvocationError" },
      responsePayload: expect.stringContaining('"errorMessage":"attempt 3 of always:99"'),
    });

    // One that fails twice then succeeds ends Succeeded, on the success destination.
    const recovering = await invokeAsync(client, svc, "flaky", "twice:2");
    expect(await waitForInvocation(client, svc, "flaky", recovering)).toMatchObject({ status: "Succeeded", alreadyRetriedTimes: 2, returnPayload: "done twice:2 after 3" });
    const [success] = await ok.waitFor(1);
    expect(success?.json<DestinationRecord>().requestContext).toMatchObject({ requestId: recovering, condition: "Success", approximateInvokeCount: 3 });
    expect(dest.messages).toHaveLength(1);
  });

  it("delivers a destination record to another function, which runs it asynchronously", async () => {
    const svc = uniqueName("as");
    const subject = uniqueName("dest.sink").replace("_", ".");
    const sunk = new Collector(nc, subject);
    await deploy(ctx.cluster, svc, "source", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'from source: ' + e);" });
    await deploy(ctx.cluster, svc, "sink", { "index.js": "exports.handler = (e, c, cb) => cb(null, JSON.parse(String(e)).responsePayload.toUpperCase());" });
    await ctx.fc.putFunctionAsyncConfig(svc, "source", "LATEST", { destinationConfig: { onSuccess: { destination: fnArn(svc, "sink") } } });
    await ctx.fc.putFunctionAsyncConfig(svc, "sink", "LATEST", { statefulInvocation: true, destinationConfig: { onSuccess: { destination: natsArn(subject) } } });

    const id = await invokeAsync(ctx.cluster.client(), svc, "source", "ping");
    const [msg] = await sunk.waitFor(1);
    const record = msg?.json<DestinationRecord>();
    expect(record?.responsePayload).toBe("FROM SOURCE: PING");
    expect(JSON.parse(record?.requestPayload ?? "{}")).toMatchObject({ requestContext: { requestId: id, condition: "Success" }, responsePayload: "from source: ping" });
    // The sink's invocation has its own record, named after the one it reports on.
    const sinkInvocation = await waitForInvocation(ctx.cluster.client(), svc, "sink", `${id}-onSuccess`);
    expect(sinkInvocation.status).toBe("Succeeded");
  });

  it("stores destinations it cannot deliver to and reports them on use, never dropping them silently", async () => {
    const svc = uniqueName("as");
    await deploy(ctx.cluster, svc, "fn", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
    const mns = `acs:mns:cn-local:${ctx.cluster.credentials.accountId}:/queues/q/messages`;
    await ctx.fc.putFunctionAsyncConfig(svc, "fn", "LATEST", { statefulInvocation: true, destinationConfig: { onSuccess: { destination: mns } } });
    expect((await ctx.fc.getFunctionAsyncConfig(svc, "fn", "LATEST")).data.destinationConfig.onSuccess.destination).toBe(mns);
    const id = await invokeAsync(ctx.cluster.client(), svc, "fn", "x");
    const done = await waitForInvocation(ctx.cluster.client(), svc, "fn", id);
    expect(done.status).toBe("Succeeded");
    await expect
      .poll(async () => (await ctx.cluster.client().getStatefulAsyncInvocation(svc, "fn", id)).data.destinationStatus, { timeout: 10_000 })
      .toMatch(/^Failed: Nimbus cannot deliver to acs:mns:/);
  });

  it("stops a queued invocation before it runs, and a running one by killing its instance", async () => {
    const svc = uniqueName("as");
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "slow", { "index.js": SLEEPER }, { timeout: 60 });
    // One at a time, so the second waits in the queue behind the first.
    await ctx.fc.putFunctionAsyncConfig(svc, "slow", "LATEST", { maxAsyncConcurrency: 1, maxAsyncRetryAttempts: 3, statefulInvocation: true });
    const running = await invokeAsync(client, svc, "slow", "30000", "long_one");
    await waitForInvocation(client, svc, "slow", running, new Set(["Running"]));
    const queued = await invokeAsync(client, svc, "slow", "10", "queued_one");

    const stopQueued = await ctx.fc.put(`/services/${svc}/functions/slow/stateful-async-invocations/queued_one`);
    expect(stopQueued.headers["x-fc-request-id"]).toBeTruthy();
    const stoppedQueued = await waitForInvocation(client, svc, "slow", queued);
    expect(stoppedQueued.status).toBe("Stopped");
    expect(statuses(stoppedQueued)).toEqual(["Enqueued", "Stopped"]);

    await ctx.fc.put(`/services/${svc}/functions/slow/stateful-async-invocations/long_one`);
    const stopped = await waitForInvocation(client, svc, "slow", running, undefined, 15_000);
    expect(stopped.status).toBe("Stopped");
    expect(statuses(stopped)).toEqual(["Enqueued", "Running", "Stopping", "Stopped"]);
    // It is not retried, and the queue moves on.
    const after = await invokeAsync(client, svc, "slow", "1");
    expect((await waitForInvocation(client, svc, "slow", after)).status).toBe("Succeeded");
    expect((await client.getStatefulAsyncInvocation(svc, "slow", running)).data.status).toBe("Stopped");
    // Stopping a finished invocation changes nothing.
    await ctx.fc.put(`/services/${svc}/functions/slow/stateful-async-invocations/${after}`);
    expect((await client.getStatefulAsyncInvocation(svc, "slow", after)).data.status).toBe("Succeeded");
    await expectFcError(ctx.fc.put(`/services/${svc}/functions/slow/stateful-async-invocations/never_was`), "StatefulAsyncInvocationNotExists");
  });

  it("marks an invocation Invalid when its function is deleted before it runs", async () => {
    const svc = uniqueName("as");
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "doomed", { "index.js": SLEEPER }, { timeout: 30 });
    await ctx.fc.putFunctionAsyncConfig(svc, "doomed", "LATEST", { maxAsyncConcurrency: 1, statefulInvocation: true });
    const first = await invokeAsync(client, svc, "doomed", "1500");
    await waitForInvocation(client, svc, "doomed", first, new Set(["Running"]));
    const second = await invokeAsync(client, svc, "doomed", "1");
    await ctx.fc.deleteFunction(svc, "doomed");
    const invalid = await waitForInvocation(client, svc, "doomed", second);
    expect(invalid.status).toBe("Invalid");
    expect(invalid.invocationErrorMessage).toContain("doomed");
    expect(statuses(invalid)).not.toContain("Running");
  });

  it("caps a function's concurrent async runs at maxAsyncConcurrency", async () => {
    const svc = uniqueName("as");
    const subject = uniqueName("dest.cap").replace("_", ".");
    const done = new Collector(nc, subject);
    await deploy(ctx.cluster, svc, "capped", { "index.js": SLEEPER });
    await ctx.fc.putFunctionAsyncConfig(svc, "capped", "LATEST", { maxAsyncConcurrency: 2, destinationConfig: { onSuccess: { destination: natsArn(subject) } } });
    const jobs = 8;
    for (let i = 0; i < jobs; i++) await invokeAsync(ctx.cluster.client(), svc, "capped", `300:${i}`);
    const records = (await done.waitFor(jobs)).map((m) => JSON.parse(m.json<DestinationRecord>().responsePayload) as { started: number; ended: number });
    const edges = records.flatMap((r) => [
      { at: r.started, d: 1 },
      { at: r.ended, d: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.d - b.d);
    let running = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (running += e.d));
    console.log(`maxAsyncConcurrency 2: ${jobs} invocations, at most ${most} ran at once`);
    expect(most).toBeLessThanOrEqual(2);
  });

  it("refuses more than a function's backlog limit with 429, and takes invocations again once it drains", async () => {
    const svc = uniqueName("as");
    const gateway = await ctx.cluster.startService("gateway", { NIMBUS_ASYNC_MAX_BACKLOG: "3" });
    const client = ctx.cluster.client(ctx.cluster.services.get("gateway")?.indexOf(gateway));
    try {
      await deploy(ctx.cluster, svc, "jam", { "index.js": SLEEPER }, { timeout: 30 });
      await ctx.fc.putFunctionAsyncConfig(svc, "jam", "LATEST", { maxAsyncConcurrency: 1, statefulInvocation: true });
      const running = await invokeAsync(client, svc, "jam", "1500");
      await waitForInvocation(client, svc, "jam", running, new Set(["Running"]));
      const waiting = [];
      for (let i = 0; i < 3; i++) waiting.push(await invokeAsync(client, svc, "jam", "1"));
      // The gateway counts a backlog at most once a second.
      await new Promise((r) => setTimeout(r, 1_100));
      const refused = await client.invokeFunction(svc, "jam", "1", { async: true }).catch((e: { code: string; status: number }) => e);
      expect(refused).toMatchObject({ code: "ResourceExhausted", status: 429 });
      for (const id of waiting) expect((await waitForInvocation(client, svc, "jam", id)).status).toBe("Succeeded");
      await new Promise((r) => setTimeout(r, 1_100));
      const after = await invokeAsync(client, svc, "jam", "1");
      expect((await waitForInvocation(client, svc, "jam", after)).status).toBe("Succeeded");
    } finally {
      await gateway.stop();
    }
  });

  it("keeps other functions flowing while one has a backlog and another keeps failing", async () => {
    const svc = uniqueName("as");
    const client = ctx.cluster.client();
    await deploy(ctx.cluster, svc, "backlog", { "index.js": SLEEPER }, { timeout: 30 });
    await deploy(ctx.cluster, svc, "failing", { "index.js": FLAKY });
    await deploy(ctx.cluster, svc, "quick", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'quick');" });
    await ctx.fc.putFunctionAsyncConfig(svc, "quick", "LATEST", { statefulInvocation: true });
    await ctx.fc.putFunctionAsyncConfig(svc, "backlog", "LATEST", { maxAsyncConcurrency: 1, statefulInvocation: true });
    await ctx.fc.putFunctionAsyncConfig(svc, "failing", "LATEST", { maxAsyncRetryAttempts: 8 });

    const backlog: string[] = [];
    for (let i = 0; i < 20; i++) backlog.push(await invokeAsync(client, svc, "backlog", `500:${i}`));
    for (let i = 0; i < 20; i++) await invokeAsync(client, svc, "failing", `f${i}:99`);
    const quick: string[] = [];
    for (let i = 0; i < 10; i++) quick.push(await invokeAsync(client, svc, "quick", String(i)));
    for (const id of quick) expect((await waitForInvocation(client, svc, "quick", id)).status).toBe("Succeeded");

    const waiting = (await listAll(client, svc, "backlog")).filter((i) => i.status === "Enqueued").length;
    console.log(`fairness: 10 quick invocations done while ${waiting} of 20 backlogged ones still waited`);
    expect(waiting).toBeGreaterThan(5);
    for (const id of backlog) await ctx.fc.put(`/services/${svc}/functions/backlog/stateful-async-invocations/${id}`).catch(() => undefined);
  });
});
