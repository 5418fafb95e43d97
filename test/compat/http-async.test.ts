import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { waitForInvocation } from "../helpers/async.js";
import { uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

// Issue 15: `X-Fc-Invocation-Type: Async` on an HTTP trigger or a custom domain queues the request,
// as FC does: 202 at once, and the HTTP handler runs it later, retried and recorded like any async call.
const ctx = useCluster({ services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const HANDLER = `exports.handler = (req, resp, context) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => resp.send(JSON.stringify({ method: req.method, path: req.path, queries: req.queries, header: req.headers['x-custom'], body, requestId: context.requestId })));
};`;

describe("asynchronous invocations through HTTP triggers", () => {
  it("queue the request on /proxy and on a custom domain, answer 202 with its ids, and reach the HTTP handler with method, path, queries, headers and body", async () => {
    const svc = uniqueName("hasync");
    await deploy(ctx.cluster, svc, "web", { "index.js": HANDLER });
    await ctx.fc.putFunctionAsyncConfig(svc, "web", "LATEST", { statefulInvocation: true });
    await ctx.fc.createTrigger(svc, "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["POST"] } });
    const domain = `${uniqueName("async").replace("_", "-")}.example.com`;
    await ctx.fc.createCustomDomain(domain, { protocol: "HTTP", routeConfig: { routes: [{ path: "/*", serviceName: svc, functionName: "web" }] } });
    const client = ctx.cluster.client();
    for (const [how, path, host] of [
      ["trigger", `/2016-08-15/proxy/${svc}/web/orders/7?q=1`, undefined],
      ["domain", "/orders/7?q=1", domain],
    ] as const) {
      const res = await send(ctx.cluster, { method: "POST", path, headers: { "x-fc-invocation-type": "Async", "x-custom": how, ...(host ? { host } : {}) }, body: `from ${how}`, sign: false });
      expect(res.status, how).toBe(202);
      expect(res.text, how).toBe("");
      const requestId = String(res.headers["x-fc-request-id"]);
      const id = String(res.headers["x-fc-stateful-async-invocation-id"]);
      expect(id, how).toBe(requestId);
      const done = await waitForInvocation(client, svc, "web", id);
      expect(done.status, how).toBe("Succeeded");
      expect(JSON.parse(done.returnPayload ?? "{}"), how).toEqual({ method: "POST", path: "/orders/7", queries: { q: "1" }, header: how, body: `from ${how}`, requestId });
    }
  });

  it("checks the trigger's methods and limits before queueing anything", async () => {
    const svc = uniqueName("hasync");
    await deploy(ctx.cluster, svc, "web", { "index.js": HANDLER });
    await ctx.fc.putFunctionAsyncConfig(svc, "web", "LATEST", { statefulInvocation: true });
    await ctx.fc.createTrigger(svc, "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["POST"] } });
    const get = await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/${svc}/web/`, headers: { "x-fc-invocation-type": "Async" }, sign: false });
    expect(get.status).toBe(405);
    const big = await send(ctx.cluster, { method: "POST", path: `/2016-08-15/proxy/${svc}/web/`, headers: { "x-fc-invocation-type": "Async" }, body: "x".repeat(200 * 1024), sign: false });
    expect(big.status).toBe(413);
    expect(big.json.ErrorCode).toBe("EntityTooLarge");
    const bad = await send(ctx.cluster, { method: "POST", path: `/2016-08-15/proxy/${svc}/web/`, headers: { "x-fc-invocation-type": "Later" }, sign: false });
    expect(bad.status).toBe(400);
    expect((await ctx.cluster.client().listStatefulAsyncInvocations(svc, "web")).data.invocations ?? []).toEqual([]);
  });
});
