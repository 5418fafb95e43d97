import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";
import { Collector, connectNats } from "../helpers/nats.js";

const ctx = useCluster({
  services: ["gateway", "invoker", "async-queue", "trigger-router"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_TRIGGER_ACK_WAIT_MS: "2000", NIMBUS_ASYNC_RETRY_BASE_MS: "100" },
});

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectNats(ctx.cluster);
});
afterAll(async () => {
  await nc?.close();
});

interface DestinationRecord {
  requestPayload: string;
  responsePayload: string;
  requestContext: { requestId: string; condition: string };
}

/** Returns the event it got, as text. */
const ECHO = "exports.handler = (event, context, callback) => callback(null, event.toString());";

/** A function that echoes its event, with every success sent to a NATS subject the test watches. */
async function echoFunction(svc: string, fn: string, code = ECHO): Promise<Collector> {
  const subject = `seen.${svc}.${fn}`;
  const seen = new Collector(nc, subject);
  await deploy(ctx.cluster, svc, fn, { "index.js": code });
  await ctx.fc.putFunctionAsyncConfig(svc, fn, "LATEST", { destinationConfig: { onSuccess: { destination: `acs:nats:::subjects/${subject}` } } });
  return seen;
}

const events = (c: Collector) => c.json<DestinationRecord>().map((r) => JSON.parse(r.responsePayload) as Record<string, unknown>);

describe("triggers through @alicloud/fc2 and the trigger router", () => {
  it("validates timer, NATS and OSS triggers as it stores them", async () => {
    const svc = uniqueName("trg");
    await deploy(ctx.cluster, svc, "fn", { "index.js": ECHO });
    const create = (triggerName: string, triggerType: string, triggerConfig: unknown, extra: Record<string, unknown> = {}) =>
      ctx.fc.createTrigger(svc, "fn", { triggerName, triggerType, triggerConfig, ...extra });

    const timer = await create("tick", "timer", { cronExpression: "0 0/5 * * * *", payload: "p" });
    expect(timer.data).toMatchObject({ triggerName: "tick", triggerType: "timer", triggerConfig: { cronExpression: "0 0/5 * * * *", payload: "p", enable: true }, qualifier: "LATEST" });
    await expectFcError(create("bad1", "timer", { cronExpression: "* * * * *" }), "InvalidArgument", "six fields");
    await expectFcError(create("bad2", "timer", { cronExpression: "0 61 * * * *" }), "InvalidArgument", "cron");
    await expectFcError(create("bad3", "timer", { cronExpression: "@every 0s" }), "InvalidArgument");

    const nats = await create("sub", "nats", { subject: "orders.*.created" });
    expect(nats.data.triggerConfig).toEqual({ subject: "orders.*.created", durable: false, invocationType: "Async", cloudEvents: true, maxDeliver: 5 });
    await expectFcError(create("bad4", "nats", { subject: "nimbus.invoke.place" }), "InvalidArgument", "overlaps");
    await expectFcError(create("bad5", "nats", { subject: ">" }), "InvalidArgument", "overlaps");
    await expectFcError(create("bad6", "nats", { subject: "a..b" }), "InvalidArgument", "subject");
    await expectFcError(create("bad7", "nats", { subject: "x.>.y" }), "InvalidArgument", "subject");
    await create("dur", "nats", { subject: `durable.${svc}.>`, durable: true });
    await expectFcError(create("bad8", "nats", { subject: `durable.${svc}.orders`, durable: true }), "InvalidArgument", "overlaps");

    const oss = await create("up", "oss", { events: ["oss:ObjectCreated:*"], filter: { key: { prefix: "img/", suffix: ".png" } } }, { sourceArn: "acs:oss:cn-local:123:uploads" });
    expect(oss.data).toMatchObject({ sourceArn: "acs:oss:cn-local:123:uploads", triggerConfig: { events: ["oss:ObjectCreated:*"], filter: { key: { prefix: "img/", suffix: ".png" } } } });
    await expectFcError(create("bad9", "oss", { events: ["oss:ObjectCreated:*"] }), "InvalidArgument", "sourceArn");
    await expectFcError(create("bad10", "oss", { events: ["s3:ObjectCreated:Put"] }, { sourceArn: "acs:oss:r:1:b" }), "InvalidArgument", "events");
    await expectFcError(create("bad11", "mns_topic", {}), "InvalidArgument", "not supported");
    expect((await ctx.fc.listTriggers(svc, "fn")).data.triggers.map((t: { triggerName: string }) => t.triggerName).sort()).toEqual(["dur", "sub", "tick", "up"]);
    for (const t of ["dur", "sub", "tick", "up"]) await ctx.fc.deleteTrigger(svc, "fn", t);
  });

  it("fires a timer every 2 s with FC's timer event, pauses it, and resumes it", async () => {
    const svc = uniqueName("tim");
    const seen = await echoFunction(svc, "tick");
    await ctx.fc.createTrigger(svc, "tick", { triggerName: "every2", triggerType: "timer", triggerConfig: { cronExpression: "@every 2s", payload: "hello timer" } });
    await seen.waitFor(2, 15_000);
    const [first, second] = events(seen);
    expect(first).toEqual({ triggerTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), triggerName: "every2", payload: "hello timer" });
    const gap = Date.parse(String(second?.triggerTime)) - Date.parse(String(first?.triggerTime));
    expect(gap).toBeGreaterThanOrEqual(1_000);
    expect(gap).toBeLessThanOrEqual(3_000);

    // Paused: no more fires (one already under way may still land).
    await ctx.fc.updateTrigger(svc, "tick", "every2", { triggerConfig: { cronExpression: "@every 2s", payload: "hello timer", enable: false } });
    await new Promise((r) => setTimeout(r, 1_000));
    const paused = seen.messages.length;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(seen.messages.length).toBe(paused);

    // A six-field cron with seconds.
    await ctx.fc.updateTrigger(svc, "tick", "every2", { triggerConfig: { cronExpression: "*/2 * * * * *", payload: "cron", enable: true } });
    await seen.waitFor(paused + 1, 10_000);
    expect(events(seen).at(-1)).toMatchObject({ triggerName: "every2", payload: "cron" });
    await ctx.fc.deleteTrigger(svc, "tick", "every2");
  });

  it("runs the function bound to orders.*.created with a CloudEvent, and passes CloudEvents through", async () => {
    const svc = uniqueName("nat");
    const seen = await echoFunction(svc, "orders");
    await ctx.fc.createTrigger(svc, "orders", { triggerName: "created", triggerType: "nats", triggerConfig: { subject: "orders.*.created" } });
    await new Promise((r) => setTimeout(r, 300)); // routers pick the trigger up from the watched bucket

    nc.publish("orders.42.created", JSON.stringify({ id: 42, total: 9.5 }));
    nc.publish("orders.42.updated", "ignored");
    nc.publish("orders.7.created", Buffer.from([0xff, 0x00, 0x10]));
    const structured = { specversion: "1.0", id: "ev-1", source: "shop", type: "order.created", data: { id: 1 } };
    nc.publish("orders.1.created", JSON.stringify(structured));
    const h = natsHeaders();
    for (const [k, v] of [["ce-specversion", "1.0"], ["ce-id", "ev-2"], ["ce-source", "billing"], ["ce-type", "invoice.paid"], ["content-type", "application/json"]]) h.set(k as string, v as string);
    nc.publish("orders.2.created", JSON.stringify({ amount: 3 }), { headers: h });

    await seen.waitFor(4, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.messages).toHaveLength(4);
    const byId = new Map(events(seen).map((e) => [String(e["subject"] ?? e["id"]), e]));
    expect(byId.get("orders.42.created")).toEqual({
      specversion: "1.0",
      id: expect.any(String),
      source: expect.stringMatching(/^nats:\/\/127\.0\.0\.1:\d+\/orders\.42\.created$/),
      type: "nimbus.nats.message",
      subject: "orders.42.created",
      time: expect.stringMatching(/Z$/),
      datacontenttype: "application/json",
      data: { id: 42, total: 9.5 },
    });
    expect(byId.get("orders.7.created")).toMatchObject({ datacontenttype: "application/octet-stream", data_base64: Buffer.from([0xff, 0x00, 0x10]).toString("base64") });
    expect(byId.get("ev-1")).toEqual(structured);
    expect(byId.get("ev-2")).toEqual({ specversion: "1.0", id: "ev-2", source: "billing", type: "invoice.paid", datacontenttype: "application/json", data: { amount: 3 } });

    // A change of subject takes effect without a restart.
    await ctx.fc.updateTrigger(svc, "orders", "created", { triggerConfig: { subject: "shipments.>" } });
    await new Promise((r) => setTimeout(r, 1_000));
    nc.publish("orders.43.created", "{}");
    nc.publish("shipments.eu.sent", JSON.stringify({ to: "eu" }));
    await seen.waitFor(5, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(events(seen).at(-1)).toMatchObject({ subject: "shipments.eu.sent", data: { to: "eu" } });
    expect(seen.messages).toHaveLength(5);
  });

  it("answers a request through a Sync trigger with the function's result", async () => {
    const svc = uniqueName("req");
    await deploy(ctx.cluster, svc, "add", {
      "index.js": "exports.handler = (e, c, cb) => { const { data } = JSON.parse(e); if (data.fail) return cb(new Error('no')); cb(null, String(data.a + data.b)); };",
    });
    await ctx.fc.createTrigger(svc, "add", { triggerName: "rpc", triggerType: "nats", triggerConfig: { subject: `calc.${svc}.add`, invocationType: "Sync" } });
    await new Promise((r) => setTimeout(r, 300));
    const reply = await nc.request(`calc.${svc}.add`, JSON.stringify({ a: 2, b: 3 }), { timeout: 10_000 });
    expect(reply.string()).toBe("5");
    expect(reply.headers?.get("Nimbus-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    const failed = await nc.request(`calc.${svc}.add`, JSON.stringify({ fail: true }), { timeout: 10_000 });
    expect(failed.headers?.get("Nimbus-Error-Type")).toBe("HandledInvocationError");
    expect(failed.json<{ errorMessage: string }>().errorMessage).toBe("no");
  });

  it("delivers every message of a durable trigger, and records the ones that keep failing", async () => {
    const svc = uniqueName("dur");
    const seen = await echoFunction(svc, "jobs");
    await ctx.fc.createTrigger(svc, "jobs", { triggerName: "queue", triggerType: "nats", triggerConfig: { subject: `work.${svc}.>`, durable: true } });
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 20; i++) nc.publish(`work.${svc}.item`, JSON.stringify({ i }));
    await seen.waitFor(20, 20_000);
    expect(new Set(events(seen).map((e) => (e["data"] as { i: number }).i)).size).toBe(20);

    // Sync and always failing: redelivered up to maxDeliver, then recorded on the failure stream.
    await deploy(ctx.cluster, svc, "broken", { "index.js": "exports.handler = () => { throw new Error('cannot'); };" });
    const failures = new Collector(nc, `nimbus.triggers.failed.${svc}.broken.>`);
    await ctx.fc.createTrigger(svc, "broken", { triggerName: "q", triggerType: "nats", triggerConfig: { subject: `doomed.${svc}`, durable: true, invocationType: "Sync", maxDeliver: 2 } });
    await new Promise((r) => setTimeout(r, 500));
    nc.publish(`doomed.${svc}`, "payload");
    const [record] = await failures.waitFor(1, 20_000);
    expect(record?.json()).toMatchObject({ subject: `doomed.${svc}`, deliveries: 2, errorCode: "UnhandledInvocationError", data_base64: Buffer.from("payload").toString("base64") });
  });

  it("keeps trying a durable trigger whose stream cannot be made yet, and it holds up no other trigger", async () => {
    const svc = uniqueName("blk");
    const jsm = await jetstreamManager(nc);
    // A stream of someone else's already takes the subject: the trigger's own cannot be made.
    const blocker = `BLOCKER_${svc.toUpperCase()}`;
    await jsm.streams.add({ name: blocker, subjects: [`blocked.${svc}.>`] });
    const seen = await echoFunction(svc, "jobs");
    await ctx.fc.createTrigger(svc, "jobs", { triggerName: "queue", triggerType: "nats", triggerConfig: { subject: `blocked.${svc}.>`, durable: true } });

    // Meanwhile, a trigger created after it listens.
    await deploy(ctx.cluster, svc, "echo", { "index.js": ECHO });
    await ctx.fc.createTrigger(svc, "echo", { triggerName: "rpc", triggerType: "nats", triggerConfig: { subject: `free.${svc}`, invocationType: "Sync", cloudEvents: false } });
    const reply = await eventually(() => nc.request(`free.${svc}`, "hello", { timeout: 5_000 }), "the Sync trigger answering", 15_000);
    expect(reply.string()).toBe("hello");
    expect(seen.messages).toHaveLength(0);

    // Once the subject is free, the durable trigger's stream is made without touching the trigger.
    await jsm.streams.delete(blocker);
    const stream = await eventually(async () => {
      const name = await jsm.streams.find(`blocked.${svc}.x`);
      if (name === blocker) throw new Error("still the blocker's");
      return name;
    }, "the durable trigger's stream", 20_000);
    expect(stream).toMatch(/_TRG_/);
    const js = jetstream(nc);
    // (A publisher retries while the stream settles, as one would: "no responders" means none took it.)
    for (let i = 0; i < 3; i++) await eventually(() => js.publish(`blocked.${svc}.x`, JSON.stringify({ i })), `publishing ${i}`, 10_000);
    await seen.waitFor(3, 20_000);
    expect(new Set(events(seen).map((e) => (e["data"] as { i: number }).i))).toEqual(new Set([0, 1, 2]));
  });

  it("runs the function whose filter takes a MinIO notification's object, and not the others", async () => {
    const svc = uniqueName("oss");
    const png = await echoFunction(svc, "png");
    const jpg = await echoFunction(svc, "jpg");
    const arn = `acs:oss:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:uploads`;
    await ctx.fc.createTrigger(svc, "png", { triggerName: "t", triggerType: "oss", sourceArn: arn, triggerConfig: { events: ["oss:ObjectCreated:*"], filter: { key: { prefix: "img/", suffix: ".png" } } } });
    await ctx.fc.createTrigger(svc, "jpg", { triggerName: "t", triggerType: "oss", sourceArn: arn, triggerConfig: { events: ["oss:ObjectCreated:PutObject"], filter: { key: { suffix: ".jpg" } } } });
    await new Promise((r) => setTimeout(r, 300));

    // What MinIO publishes to its NATS target (keys URL-encoded).
    const notification = (key: string, eventName = "s3:ObjectCreated:Put", bucket = "uploads") => ({
      EventName: eventName,
      Key: `${bucket}/${key}`,
      Records: [
        {
          eventVersion: "2.0",
          eventSource: "minio:s3",
          awsRegion: "",
          eventTime: "2026-11-21T08:00:00.000Z",
          eventName,
          userIdentity: { principalId: "minioadmin" },
          requestParameters: { sourceIPAddress: "10.0.0.7" },
          responseElements: { "x-amz-request-id": "17A0B0C0D0E0F000" },
          s3: { s3SchemaVersion: "1.0", bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object: { key, size: 2048, eTag: "d41d8cd98f00b204e9800998ecf8427e" } },
        },
      ],
    });
    nc.publish("nimbus.objects.events", JSON.stringify(notification("img%2Fa.png")));
    nc.publish("nimbus.objects.events", JSON.stringify(notification("img%2Fb.png", "s3:ObjectRemoved:Delete")));
    nc.publish("nimbus.objects.events", JSON.stringify(notification("img%2Fc.png", "s3:ObjectCreated:Put", "other-bucket")));
    nc.publish("nimbus.objects.events", JSON.stringify(notification("docs%2Fd.png")));
    nc.publish("nimbus.objects.events", "not a notification");

    await png.waitFor(1, 15_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(png.messages).toHaveLength(1);
    expect(jpg.messages).toHaveLength(0);
    expect(events(png)[0]).toEqual({
      events: [
        {
          eventName: "ObjectCreated:PutObject",
          eventSource: "acs:oss",
          eventTime: "2026-11-21T08:00:00.000Z",
          eventVersion: "1.0",
          region: ctx.cluster.credentials.region,
          oss: { bucket: { name: "uploads", arn: `acs:oss:${ctx.cluster.credentials.region}::uploads` }, object: { key: "img/a.png", size: 2048, eTag: "d41d8cd98f00b204e9800998ecf8427e" }, ossSchemaVersion: "1.0" },
          requestParameters: { sourceIPAddress: "10.0.0.7" },
          responseElements: { requestId: "17A0B0C0D0E0F000" },
          userIdentity: { principalId: "minioadmin" },
        },
      ],
    });
    nc.publish("nimbus.objects.events", JSON.stringify(notification("photos%2Fx.jpg")));
    await jpg.waitFor(1, 15_000);
    expect((events(jpg)[0]?.["events"] as { oss: { object: { key: string } } }[])[0]?.oss.object.key).toBe("photos/x.jpg");
  });
});
