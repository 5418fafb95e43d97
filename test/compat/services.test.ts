import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";

const ctx = useCluster();


describe("services through @alicloud/fc2", () => {
  it("creates a service with FC's fields and defaults", async () => {
    const name = uniqueName("svc");
    const res = await ctx.fc.createService(name, {
      description: "orders",
      role: "acs:ram::123:role/fc",
      internetAccess: false,
      logConfig: { project: "p", logstore: "l", enableRequestMetrics: true },
      tracingConfig: { type: "Jaeger", params: { endpoint: "http://jaeger" } },
    });
    expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers["etag"]).toMatch(/^[0-9a-f]{32}$/);
    expect(res.data).toMatchObject({
      serviceName: name,
      serviceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      description: "orders",
      role: "acs:ram::123:role/fc",
      internetAccess: false,
      logConfig: { project: "p", logstore: "l", enableRequestMetrics: true, enableInstanceMetrics: false },
      tracingConfig: { type: "Jaeger", params: { endpoint: "http://jaeger" } },
      createdTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(res.data.lastModifiedTime).toBe(res.data.createdTime);

    const bare = await ctx.fc.createService(uniqueName("bare"));
    expect(bare.data).toMatchObject({ description: "", role: "", internetAccess: true, vpcConfig: { vpcId: "" } });
  });

  it("gets a service, also through the LATEST qualifier", async () => {
    const name = uniqueName("svc");
    const created = await ctx.fc.createService(name, { description: "d" });
    const got = await ctx.fc.getService(name);
    expect(got.data).toEqual(created.data);
    expect(got.headers["etag"]).toBe(created.headers["etag"]);
    expect((await ctx.fc.getService(name, {}, "LATEST")).data).toEqual(created.data);
    await expectFcError(ctx.fc.getService(name, {}, "1"), "VersionNotFound");
    await expectFcError(ctx.fc.getService(name, {}, "prod"), "AliasNotFound");
  });

  it("updates only the fields sent", async () => {
    const name = uniqueName("svc");
    await ctx.fc.createService(name, { description: "before", role: "r1", internetAccess: false });
    await new Promise((r) => setTimeout(r, 1_100));
    const updated = await ctx.fc.updateService(name, { description: "after" });
    expect(updated.data).toMatchObject({ description: "after", role: "r1", internetAccess: false });
    expect(updated.data.lastModifiedTime > updated.data.createdTime).toBe(true);
    expect((await ctx.fc.getService(name)).data.description).toBe("after");
  });

  it("honours If-Match on update and delete", async () => {
    const name = uniqueName("svc");
    const created = await ctx.fc.createService(name);
    await expectFcError(ctx.fc.updateService(name, { description: "x" }, { "if-match": "0".repeat(32) }), "PreconditionFailed");
    const ok = await ctx.fc.updateService(name, { description: "x" }, { "if-match": created.headers["etag"] });
    await expectFcError(ctx.fc.deleteService(name, { "if-match": created.headers["etag"] }), "PreconditionFailed");
    await ctx.fc.deleteService(name, { "if-match": ok.headers["etag"] });
    await expectFcError(ctx.fc.getService(name), "ServiceNotFound");
  });

  it("deletes with 204 and refuses a service that still has functions", async () => {
    const name = uniqueName("svc");
    await ctx.fc.createService(name);
    const { makeZip } = await import("@nimbus/testkit");
    const zipFile = (await makeZip({ "index.js": "exports.handler=(e,c,cb)=>cb(null,'x')" })).toString("base64");
    await ctx.fc.createFunction(name, { functionName: "f", runtime: "nodejs18", handler: "index.handler", code: { zipFile } });
    await expectFcError(ctx.fc.deleteService(name), "ServiceNotEmpty", `service '${name}' has active 'functions'`);
    await ctx.fc.deleteFunction(name, "f");
    const res = await ctx.fc.deleteService(name);
    expect(res.data).toBe("");
    await expectFcError(ctx.fc.getService(name), "ServiceNotFound", `service '${name}' does not exist`);
    await expectFcError(ctx.fc.deleteService(name), "ServiceNotFound");
    await expectFcError(ctx.fc.updateService(name, { description: "x" }), "ServiceNotFound");
  });

  it("refuses a duplicate service", async () => {
    const name = uniqueName("svc");
    await ctx.fc.createService(name);
    await expectFcError(ctx.fc.createService(name), "ServiceAlreadyExists");
  });

  it("lists with prefix, startKey, nextToken and limit, sorted by name", async () => {
    const p = uniqueName("ls");
    for (const s of ["d", "a", "c", "b", "e"]) await ctx.fc.createService(`${p}_${s}`);
    const names = (r: { data: { services: { serviceName: string }[] } }) => r.data.services.map((s) => s.serviceName.slice(p.length + 1));

    expect(names(await ctx.fc.listServices({ prefix: p }))).toEqual(["a", "b", "c", "d", "e"]);
    const first = await ctx.fc.listServices({ prefix: p, limit: 2 });
    expect(names(first)).toEqual(["a", "b"]);
    expect(first.data.nextToken).toBe(`${p}_c`);
    const second = await ctx.fc.listServices({ prefix: p, limit: 2, nextToken: first.data.nextToken });
    expect(names(second)).toEqual(["c", "d"]);
    const last = await ctx.fc.listServices({ prefix: p, limit: 2, nextToken: second.data.nextToken });
    expect(names(last)).toEqual(["e"]);
    expect(last.data.nextToken).toBeUndefined();
    expect(names(await ctx.fc.listServices({ prefix: p, startKey: `${p}_c` }))).toEqual(["c", "d", "e"]);
    expect(names(await ctx.fc.listServices({ prefix: `${p}_zz` }))).toEqual([]);
    expect((await ctx.fc.listServices({ limit: 100 })).data.services.length).toBeGreaterThanOrEqual(5);
    await expectFcError(ctx.fc.listServices({ limit: 0 }), "InvalidArgument");
    await expectFcError(ctx.fc.listServices({ limit: 101 }), "InvalidArgument");
    await expectFcError(ctx.fc.listServices({ limit: "many" }), "InvalidArgument");
  });

  it("rejects invalid names and bad fields with InvalidArgument", async () => {
    for (const bad of ["1abc", "a.b", "a b", "a*", "ü", "x".repeat(129)]) {
      await expectFcError(ctx.fc.createService(bad), "InvalidArgument");
    }
    await expectFcError(ctx.fc.createService(uniqueName("svc"), { description: "d".repeat(257) }), "InvalidArgument", "description");
    await expectFcError(ctx.fc.createService(uniqueName("svc"), { internetAccess: "maybe" }), "InvalidArgument", "internetAccess");
    await expectFcError(ctx.fc.createService(uniqueName("svc"), { logConfig: "nope" }), "InvalidArgument", "logConfig");
  });

  it("treats nulls as absent, as FC's Go SDK sends them", async () => {
    const name = uniqueName("svc");
    const res = await ctx.fc.createService(name, { description: null, role: null, logConfig: null, vpcConfig: null, internetAccess: null, nasConfig: null, tracingConfig: null });
    expect(res.data).toMatchObject({ description: "", internetAccess: true });
    const upd = await ctx.fc.updateService(name, { description: "kept", role: null });
    expect(upd.data.description).toBe("kept");
  });
});
