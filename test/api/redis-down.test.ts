import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { eventually } from "../helpers/functions.js";
import { send, type RawResponse } from "../helpers/http.js";
import { makeZip } from "@nimbus/testkit";

// Async enqueue while Redis is down: FC's 503 with a request id, at once (the gateway knows Redis is
// gone), never a hang or a 500; once Redis is back, the next async call is accepted.

const ENQUEUE_TIMEOUT_MS = 1_000;
const ctx = useCluster({ services: ["gateway"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_ASYNC_ENQUEUE_TIMEOUT_MS: String(ENQUEUE_TIMEOUT_MS) } });

const INVOKE = "/2016-08-15/services/q/functions/f/invocations";
const asyncCall = (body = "event") => send(ctx.cluster, { method: "POST", path: INVOKE, headers: { "x-fc-invocation-type": "Async" }, body });

function expectUnavailable(res: RawResponse): void {
  expect(res.status, res.text).toBe(503);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.json.ErrorCode).toBe("ServiceUnavailable");
  expect(res.json.ErrorMessage).toMatch(/Redis/);
}

describe("async invocations with Redis down", () => {
  it("answers 503 ServiceUnavailable while Redis is down, and 202 again once it is back", async () => {
    const client = ctx.cluster.client();
    await client.createService("q");
    const zipFile = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" })).toString("base64");
    await client.createFunction("q", { functionName: "f", runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    expect((await asyncCall()).status).toBe(202);

    const redis = ctx.cluster.redis;
    if (!redis) throw new Error("the cluster has no redis");
    await redis.kill();
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await asyncCall(`during ${i}`);
      answers.push(Date.now() - started);
      expectUnavailable(res);
    }
    // Sync calls and the management API do not need Redis.
    expect((await send(ctx.cluster, { method: "GET", path: "/2016-08-15/services/q" })).status).toBe(200);

    await redis.restart();
    const back = await eventually(async () => {
      const res = await asyncCall("after");
      if (res.status !== 202) throw new Error(`still ${res.status}: ${res.text}`);
      return res;
    }, "async enqueue after Redis restarted");
    expect(back.headers["x-fc-stateful-async-invocation-id"]).toBeTruthy();
    expect(ctx.cluster.service("gateway").process.running).toBe(true);
    console.log(`redis down: 5 async calls answered 503 in ${answers.map((ms) => `${ms} ms`).join(", ")}; 202 again after restart`);
  });

  it("answers 503 when Redis is frozen (connected but silent) instead of hanging, and 202 once it thaws", async () => {
    const redis = ctx.cluster.redis;
    if (!redis) throw new Error("the cluster has no redis");
    expect((await asyncCall("before freeze")).status).toBe(202);
    redis.pause();
    let frozen: RawResponse;
    try {
      frozen = await asyncCall("while frozen");
    } finally {
      redis.resume();
    }
    expectUnavailable(frozen);
    expect(frozen.json.ErrorMessage).toContain(`did not answer within ${ENQUEUE_TIMEOUT_MS} ms`);
    const back = await eventually(async () => {
      const res = await asyncCall("after thaw");
      if (res.status !== 202) throw new Error(`still ${res.status}: ${res.text}`);
      return res;
    }, "async enqueue after Redis thawed");
    expect(back.status).toBe(202);
    console.log(`redis frozen: async call answered 503 after the ${ENQUEUE_TIMEOUT_MS} ms enqueue deadline; 202 after thaw`);
  });
});
