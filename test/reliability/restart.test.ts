import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc64 } from "@nimbus/archive";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { fcClient, uniqueName } from "../helpers/fc.js";
import { controlPlaneContents } from "../helpers/inspect.js";
import { send } from "../helpers/http.js";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ env: { NIMBUS_LOG_LEVEL: "warn" } });
});
afterAll(async () => {
  await cluster?.stop();
});

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe("durability", () => {
  it("keeps services, functions and code across SIGKILL of the gateway and of nats-server", async () => {
    const fc = fcClient(cluster);
    const svc = uniqueName("durable");
    const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'persisted')" });
    await fc.createService(svc, { description: "survives" });
    await fc.createFunction(svc, { functionName: "f", runtime: "nodejs20", handler: "index.handler", memorySize: 256, code: { zipFile: zip.toString("base64") } });
    await fc.tagResource(`services/${svc}`, { keep: "yes" });

    await cluster.service("gateway").kill();
    await cluster.nats.kill();
    await cluster.nats.restart();
    await cluster.service("gateway").start();

    const after = fcClient(cluster);
    expect((await after.getService(svc)).data.description).toBe("survives");
    const fn = (await after.getFunction(svc, "f")).data;
    expect(fn).toMatchObject({ memorySize: 256, codeSize: zip.length, codeChecksum: crc64(zip) });
    expect((await after.getResourceTags({ resourceArn: `services/${svc}` })).data.tags).toEqual({ keep: "yes" });
    const code = await after.getFunctionCode(svc, "f");
    expect(Buffer.from(await (await fetch(code.data.url)).arrayBuffer()).equals(zip)).toBe(true);
  });

  it("keeps serving through a nats-server restart without restarting itself, reporting not-ready meanwhile", async () => {
    const gateway = cluster.service("gateway");
    const pid = gateway.process.pid;
    await cluster.nats.kill();
    await eventually(async () => {
      const res = await send(cluster, { method: "GET", path: "/readyz", sign: false });
      if (res.status !== 503) throw new Error(`readyz ${res.status}`);
    }, "readyz 503 while NATS is down");
    const failed = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: { "content-type": "application/json" }, body: '{"serviceName":"during"}' });
    expect(failed.status).toBe(503);
    expect(failed.json.ErrorCode).toBe("ServiceUnavailable");

    await cluster.nats.restart();
    await eventually(async () => {
      const res = await send(cluster, { method: "GET", path: "/readyz", sign: false });
      if (res.status !== 200) throw new Error(`readyz ${res.status}`);
    }, "readyz 200 after NATS is back");
    const svc = uniqueName("after");
    await eventually(() => fcClient(cluster).createService(svc), "create after reconnect");
    expect((await fcClient(cluster).getService(svc)).data.serviceName).toBe(svc);
    expect(gateway.process.pid).toBe(pid);
  });
});

describe("several gateways", () => {
  it("see each other's writes through their watched mirrors", async () => {
    await cluster.startService("gateway");
    const a = fcClient(cluster, 0);
    const b = fcClient(cluster, 1);
    const svc = uniqueName("shared");
    await a.createService(svc);
    await eventually(() => b.getService(svc), "service visible on the second gateway", 5_000);
    await b.updateService(svc, { description: "from b" });
    await eventually(async () => {
      const d = (await a.getService(svc)).data.description;
      if (d !== "from b") throw new Error(d);
    }, "update visible on the first gateway", 5_000);
    await b.deleteService(svc);
    await eventually(async () => {
      const list = (await a.listServices({ prefix: svc })).data.services;
      if (list.length !== 0) throw new Error("still listed");
    }, "delete visible on the first gateway", 5_000);
  });

  it("never leave a function behind a concurrently deleted service", async () => {
    const zipFile = (await makeZip({ "index.js": "exports.handler = () => {}" })).toString("base64");
    const a = fcClient(cluster, 0);
    const b = fcClient(cluster, 1);
    for (let round = 0; round < 15; round++) {
      const svc = uniqueName("race");
      await a.createService(svc);
      await Promise.allSettled([
        a.createFunction(svc, { functionName: "f", runtime: "nodejs20", handler: "index.handler", code: { zipFile } }),
        b.deleteService(svc),
      ]);
    }
    const { services, functions } = await controlPlaneContents(cluster);
    const orphans = functions.filter((key) => !services.includes(key.split(".")[0] ?? ""));
    expect(orphans).toEqual([]);
  });
});

describe("code garbage collection", () => {
  it("deletes packages no function uses any more, and only those", async () => {
    // A package is stored before the record that uses it is written: the grace covers that moment (with
    // none, a loaded machine once saw a collection land between the two, as production never would).
    const gc = await TestCluster.start({ env: { NIMBUS_CODE_GC_INTERVAL_MS: "200", NIMBUS_CODE_GC_GRACE_MS: "2000", NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const fc = fcClient(gc);
      await fc.createService("gc");
      const v1 = await makeZip({ "index.js": "// v1" });
      const v2 = await makeZip({ "index.js": "// v2" });
      const shared = await makeZip({ "index.js": "// shared" });
      await fc.createFunction("gc", { functionName: "a", runtime: "nodejs20", handler: "index.handler", code: { zipFile: v1.toString("base64") } });
      await fc.createFunction("gc", { functionName: "b", runtime: "nodejs20", handler: "index.handler", code: { zipFile: shared.toString("base64") } });
      await fc.createFunction("gc", { functionName: "c", runtime: "nodejs20", handler: "index.handler", code: { zipFile: shared.toString("base64") } });
      await fc.updateFunction("gc", "a", { code: { zipFile: v2.toString("base64") } });
      await fc.deleteFunction("gc", "b");
      await eventually(async () => {
        const { code } = await controlPlaneContents(gc);
        if (code.includes(sha256(v1))) throw new Error("v1 still stored");
      }, "the replaced package to be collected", 20_000);
      const { code } = await controlPlaneContents(gc);
      expect(code.sort()).toEqual([sha256(v2), sha256(shared)].sort());
    } finally {
      await gc.stop();
    }
  });
});
