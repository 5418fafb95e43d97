import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { expectFcError, fcClient, uniqueName } from "../helpers/fc.js";
import type FC from "@alicloud/fc2";

let cluster: TestCluster;
let fc: FC;

beforeAll(async () => {
  cluster = await TestCluster.start();
  fc = fcClient(cluster);
});
afterAll(async () => {
  await cluster?.stop();
});

describe("services through @alicloud/fc2", () => {
  it("creates a service with FC's fields and defaults", async () => {
    const name = uniqueName("svc");
    const res = await fc.createService(name, {
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

    const bare = await fc.createService(uniqueName("bare"));
    expect(bare.data).toMatchObject({ description: "", role: "", internetAccess: true, vpcConfig: { vpcId: "" } });
  });

  it("gets a service, also through the LATEST qualifier", async () => {
    const name = uniqueName("svc");
    const created = await fc.createService(name, { description: "d" });
    const got = await fc.getService(name);
    expect(got.data).toEqual(created.data);
    expect(got.headers["etag"]).toBe(created.headers["etag"]);
    expect((await fc.getService(name, {}, "LATEST")).data).toEqual(created.data);
    await expectFcError(fc.getService(name, {}, "1"), "VersionNotFound");
    await expectFcError(fc.getService(name, {}, "prod"), "AliasNotFound");
  });

  it("updates only the fields sent", async () => {
    const name = uniqueName("svc");
    await fc.createService(name, { description: "before", role: "r1", internetAccess: false });
    await new Promise((r) => setTimeout(r, 1_100));
    const updated = await fc.updateService(name, { description: "after" });
    expect(updated.data).toMatchObject({ description: "after", role: "r1", internetAccess: false });
    expect(updated.data.lastModifiedTime > updated.data.createdTime).toBe(true);
    expect((await fc.getService(name)).data.description).toBe("after");
  });

  it("honours If-Match on update and delete", async () => {
    const name = uniqueName("svc");
    const created = await fc.createService(name);
    await expectFcError(fc.updateService(name, { description: "x" }, { "if-match": "0".repeat(32) }), "PreconditionFailed");
    const ok = await fc.updateService(name, { description: "x" }, { "if-match": created.headers["etag"] });
    await expectFcError(fc.deleteService(name, { "if-match": created.headers["etag"] }), "PreconditionFailed");
    await fc.deleteService(name, { "if-match": ok.headers["etag"] });
    await expectFcError(fc.getService(name), "ServiceNotFound");
  });

  it("deletes with 204 and refuses a service that still has functions", async () => {
    const name = uniqueName("svc");
    await fc.createService(name);
    const { makeZip } = await import("@nimbus/testkit");
    const zipFile = (await makeZip({ "index.js": "exports.handler=(e,c,cb)=>cb(null,'x')" })).toString("base64");
    await fc.createFunction(name, { functionName: "f", runtime: "nodejs18", handler: "index.handler", code: { zipFile } });
    await expectFcError(fc.deleteService(name), "ServiceNotEmpty", `service '${name}' has active 'functions'`);
    await fc.deleteFunction(name, "f");
    const res = await fc.deleteService(name);
    expect(res.data).toBe("");
    await expectFcError(fc.getService(name), "ServiceNotFound", `service '${name}' does not exist`);
    await expectFcError(fc.deleteService(name), "ServiceNotFound");
    await expectFcError(fc.updateService(name, { description: "x" }), "ServiceNotFound");
  });

  it("refuses a duplicate service", async () => {
    const name = uniqueName("svc");
    await fc.createService(name);
    await expectFcError(fc.createService(name), "ServiceAlreadyExists");
  });

  it("lists with prefix, startKey, nextToken and limit, sorted by name", async () => {
    const p = uniqueName("ls");
    for (const s of ["d", "a", "c", "b", "e"]) await fc.createService(`${p}_${s}`);
    const names = (r: { data: { services: { serviceName: string }[] } }) => r.data.services.map((s) => s.serviceName.slice(p.length + 1));

    expect(names(await fc.listServices({ prefix: p }))).toEqual(["a", "b", "c", "d", "e"]);
    const first = await fc.listServices({ prefix: p, limit: 2 });
    expect(names(first)).toEqual(["a", "b"]);
    expect(first.data.nextToken).toBe(`${p}_c`);
    const second = await fc.listServices({ prefix: p, limit: 2, nextToken: first.data.nextToken });
    expect(names(second)).toEqual(["c", "d"]);
    const last = await fc.listServices({ prefix: p, limit: 2, nextToken: second.data.nextToken });
    expect(names(last)).toEqual(["e"]);
    expect(last.data.nextToken).toBeUndefined();
    expect(names(await fc.listServices({ prefix: p, startKey: `${p}_c` }))).toEqual(["c", "d", "e"]);
    expect(names(await fc.listServices({ prefix: `${p}_zz` }))).toEqual([]);
    expect((await fc.listServices({ limit: 100 })).data.services.length).toBeGreaterThanOrEqual(5);
    await expectFcError(fc.listServices({ limit: 0 }), "InvalidArgument");
    await expectFcError(fc.listServices({ limit: 101 }), "InvalidArgument");
    await expectFcError(fc.listServices({ limit: "many" }), "InvalidArgument");
  });

  it("rejects invalid names and bad fields with InvalidArgument", async () => {
    for (const bad of ["1abc", "a.b", "a b", "a*", "ü", "x".repeat(129)]) {
      await expectFcError(fc.createService(bad), "InvalidArgument");
    }
    await expectFcError(fc.createService(uniqueName("svc"), { description: "d".repeat(257) }), "InvalidArgument", "description");
    await expectFcError(fc.createService(uniqueName("svc"), { internetAccess: "maybe" }), "InvalidArgument", "internetAccess");
    await expectFcError(fc.createService(uniqueName("svc"), { logConfig: "nope" }), "InvalidArgument", "logConfig");
  });

  it("treats nulls as absent, as FC's Go SDK sends them", async () => {
    const name = uniqueName("svc");
    const res = await fc.createService(name, { description: null, role: null, logConfig: null, vpcConfig: null, internetAccess: null, nasConfig: null, tracingConfig: null });
    expect(res.data).toMatchObject({ description: "", internetAccess: true });
    const upd = await fc.updateService(name, { description: "kept", role: null });
    expect(upd.data.description).toBe("kept");
  });
});
