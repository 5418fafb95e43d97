import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";
import { invokeAsync, waitForInvocation } from "../helpers/async.js";

const ctx = useCluster({ services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });

/** Says which configuration ran (an env var), which version and qualifier the context names, and which instance. */
const WHO = `
  let calls = 0;
  exports.handler = (event, context, callback) => {
    calls++;
    callback(null, JSON.stringify({ v: process.env.V, versionId: context.service.versionId, qualifier: context.service.qualifier, calls }));
  };`;

async function setEnv(svc: string, fn: string, v: string) {
  await ctx.fc.updateFunction(svc, fn, { environmentVariables: { V: v } });
}

async function run(svc: string, fn: string, qualifier?: string) {
  const res = await ctx.cluster.client().invokeFunction(svc, fn, "", qualifier ? { qualifier } : {});
  return { ...(JSON.parse(res.data.toString()) as { v: string; versionId: string; qualifier: string; calls: number }), version: res.headers.get("x-fc-invocation-service-version"), instance: res.headers.get("x-fc-instance-id") };
}

describe("versions and aliases through @alicloud/fc2", () => {
  it("publishes immutable versions, numbered forever, and refuses to publish nothing new", async () => {
    const svc = uniqueName("ver");
    await deploy(ctx.cluster, svc, "who", { "index.js": WHO }, { environmentVariables: { V: "one" } });
    const v1 = await ctx.fc.publishVersion(svc, "first");
    expect(v1.data).toEqual({ versionId: "1", description: "first", createdTime: expect.stringMatching(/Z$/), lastModifiedTime: expect.stringMatching(/Z$/) });
    await expectFcError(ctx.fc.publishVersion(svc, "again"), "VersionPublishError", "No changes were made since last publish");

    await setEnv(svc, "who", "two");
    expect((await ctx.fc.publishVersion(svc)).data.versionId).toBe("2");
    await setEnv(svc, "who", "latest");

    // Each qualifier sees its own configuration.
    expect((await ctx.fc.getFunction(svc, "who", {}, "1")).data.environmentVariables).toEqual({ V: "one" });
    expect((await ctx.fc.getFunction(svc, "who", {}, "2")).data.environmentVariables).toEqual({ V: "two" });
    expect((await ctx.fc.getFunction(svc, "who")).data.environmentVariables).toEqual({ V: "latest" });
    expect((await ctx.fc.listFunctions(svc, {}, {}, "1")).data.functions.map((f: { functionName: string }) => f.functionName)).toEqual(["who"]);
    expect((await ctx.fc.getService(svc, {}, "2")).data.serviceName).toBe(svc);
    await expectFcError(ctx.fc.getFunction(svc, "who", {}, "9"), "VersionNotFound");

    const listed = await ctx.fc.listVersions(svc);
    expect(listed.data).toMatchObject({ direction: "BACKWARD", versions: [{ versionId: "2" }, { versionId: "1", description: "first" }] });
    const forward = await ctx.fc.listVersions(svc, { direction: "FORWARD", limit: 1 });
    expect(forward.data).toMatchObject({ versions: [{ versionId: "1" }], nextToken: "2" });
    expect((await ctx.fc.listVersions(svc, { direction: "FORWARD", nextToken: "2" })).data.versions.map((v: { versionId: string }) => v.versionId)).toEqual(["2"]);

    // Ids are never reused, even after a delete.
    await ctx.fc.deleteVersion(svc, "2");
    await expectFcError(ctx.fc.deleteVersion(svc, "2"), "VersionNotFound");
    await setEnv(svc, "who", "three");
    expect((await ctx.fc.publishVersion(svc)).data.versionId).toBe("3");
    expect((await ctx.fc.listVersions(svc)).data.versions.map((v: { versionId: string }) => v.versionId)).toEqual(["3", "1"]);

    // A service with versions is not empty.
    await ctx.fc.deleteFunction(svc, "who");
    await expectFcError(ctx.fc.deleteService(svc), "ServiceNotEmpty", "versions");
  });

  it("manages aliases with FC's shapes and validation", async () => {
    const svc = uniqueName("ali");
    await deploy(ctx.cluster, svc, "who", { "index.js": WHO }, { environmentVariables: { V: "one" } });
    await ctx.fc.publishVersion(svc);
    await setEnv(svc, "who", "two");
    await ctx.fc.publishVersion(svc);

    const created = await ctx.fc.createAlias(svc, "prod", "1", { description: "production", additionalVersionWeight: { "2": 0.3 } });
    expect(created.data).toEqual({
      aliasName: "prod",
      versionId: "1",
      description: "production",
      additionalVersionWeight: { "2": 0.3 },
      resolvePolicy: "Random",
      createdTime: expect.stringMatching(/Z$/),
      lastModifiedTime: expect.stringMatching(/Z$/),
    });
    expect(created.headers["etag"]).toMatch(/^[0-9a-f]{32}$/);
    expect((await ctx.fc.getAlias(svc, "prod")).data).toEqual(created.data);
    await expectFcError(ctx.fc.createAlias(svc, "prod", "1"), "AliasAlreadyExists");
    await expectFcError(ctx.fc.createAlias(svc, "nine", "9"), "VersionNotFound");
    await expectFcError(ctx.fc.createAlias(svc, "self", "1", { additionalVersionWeight: { "1": 0.5 } }), "AdditionalVersionContainsMajorVersion");
    await expectFcError(ctx.fc.createAlias(svc, "heavy", "1", { additionalVersionWeight: { "2": 1.5 } }), "InvalidArgument", "between 0 and 1");
    await expectFcError(ctx.fc.createAlias(svc, "ghost", "1", { additionalVersionWeight: { "7": 0.1 } }), "VersionNotFound");
    await expectFcError(ctx.fc.createAlias(svc, "LATEST", "1"), "InvalidArgument");
    await expectFcError(ctx.fc.createAlias(svc, "42", "1"), "InvalidArgument");
    await expectFcError(ctx.fc.getAlias(svc, "nope"), "AliasNotFound");

    // A version an alias points to (or sends traffic to) cannot be deleted.
    await expectFcError(ctx.fc.deleteVersion(svc, "2"), "InvalidArgument", "alias 'prod'");
    await expectFcError(ctx.fc.deleteVersion(svc, "1"), "InvalidArgument", "alias 'prod'");

    const updated = await ctx.fc.updateAlias(svc, "prod", "2", { additionalVersionWeight: {} });
    expect(updated.data).toMatchObject({ versionId: "2", additionalVersionWeight: {}, description: "production", createdTime: created.data.createdTime });
    await ctx.fc.createAlias(svc, "beta", "2");
    const list = await ctx.fc.listAliases(svc, { limit: 1 });
    expect(list.data).toMatchObject({ aliases: [{ aliasName: "beta" }], nextToken: "prod" });
    expect((await ctx.fc.listAliases(svc, { prefix: "pr" })).data.aliases.map((a: { aliasName: string }) => a.aliasName)).toEqual(["prod"]);

    await ctx.fc.deleteVersion(svc, "1"); // nothing points to it any more
    await ctx.fc.deleteAlias(svc, "prod");
    await expectFcError(ctx.fc.getAlias(svc, "prod"), "AliasNotFound");
    await ctx.fc.deleteAlias(svc, "beta");
    await ctx.fc.deleteVersion(svc, "2");
    await ctx.fc.deleteFunction(svc, "who");
    await ctx.fc.deleteService(svc);
  });

  it("runs each version's own configuration on instances of its own, and names it in the headers and context", async () => {
    const svc = uniqueName("run");
    await deploy(ctx.cluster, svc, "who", { "index.js": WHO }, { environmentVariables: { V: "one" } });
    await ctx.fc.putFunctionAsyncConfig(svc, "who", "LATEST", { statefulInvocation: true });
    await ctx.fc.publishVersion(svc);
    await setEnv(svc, "who", "two");
    await ctx.fc.publishVersion(svc);
    await setEnv(svc, "who", "latest");
    await ctx.fc.createAlias(svc, "stable", "1");

    const v1 = await run(svc, "who", "1");
    expect(v1).toMatchObject({ v: "one", versionId: "1", qualifier: "1", version: "1" });
    const v2 = await run(svc, "who", "2");
    expect(v2).toMatchObject({ v: "two", versionId: "2", qualifier: "2", version: "2" });
    const latest = await run(svc, "who");
    expect(latest).toMatchObject({ v: "latest", versionId: "", qualifier: "LATEST", version: "LATEST" });
    const stable = await run(svc, "who", "stable");
    expect(stable).toMatchObject({ v: "one", versionId: "1", qualifier: "stable", version: "1" });

    // Instances are per concrete version: version 1's instance serves the alias too, never version 2.
    expect(new Set([v1.instance, v2.instance, latest.instance]).size).toBe(3);
    expect(stable.instance).toBe(v1.instance);
    const again = await run(svc, "who", "2");
    expect(again.instance).toBe(v2.instance);
    expect(again.calls).toBe(2);

    // Changing LATEST retires LATEST's instances only.
    await setEnv(svc, "who", "latest2");
    await expect.poll(async () => (await run(svc, "who")).v, { timeout: 10_000 }).toBe("latest2");
    const v1Again = await run(svc, "who", "1");
    expect(v1Again.instance).toBe(v1.instance);

    // Configs per qualifier: an alias or a version has its own, a missing one is FC's not-found error.
    await ctx.fc.putFunctionAsyncConfig(svc, "who", "stable", { maxAsyncRetryAttempts: 1, statefulInvocation: true });
    expect((await ctx.fc.getFunctionAsyncConfig(svc, "who", "stable")).data).toMatchObject({ qualifier: "stable", maxAsyncRetryAttempts: 1 });
    await expectFcError(ctx.fc.putFunctionAsyncConfig(svc, "who", "9", {}), "VersionNotFound");
    await expectFcError(ctx.fc.putFunctionAsyncConfig(svc, "who", "gone", {}), "AliasNotFound");
    expect((await ctx.cluster.client().putOnDemandConfig(svc, "stable", "who", 5)).data.resource).toBe(`services/${svc}.stable/functions/who`);
    expect((await ctx.cluster.client().listInstances(svc, "who", "2")).data.instances.map((i) => i.instanceId)).toEqual([v2.instance]);

    // Through an HTTP trigger bound to the alias, and asynchronously through it.
    await deploy(ctx.cluster, svc, "web", { "index.js": "exports.handler = (req, resp, context) => resp.send(process.env.V + ' ' + context.service.versionId + ' ' + context.service.qualifier);" }, { environmentVariables: { V: "web1" } });
    await ctx.fc.publishVersion(svc);
    await ctx.fc.updateAlias(svc, "stable", "3");
    await ctx.fc.updateFunction(svc, "web", { environmentVariables: { V: "web-latest" } });
    await ctx.fc.createTrigger(svc, "web", { triggerName: "http", triggerType: "http", qualifier: "stable", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const viaAlias = await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/${svc}.stable/web/`, sign: false });
    expect(viaAlias.text).toBe("web1 3 stable");
    const noTrigger = await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/${svc}/web/`, sign: false });
    expect(noTrigger.json.ErrorCode).toBe("TriggerNotFound");
    const id = await invokeAsync(ctx.cluster.client(), svc, "who", "", undefined);
    expect((await waitForInvocation(ctx.cluster.client(), svc, "who", id)).returnPayload).toContain('"v":"latest2"');
    const res = await ctx.cluster.client().invokeFunction(svc, "who", "", { qualifier: "stable", async: true });
    const asyncId = res.headers.get("x-fc-stateful-async-invocation-id") ?? "";
    const done = await waitForInvocation(ctx.cluster.client(), svc, "who", asyncId);
    expect(done.qualifier).toBe("stable");
    expect(JSON.parse(done.returnPayload ?? "{}")).toMatchObject({ v: "latest2", versionId: "3", qualifier: "stable" });
  });

  it("splits an alias's calls by weight: 10,000 calls at 0.3 land within two points of 30%", async () => {
    const svc = uniqueName("split");
    await deploy(ctx.cluster, svc, "who", { "index.js": WHO }, { environmentVariables: { V: "one" }, instanceConcurrency: 50 });
    await ctx.fc.publishVersion(svc);
    await setEnv(svc, "who", "two");
    await ctx.fc.publishVersion(svc);
    await ctx.fc.createAlias(svc, "canary", "1", { additionalVersionWeight: { "2": 0.3 } });

    const client = ctx.cluster.client();
    const total = 10_000;
    const counts = { "1": 0, "2": 0 } as Record<string, number>;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) {
          next++;
          const res = await client.invokeFunction(svc, "who", "", { qualifier: "canary" });
          const version = res.headers.get("x-fc-invocation-service-version") ?? "?";
          counts[version] = (counts[version] ?? 0) + 1;
        }
      }),
    );
    const share = (counts["2"] ?? 0) / total;
    console.log(`alias canary (1, {'2': 0.3}): ${total} calls, version 1: ${counts["1"]}, version 2: ${counts["2"]} (${(share * 100).toFixed(2)}%)`);
    expect((counts["1"] ?? 0) + (counts["2"] ?? 0)).toBe(total);
    expect(Math.abs(share - 0.3)).toBeLessThanOrEqual(0.02);
  }, 120_000);
});
