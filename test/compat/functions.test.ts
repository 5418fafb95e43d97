import { beforeAll, describe, expect, it } from "vitest";
import { crc64 } from "@nimbus/archive";
import { makeZip, nodeHandlerZip } from "@nimbus/testkit";
import { NODE_RUNTIMES } from "@nimbus/protocol";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";

const ctx = useCluster();
let service: string;
let zipFile: string;

beforeAll(async () => {
  service = uniqueName("fns");
  await ctx.fc.createService(service);
  zipFile = await nodeHandlerZip();
});

describe("functions through @alicloud/fc2", () => {
  it("creates a function with FC's defaults, code size and CRC-64 checksum", async () => {
    const zip = Buffer.from(zipFile, "base64");
    const res = await ctx.fc.createFunction(service, { functionName: "defaults", runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    expect(res.headers["etag"]).toMatch(/^[0-9a-f]{32}$/);
    expect(res.data).toMatchObject({
      functionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      functionName: "defaults",
      description: "",
      runtime: "nodejs20",
      handler: "index.handler",
      timeout: 3,
      initializer: "",
      initializationTimeout: 3,
      memorySize: 128,
      instanceConcurrency: 1,
      environmentVariables: {},
      caPort: 9000,
      layers: [],
      instanceType: "e1",
      codeSize: zip.length,
      codeChecksum: crc64(zip),
      createdTime: expect.stringMatching(/Z$/),
    });
  });

  it("stores every field it is given, numeric strings as numbers", async () => {
    const res = await ctx.fc.createFunction(service, {
      functionName: "full",
      description: "all the fields",
      runtime: "custom",
      handler: "main",
      timeout: 900,
      initializer: "index.init",
      initializationTimeout: "20",
      memorySize: 1024,
      environmentVariables: { STAGE: "prod", EMPTY: "" },
      instanceConcurrency: 50,
      caPort: 8080,
      customRuntimeConfig: { command: ["node"], args: ["server.js"] },
      code: { zipFile },
    });
    expect(res.data).toMatchObject({
      description: "all the fields",
      runtime: "custom",
      timeout: 900,
      initializer: "index.init",
      initializationTimeout: 20,
      memorySize: 1024,
      environmentVariables: { STAGE: "prod", EMPTY: "" },
      instanceConcurrency: 50,
      caPort: 8080,
      customRuntimeConfig: { command: ["node"], args: ["server.js"] },
    });
    expect((await ctx.fc.getFunction(service, "full")).data).toEqual(res.data);
    expect((await ctx.fc.getFunction(service, "full", {}, "LATEST")).data).toEqual(res.data);
  });

  it("accepts every nodejs runtime name and the custom runtimes; anything else as FC does", async () => {
    for (const runtime of [...NODE_RUNTIMES, "custom", "custom.debian10"]) {
      const name = `rt_${runtime.replace(/\W/g, "_")}`;
      expect((await ctx.fc.createFunction(service, { functionName: name, runtime, handler: "index.handler", code: { zipFile } })).data.runtime).toBe(runtime);
    }
    for (const runtime of ["nodejs99", "python2.7", "custom_container", "go1"]) {
      await expectFcError(
        ctx.fc.createFunction(service, { functionName: uniqueName("bad"), runtime, handler: "index.handler", code: { zipFile } }),
        "InvalidArgument",
        "Runtime is set to an invalid value",
      );
    }
    await expectFcError(ctx.fc.updateFunction(service, "defaults", { runtime: "10" }), "InvalidArgument", "Runtime is set to an invalid value");
  });

  it("updates only the fields sent, keeps the initializer and replaces env vars whole", async () => {
    const name = uniqueName("upd");
    await ctx.fc.createFunction(service, {
      functionName: name, runtime: "nodejs18", handler: "index.handler", initializer: "index.init",
      environmentVariables: { A: "1", B: "2" }, code: { zipFile },
    });
    const first = await ctx.fc.updateFunction(service, name, { memorySize: 512, description: "bigger" });
    expect(first.data).toMatchObject({ memorySize: 512, description: "bigger", initializer: "index.init", environmentVariables: { A: "1", B: "2" }, runtime: "nodejs18" });
    const second = await ctx.fc.updateFunction(service, name, { environmentVariables: { C: "3" } });
    expect(second.data.environmentVariables).toEqual({ C: "3" });
    const cleared = await ctx.fc.updateFunction(service, name, { environmentVariables: {} });
    expect(cleared.data.environmentVariables).toEqual({});
    expect(cleared.data.codeChecksum).toBe(first.data.codeChecksum);
  });

  it("replaces code on update and serves the new package at getFunctionCode's URL", async () => {
    const name = uniqueName("code");
    await ctx.fc.createFunction(service, { functionName: name, runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    const v2 = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'v2')", "lib/x.js": "1" });
    const updated = await ctx.fc.updateFunction(service, name, { code: { zipFile: v2.toString("base64") } });
    expect(updated.data).toMatchObject({ codeSize: v2.length, codeChecksum: crc64(v2) });

    const code = await ctx.fc.getFunctionCode(service, name);
    expect(code.data.checksum).toBe(crc64(v2));
    const download = await fetch(code.data.url);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/zip");
    expect(Buffer.from(await download.arrayBuffer()).equals(v2)).toBe(true);

    const tampered = code.data.url.replace(/x-fc-expires=\d+/, "x-fc-expires=9999999999");
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(code.data.url.split("?")[0])).status).toBe(400);
  });

  it("verifies x-fc-code-checksum when the client sends it", async () => {
    const zip = Buffer.from(zipFile, "base64");
    await ctx.fc.createFunction(service, { functionName: uniqueName("sum"), runtime: "nodejs20", handler: "index.handler", code: { zipFile } }, { "x-fc-code-checksum": crc64(zip) });
    await expectFcError(
      ctx.fc.createFunction(service, { functionName: uniqueName("sum"), runtime: "nodejs20", handler: "index.handler", code: { zipFile } }, { "x-fc-code-checksum": "123" }),
      "InvalidArgument",
      "checksum",
    );
  });

  it("lists functions with FC's paging, also through LATEST", async () => {
    const svc = uniqueName("lst");
    await ctx.fc.createService(svc);
    for (const f of ["c", "a", "b"]) await ctx.fc.createFunction(svc, { functionName: f, runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    const all = await ctx.fc.listFunctions(svc);
    expect(all.data.functions.map((f: { functionName: string }) => f.functionName)).toEqual(["a", "b", "c"]);
    const page = await ctx.fc.listFunctions(svc, { limit: 2 }, {}, "LATEST");
    expect(page.data.functions.map((f: { functionName: string }) => f.functionName)).toEqual(["a", "b"]);
    expect(page.data.nextToken).toBe("c");
    await expectFcError(ctx.fc.listFunctions(uniqueName("none")), "ServiceNotFound");
  });

  it("answers FC's errors for missing and duplicate functions", async () => {
    await expectFcError(ctx.fc.getFunction(service, "nope"), "FunctionNotFound", `function 'nope' does not exist in service '${service}'`);
    await expectFcError(ctx.fc.getFunction(uniqueName("none"), "x"), "ServiceNotFound");
    await expectFcError(ctx.fc.updateFunction(service, "nope", { memorySize: 256 }), "FunctionNotFound");
    await expectFcError(ctx.fc.deleteFunction(service, "nope"), "FunctionNotFound");
    await expectFcError(ctx.fc.getFunctionCode(service, "nope"), "FunctionNotFound");
    await expectFcError(
      ctx.fc.createFunction(service, { functionName: "defaults", runtime: "nodejs20", handler: "index.handler", code: { zipFile } }),
      "FunctionAlreadyExists",
    );
    await expectFcError(
      ctx.fc.createFunction(uniqueName("none"), { functionName: "f", runtime: "nodejs20", handler: "index.handler", code: { zipFile } }),
      "ServiceNotFound",
    );
  });

  it("deletes a function with 204", async () => {
    const name = uniqueName("del");
    await ctx.fc.createFunction(service, { functionName: name, runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    expect((await ctx.fc.deleteFunction(service, name)).data).toBe("");
    await expectFcError(ctx.fc.getFunction(service, name), "FunctionNotFound");
  });
});
