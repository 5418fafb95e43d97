import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import type { FunctionLogLine } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually } from "../helpers/functions.js";
import { instanceCgroups, sandboxes } from "../helpers/instances.js";
import { send } from "../helpers/http.js";

// RELIABILITY #18: an instance that never finishes starting fails within the function's own start
// deadline, says why in the function's log, and leaves no sandbox behind, however it is called.
const ctx = useCluster({ services: ["gateway", "invoker", "log-collector"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const BUSY_MODULE = `
console.log("loading a module that never finishes");
const until = Date.now() + 120000;
while (Date.now() < until) {}
exports.handler = (event, context, callback) => callback(null, "never");
`;

async function expectNothingLeft(what: string): Promise<void> {
  await eventually(async () => {
    const left = await sandboxes(ctx.cluster);
    if (left.length > 0) throw new Error(`${left.length} sandboxes still run: ${left[0]}`);
    const cgroups = await instanceCgroups(ctx.cluster);
    if (cgroups.length > 0) throw new Error(`${cgroups.length} instance cgroups remain`);
  }, what, 10_000);
}

async function functionLog(svc: string, fn: string): Promise<FunctionLogLine[]> {
  return (await ctx.cluster.client().getFunctionLogs(svc, fn, { limit: "100" })).data.logs;
}

async function expectInLog(svc: string, fn: string, pattern: RegExp): Promise<void> {
  await eventually(async () => {
    const lines = await functionLog(svc, fn);
    if (!lines.some((l) => pattern.test(l.message))) throw new Error(`no line matches ${pattern}: ${JSON.stringify(lines.map((l) => l.message))}`);
  }, `the function's log names the reason (${pattern})`);
}

describe("instances that never finish starting (RELIABILITY #18)", () => {
  it("fails a module that never finishes loading at the function's timeout, stops its sandbox, and logs why", async () => {
    await deploy(ctx.cluster, "slow", "busy", { "index.js": BUSY_MODULE }, { timeout: 2, initializationTimeout: 1 });
    for (let round = 0; round < 3; round++) {
      const started = Date.now();
      const res = await ctx.fc.invokeFunction("slow", "busy", "");
      expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
      expect(res.data.errorMessage).toMatch(/did not finish loading within 2 seconds/);
      console.log(`slow module, call ${round + 1}: failed after ${Date.now() - started} ms`);
      await expectNothingLeft("no sandbox outlives the failed start");
    }
    expect((await ctx.cluster.client().listInstances("slow", "busy")).data.instances).toEqual([]);
    await expectInLog("slow", "busy", /the instance failed to start: .*did not finish loading within 2 seconds/);
    await expectInLog("slow", "busy", /loading a module that never finishes/);
  });

  it("leaves no sandbox behind after ten concurrent anonymous calls through an HTTP trigger", async () => {
    await deploy(ctx.cluster, "slow", "web", { "index.js": BUSY_MODULE }, { timeout: 2, initializationTimeout: 1 });
    await ctx.fc.createTrigger("slow", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/slow/web/", sign: false })),
    );
    console.log(`10 anonymous calls of a never-loading HTTP function: statuses ${[...new Set(answers.map((a) => a.status))].join(",")} after ${Date.now() - started} ms`);
    for (const answer of answers) {
      expect(answer.status).toBe(502);
      expect(answer.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    }
    await expectNothingLeft("no sandbox outlives ten failed starts");
    await ctx.cluster.client().deleteTrigger("slow", "web", "http");
    await ctx.cluster.client().deleteFunction("slow", "web");
    await expectNothingLeft("nothing of a deleted function lives on");
  });

  it("fails a custom runtime that never listens at the function's timeout, with the reason in its log", async () => {
    const client = ctx.cluster.client();
    await client.createService("custom").catch(() => undefined);
    const zipFile = (await makeZip({ bootstrap: { content: "#!/bin/sh\necho 'server warming up'\nexec sleep 600\n", mode: 0o755 } })).toString("base64");
    await client.createFunction("custom", { functionName: "silent", runtime: "custom", handler: "index.handler", timeout: 2, initializationTimeout: 1, code: { zipFile } });
    const res = await ctx.fc.invokeFunction("custom", "silent", "");
    expect(res.data.errorMessage).toMatch(/cannot be started: it did not listen on port 9000 within 2 seconds/);
    await expectNothingLeft("no sandbox outlives a server that never listened");
    await expectInLog("custom", "silent", /the instance failed to start: .*did not listen on port 9000/);
    await expectInLog("custom", "silent", /server warming up/);
  });

  it("fails a custom runtime that exits at once, without waiting for any deadline, with its exit in its log", async () => {
    const client = ctx.cluster.client();
    await client.createService("custom").catch(() => undefined);
    const zipFile = (await makeZip({ bootstrap: { content: "#!/bin/sh\necho 'missing DATABASE_URL' >&2\nexit 3\n", mode: 0o755 } })).toString("base64");
    await client.createFunction("custom", { functionName: "quitter", runtime: "custom", handler: "index.handler", timeout: 60, code: { zipFile } });
    const started = Date.now();
    const res = await ctx.fc.invokeFunction("custom", "quitter", "");
    const took = Date.now() - started;
    console.log(`custom runtime that exits: failed after ${took} ms (its timeout is 60 s)`);
    // The exit is the answer, not a deadline running out.
    expect(res.data.errorMessage).toMatch(/exited \(3\) before listening on port 9000/);
    await expectNothingLeft("no sandbox outlives a server that exited");
    await expectInLog("custom", "quitter", /missing DATABASE_URL/);
    await expectInLog("custom", "quitter", /the instance failed to start: .*exited \(3\)/);
  });
});
