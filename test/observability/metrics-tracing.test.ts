import { createServer, type Server } from "node:http";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import type { NimbusClient } from "@nimbus/sdk";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { fcClient } from "../helpers/fc.js";

/** Answers by the event: "ok", "fail" (a handled error), "hang" (past its timeout), "trace" (its context.tracing). */
const SCRIPTED = `
exports.handler = (event, context, callback) => {
  const what = event.toString();
  if (what === "fail") return callback(new Error("asked to fail"));
  if (what === "hang") return setTimeout(() => callback(null, "too late"), 5000);
  if (what === "trace") return callback(null, JSON.stringify(context.tracing));
  callback(null, "ok");
};`;

/** An HTTP function that answers with its context.tracing. */
const HTTP_TRACING = `
exports.handler = (request, response, context) => {
  response.setHeader("content-type", "application/json");
  response.send(JSON.stringify(context.tracing));
};`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition, parsed into samples. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, "$1");
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of a series' samples whose labels include `match`. */
function total(samples: Sample[], name: string, match: Record<string, string>): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

async function scrape(url: string): Promise<{ status: number; type: string; samples: Sample[] }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", samples: parsePrometheus(text) };
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const CALLER = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

describe("metrics, and trace context without a collector", () => {
  let cluster: TestCluster;
  let client: NimbusClient;
  beforeAll(async () => {
    cluster = await TestCluster.start({
      services: ["gateway", "invoker", "async-queue", "log-collector"],
      env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_METRICS_PORT: "0", NIMBUS_QUEUE_WAIT_MS: "500" },
    });
    client = cluster.client();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("counts invocations, errors by type, cold starts, timeouts and throttles on the invoker's /metrics, and in the metrics API", async () => {
    await deploy(cluster, "metrics", "scripted", { "index.js": SCRIPTED }, { timeout: 1 });
    // cold ok, ok, ok, handled error, timeout (the instance is killed), cold ok again
    const outcomes = [];
    for (const event of ["ok", "ok", "ok", "fail", "hang", "ok"]) {
      const res = await client.invokeFunction("metrics", "scripted", event);
      outcomes.push(res.headers.get("x-fc-error-type") ?? "none");
    }
    expect(outcomes).toEqual(["none", "none", "none", "HandledInvocationError", "UnhandledInvocationError", "none"]);

    const port = cluster.service("invoker").ready?.metricsPort;
    expect(port).toBeGreaterThan(0);
    const scraped = await scrape(`http://127.0.0.1:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.type).toMatch(/^text\/plain/);
    const fn = { service: "metrics", function: "scripted", qualifier: "LATEST", trigger: "api" };
    const s = scraped.samples;
    expect(total(s, "faas_invocations_total", fn)).toBe(6);
    expect(total(s, "faas_errors_total", { ...fn, error_type: "HandledInvocationError" })).toBe(1);
    expect(total(s, "faas_errors_total", { ...fn, error_type: "UnhandledInvocationError" })).toBe(1);
    expect(total(s, "faas_errors_total", fn)).toBe(2);
    expect(total(s, "faas_coldstarts_total", fn)).toBe(2);
    expect(total(s, "faas_timeouts_total", fn)).toBe(1);
    expect(total(s, "faas_invoke_duration_seconds_count", fn)).toBe(6);
    expect(total(s, "faas_invoke_duration_seconds_bucket", { ...fn, le: "+Inf" })).toBe(6);
    expect(total(s, "faas_init_duration_seconds_count", fn)).toBe(2);
    // OpenTelemetry's FaaS bucket advice, and no label that grows per request.
    const les = s.filter((x) => x.name === "faas_invoke_duration_seconds_bucket" && x.labels["function"] === "scripted").map((x) => x.labels["le"]);
    expect(les).toEqual(["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5", "10", "+Inf"]);
    // (component and node are every series' default labels: which process and node served it)
    for (const x of s.filter((x) => x.name.startsWith("faas_"))) expect(Object.keys(x.labels).sort().join(",")).toMatch(/^component,(error_type,)?function,(le,)?node,qualifier,service,trigger$/);
    expect(total(s, "nimbus_connection_up", { dependency: "nats" })).toBe(1);
    expect(total(s, "nimbus_connection_up", { dependency: "redis" })).toBe(1);

    // At its limit of one instance, a second caller waits out the queue wait (0.5 s) and is throttled.
    await deploy(cluster, "metrics", "single", { "index.js": SCRIPTED }, { timeout: 3 });
    await client.putOnDemandConfig("metrics", "LATEST", "single", 1);
    const first = client.invokeFunction("metrics", "single", "hang").catch((e: unknown) => e);
    await eventually(async () => expect((await client.listInstances("metrics", "single")).data.instances).toHaveLength(1), "the instance running");
    const refused = await client.invokeFunction("metrics", "single", "ok").then(
      () => undefined,
      (e: { code: string; status: number }) => e,
    );
    expect(refused).toMatchObject({ code: "ResourceExhausted", status: 429 });
    await first;
    const after = (await scrape(`http://127.0.0.1:${port}/metrics`)).samples;
    const single = { service: "metrics", function: "single", qualifier: "LATEST", trigger: "api" };
    expect(total(after, "faas_throttles_total", single)).toBe(1);
    expect(total(after, "faas_invocations_total", single)).toBe(1);

    // The same sequence, from the invocation records, in the per-function metrics API.
    await eventually(async () => {
      const res = await client.getFunctionMetrics("metrics", "scripted", { since: String(Date.now() - 600_000), step: "60" });
      const sum = (k: "invocations" | "errors" | "coldStarts" | "throttles" | "timeouts") => res.data.points.reduce((n, p) => n + p[k], 0);
      expect({ invocations: sum("invocations"), errors: sum("errors"), coldStarts: sum("coldStarts"), timeouts: sum("timeouts"), throttles: sum("throttles") }).toEqual({
        invocations: 6,
        errors: 2,
        coldStarts: 2,
        timeouts: 1,
        throttles: 0,
      });
      const busiest = res.data.points.find((p) => p.invocations > 0);
      expect(busiest?.durationP99Ms).toBeGreaterThanOrEqual(busiest?.durationP50Ms ?? Infinity);
    }, "the metrics API counted the sequence");
    await eventually(async () => {
      const res = await client.getFunctionMetrics("metrics", "single", { since: String(Date.now() - 600_000) });
      expect(res.data.points.reduce((n, p) => n + p.throttles, 0)).toBe(1);
    }, "the metrics API counted the throttle");
  });

  it("serves the gateway's metrics on the API port, and every other service's on its own", async () => {
    const gateway = await send(cluster, { method: "GET", path: "/metrics", sign: false });
    expect(gateway.status).toBe(200);
    const samples = parsePrometheus(gateway.text);
    expect(total(samples, "nimbus_connection_up", { dependency: "nats" })).toBe(1);
    expect(samples.some((x) => x.name.startsWith("process_"))).toBe(true);
    for (const name of ["async-queue", "log-collector"] as const) {
      const port = cluster.service(name).ready?.metricsPort;
      expect(port, name).toBeGreaterThan(0);
      const scraped = await scrape(`http://127.0.0.1:${port}/metrics`);
      expect(total(scraped.samples, "nimbus_connection_up", { dependency: "nats" }), name).toBe(1);
      // Probes (a Kubernetes readinessProbe): ready while its NATS and Redis connections are up.
      const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(readyz.status, name).toBe(200);
      expect(await readyz.text()).toBe("ready\n");
    }
  });

  it("hands a caller's traceparent to the function unchanged when nothing records spans: event, HTTP and async", async () => {
    await deploy(cluster, "tracing", "event", { "index.js": SCRIPTED });
    await client.putFunctionAsyncConfig("tracing", "event", undefined, { statefulInvocation: true });
    const sync = await client.invokeFunction("tracing", "event", "trace", { headers: { traceparent: CALLER } });
    expect(JSON.parse(sync.data.toString())).toEqual({
      traceparent: CALLER,
      // A span of the invocation's own, a child of the caller's.
      openTracingSpanContext: expect.stringMatching(new RegExp(`^${TRACE_ID}:[0-9a-f]{16}:${CALLER_SPAN}:01$`)),
      openTracingSpanBaggages: {},
      jaegerEndpoint: "",
    });
    // No traceparent, or a malformed one: an empty one (FC's context shape stays the same).
    const none = await client.invokeFunction("tracing", "event", "trace", { headers: { traceparent: "00-not-a-trace-01" } });
    expect(JSON.parse(none.data.toString())).toMatchObject({ traceparent: "", openTracingSpanContext: "" });

    await deploy(cluster, "tracing", "web", { "index.js": HTTP_TRACING });
    await client.createTrigger("tracing", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const web = await send(cluster, { method: "GET", path: "/2016-08-15/proxy/tracing/web/", sign: false, headers: { traceparent: CALLER } });
    expect(web.status).toBe(200);
    expect(web.json).toMatchObject({ traceparent: CALLER, openTracingSpanContext: expect.stringMatching(new RegExp(`^${TRACE_ID}:[0-9a-f]{16}:${CALLER_SPAN}:01$`)) });

    const id = `trace-${Date.now()}`;
    await client.invokeFunction("tracing", "event", "trace", { async: true, headers: { traceparent: CALLER, "x-fc-stateful-async-invocation-id": id } });
    const done = await eventually(async () => {
      const res = await client.getStatefulAsyncInvocation("tracing", "event", id);
      expect(res.data.status).toBe("Succeeded");
      return res.data;
    }, "the async invocation finished");
    expect(JSON.parse(done.returnPayload as string)).toMatchObject({ traceparent: CALLER });
  });

  it("takes FC's OpenTracing span context and baggage headers, and gives the function its service's Jaeger endpoint", async () => {
    const fc = fcClient(cluster);
    await fc.createService("jaeger", { tracingConfig: { type: "Jaeger", params: { endpoint: "http://jaeger.example:14268/api/traces" } } });
    await deploy(cluster, "jaeger", "event", { "index.js": SCRIPTED });
    const headers = {
      "x-fc-tracing-opentracing-span-context": `${TRACE_ID}:${CALLER_SPAN}:0:1`,
      "x-fc-tracing-opentracing-span-context-baggage-user": "ann",
      "x-fc-tracing-opentracing-span-context-baggage-tier": "gold",
    };
    const sync = await fc.invokeFunction("jaeger", "event", "trace", headers);
    expect(JSON.parse(sync.data.toString())).toEqual({
      traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
      openTracingSpanContext: expect.stringMatching(new RegExp(`^${TRACE_ID}:[0-9a-f]{16}:${CALLER_SPAN}:01$`)),
      openTracingSpanBaggages: { user: "ann", tier: "gold" },
      jaegerEndpoint: "http://jaeger.example:14268/api/traces",
    });
    // Jaeger's 64-bit trace ids are widened to W3C's 128 bits; W3C's traceparent wins when both are sent.
    const short = await fc.invokeFunction("jaeger", "event", "trace", { "x-fc-tracing-opentracing-span-context": "abc:def:0:1" });
    expect(JSON.parse(short.data.toString())).toMatchObject({ traceparent: `00-${"abc".padStart(32, "0")}-${"def".padStart(16, "0")}-01` });
    const both = await fc.invokeFunction("jaeger", "event", "trace", { ...headers, traceparent: "00-11111111111111111111111111111111-2222222222222222-01" });
    expect(JSON.parse(both.data.toString())).toMatchObject({ traceparent: "00-11111111111111111111111111111111-2222222222222222-01" });
    // Through an HTTP trigger too; a malformed span context is ignored.
    await deploy(cluster, "jaeger", "web", { "index.js": HTTP_TRACING });
    await fc.createTrigger("jaeger", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const web = await send(cluster, { method: "GET", path: "/2016-08-15/proxy/jaeger/web/", sign: false, headers });
    expect(web.json).toMatchObject({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, openTracingSpanBaggages: { user: "ann", tier: "gold" }, jaegerEndpoint: "http://jaeger.example:14268/api/traces" });
    const bad = await fc.invokeFunction("jaeger", "event", "trace", { "x-fc-tracing-opentracing-span-context": "not:a:context" });
    expect(JSON.parse(bad.data.toString())).toMatchObject({ traceparent: "", openTracingSpanContext: "" });
  });
});

interface ReceivedSpan {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
}

/** An OTLP/HTTP (JSON) trace receiver on loopback: what an OpenTelemetry collector would get. */
async function otlpReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; contentTypes: Set<string> }> {
  const spans: ReceivedSpan[] = [];
  const contentTypes = new Set<string>();
  const value = (v: Record<string, unknown>): unknown => v["stringValue"] ?? v["boolValue"] ?? (v["intValue"] !== undefined ? Number(v["intValue"]) : v["doubleValue"]);
  const attrs = (list: { key: string; value: Record<string, unknown> }[] = []) => Object.fromEntries(list.map((a) => [a.key, value(a.value)]));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      contentTypes.add(req.headers["content-type"] ?? "");
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      if (req.url === "/v1/traces") {
        const payload = JSON.parse(body.toString()) as {
          resourceSpans: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeSpans: { spans: (Omit<ReceivedSpan, "attributes" | "service"> & { attributes: { key: string; value: Record<string, unknown> }[] })[] }[] }[];
        };
        for (const rs of payload.resourceSpans) {
          const service = String(attrs(rs.resource.attributes)["service.name"]);
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ service, name: s.name, kind: s.kind, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "", attributes: attrs(s.attributes as never) });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}`, spans, contentTypes };
}

describe("traces exported to an OTLP collector", () => {
  let cluster: TestCluster;
  let client: NimbusClient;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  beforeAll(async () => {
    receiver = await otlpReceiver();
    cluster = await TestCluster.start({
      services: ["gateway", "invoker", "async-queue"],
      env: { NIMBUS_LOG_LEVEL: "warn", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    });
    client = cluster.client();
  });
  afterAll(async () => {
    await cluster?.stop();
    receiver?.server.close();
  });

  const inTrace = () => receiver.spans.filter((s) => s.traceId === TRACE_ID);

  it("continues the caller's trace through the gateway and the invoker to the function (sync)", async () => {
    await deploy(cluster, "otel", "fn", { "index.js": SCRIPTED });
    await client.putFunctionAsyncConfig("otel", "fn", undefined, { statefulInvocation: true });
    const res = await client.invokeFunction("otel", "fn", "trace", { headers: { traceparent: CALLER } });
    const tracing = JSON.parse(res.data.toString()) as { traceparent: string; openTracingSpanContext: string };
    const [, traceId, parentId] = tracing.traceparent.split("-");
    expect(traceId).toBe(TRACE_ID);

    const spans = await eventually(async () => {
      const found = inTrace().filter((s) => s.attributes["faas.invocation_id"] === res.requestId);
      expect(found.map((s) => s.service).sort()).toEqual(["nimbus-gateway", "nimbus-invoker"]);
      return found;
    }, "the gateway's and the invoker's spans");
    const gateway = spans.find((s) => s.service === "nimbus-gateway") as ReceivedSpan;
    const invoker = spans.find((s) => s.service === "nimbus-invoker") as ReceivedSpan;
    expect(gateway.parentSpanId).toBe(CALLER_SPAN);
    expect(invoker.parentSpanId).toBe(gateway.spanId);
    // The function's parent is the invoker's span: its own spans nest under the invocation.
    expect(parentId).toBe(invoker.spanId);
    expect(tracing.openTracingSpanContext).toMatch(new RegExp(`^${TRACE_ID}:[0-9a-f]{16}:${invoker.spanId}:01$`));
    expect(gateway).toMatchObject({ name: "invoke otel/fn", kind: 2, attributes: { "faas.invoked_name": "fn", "nimbus.service": "otel" } });
    expect(invoker).toMatchObject({
      name: "invoke otel/fn",
      kind: 2,
      attributes: { "faas.trigger": "other", "faas.name": "fn", "faas.version": "LATEST", "faas.coldstart": true, "faas.invocation_id": res.requestId },
    });
    expect(receiver.contentTypes).toContain("application/json");
  });

  it("carries the trace through the async queue: enqueue, process, invoke", async () => {
    const id = `otel-${Date.now()}`;
    await client.invokeFunction("otel", "fn", "trace", { async: true, headers: { traceparent: CALLER, "x-fc-stateful-async-invocation-id": id } });
    const done = await eventually(async () => {
      const res = await client.getStatefulAsyncInvocation("otel", "fn", id);
      expect(res.data.status).toBe("Succeeded");
      return res.data;
    }, "the async invocation finished");
    const requestId = done.requestId as string;
    const tracing = JSON.parse(done.returnPayload as string) as { traceparent: string };

    const spans = await eventually(async () => {
      const found = inTrace().filter((s) => s.attributes["faas.invocation_id"] === requestId);
      expect(found.map((s) => s.service).sort()).toEqual(["nimbus-async-queue", "nimbus-gateway", "nimbus-invoker"]);
      return found;
    }, "the enqueue, process and invoke spans");
    const enqueue = spans.find((s) => s.service === "nimbus-gateway") as ReceivedSpan;
    const processSpan = spans.find((s) => s.service === "nimbus-async-queue") as ReceivedSpan;
    const invoker = spans.find((s) => s.service === "nimbus-invoker") as ReceivedSpan;
    expect(enqueue).toMatchObject({ name: "enqueue otel/fn", kind: 4, parentSpanId: CALLER_SPAN, attributes: { "faas.trigger": "other" } });
    expect(processSpan).toMatchObject({ kind: 5, parentSpanId: enqueue.spanId });
    expect(invoker).toMatchObject({ parentSpanId: processSpan.spanId, attributes: { "faas.trigger": "other", "faas.coldstart": false } });
    expect(tracing.traceparent.split("-")[2]).toBe(invoker.spanId);
  });
});

describe("a service's own trace endpoint (its tracingConfig), without a platform collector", () => {
  let cluster: TestCluster;
  let client: NimbusClient;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  beforeAll(async () => {
    receiver = await otlpReceiver();
    cluster = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
    client = cluster.client();
  });
  afterAll(async () => {
    await cluster?.stop();
    receiver?.server.close();
  });

  it("receives that service's spans, and no other's", async () => {
    await client.createService("traced", { tracingConfig: { type: "OTLP", params: { endpoint: `${receiver.url}/v1/traces` } } });
    await deploy(cluster, "traced", "fn", { "index.js": SCRIPTED });
    await deploy(cluster, "quiet", "fn", { "index.js": SCRIPTED });
    const traced = await client.invokeFunction("traced", "fn", "trace", { headers: { traceparent: CALLER } });
    const quiet = await client.invokeFunction("quiet", "fn", "trace", { headers: { traceparent: CALLER } });
    const spans = await eventually(async () => {
      const found = receiver.spans.filter((s) => s.attributes["faas.invocation_id"] === traced.requestId);
      expect(found.map((s) => s.service).sort()).toEqual(["nimbus-gateway", "nimbus-invoker"]);
      return found;
    }, "the traced service's spans at its endpoint");
    for (const s of spans) expect(s.traceId).toBe(TRACE_ID);
    // The function's parent is the invoker's span, as when the platform traces everything.
    const invoker = spans.find((s) => s.service === "nimbus-invoker") as ReceivedSpan;
    expect(JSON.parse(traced.data.toString()).traceparent.split("-")[2]).toBe(invoker.spanId);
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.spans.filter((s) => s.attributes["faas.invocation_id"] === quiet.requestId)).toEqual([]);
    expect(JSON.parse(quiet.data.toString()).traceparent).toBe(CALLER);
  });
});
