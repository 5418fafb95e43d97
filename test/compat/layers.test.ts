import { describe, expect, it } from "vitest";
import { crc64 } from "@nimbus/archive";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

/** A layer whose Node.js module `name` exports `value`. */
async function moduleLayer(name: string, value: string): Promise<string> {
  return (await makeZip({ [`nodejs/node_modules/${name}/index.js`]: `module.exports = ${JSON.stringify(value)};`, "bin/tool": { content: "#!/bin/sh\necho tool\n", mode: 0o755 } })).toString("base64");
}

const arnOf = (layer: string, version: number) => `acs:fc:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:layers/${layer}/versions/${version}`;

describe("layers through @alicloud/fc2", () => {
  it("publishes numbered layer versions and lists and reads them as FC does", async () => {
    const layer = uniqueName("lib");
    const zipFile = await moduleLayer("greeting", "hello from a layer");
    const first = await ctx.fc.publishLayerVersion(layer, { code: { zipFile }, compatibleRuntime: ["nodejs20", "nodejs18"], description: "first", license: "MIT" });
    expect(first.data).toMatchObject({
      layerName: layer,
      version: 1,
      description: "first",
      codeSize: Buffer.from(zipFile, "base64").length,
      codeChecksum: crc64(Buffer.from(zipFile, "base64")),
      compatibleRuntime: ["nodejs20", "nodejs18"],
      license: "MIT",
      acl: 0,
      createTime: expect.stringMatching(/Z$/),
      arn: `${ctx.cluster.credentials.accountId}#${layer}#1`,
      layerVersionArn: arnOf(layer, 1),
      code: { repositoryType: "Nimbus", location: expect.stringContaining("http") },
    });
    const second = await ctx.fc.publishLayerVersion(layer, { code: { zipFile }, compatibleRuntime: ["nodejs20"] });
    expect(second.data.version).toBe(2);

    // The same version, read back; its download URL is signed anew (its expiry moves with the clock).
    const unsigned = (d: typeof first.data) => ({ ...d, code: { ...d.code, location: d.code.location.split("?")[0] } });
    expect(unsigned((await ctx.fc.getLayerVersion(layer, 1)).data)).toEqual(unsigned(first.data));
    expect((await ctx.fc.getLayerVersionByArn(arnOf(layer, 2))).data.version).toBe(2);
    const versions = await ctx.fc.listLayerVersions(layer, { limit: 1 });
    expect(versions.data).toMatchObject({ layers: [{ version: 1 }], nextVersion: 2 });
    const listed = (await ctx.fc.listLayers({ prefix: layer })).data.layers;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ layerName: layer, version: 2 });

    // The download behind code.location is the package, byte for byte.
    const download = await fetch(first.data.code.location);
    expect(Buffer.compare(Buffer.from(await download.arrayBuffer()), Buffer.from(zipFile, "base64"))).toBe(0);

    // Version numbers are never reused.
    await ctx.fc.deleteLayerVersion(layer, 2);
    await expectFcError(ctx.fc.getLayerVersion(layer, 2), "LayerNotFound");
    expect((await ctx.fc.publishLayerVersion(layer, { code: { zipFile }, compatibleRuntime: ["nodejs20"] })).data.version).toBe(3);

    await expectFcError(ctx.fc.getLayerVersion(layer, 9), "LayerNotFound");
    await expectFcError(ctx.fc.getLayerVersionByArn(arnOf(uniqueName("nolayer"), 1)), "LayerNotFound");
    await expectFcError(ctx.fc.publishLayerVersion(layer, { code: { zipFile: Buffer.from("not a zip").toString("base64") }, compatibleRuntime: ["nodejs20"] }), "InvalidArgument");
    await expectFcError(ctx.fc.publishLayerVersion(layer, { code: { zipFile }, compatibleRuntime: ["cobol"] }), "InvalidArgument", "compatibleRuntime");
    await expectFcError(ctx.fc.publishLayerVersion(layer, { code: { zipFile } }), "InvalidArgument", "compatibleRuntime");
  });

  it("mounts a function's layers under /opt, in order, read-only, where require() finds their modules", async () => {
    const a = uniqueName("la");
    const b = uniqueName("lb");
    await ctx.fc.publishLayerVersion(a, { code: { zipFile: await moduleLayer("shared", "from a") }, compatibleRuntime: ["nodejs20"] });
    await ctx.fc.publishLayerVersion(b, { code: { zipFile: await moduleLayer("shared", "from b") }, compatibleRuntime: ["nodejs20"] });
    const only = await makeZip({ "nodejs/node_modules/only-in-a/index.js": "module.exports = 'a only';" });
    await ctx.fc.publishLayerVersion(a, { code: { zipFile: only.toString("base64") }, compatibleRuntime: ["nodejs20"] });

    const svc = uniqueName("lay");
    const handler = `
      const fs = require('fs');
      exports.handler = (event, context, callback) => {
        let writable = true;
        try { fs.writeFileSync('/opt/x', 'x'); } catch { writable = false; }
        let onlyA = null;
        try { onlyA = require('only-in-a'); } catch {}
        callback(null, JSON.stringify({ shared: require('shared'), onlyA, writable, tool: fs.existsSync('/opt/bin/tool') }));
      };`;
    await deploy(ctx.cluster, svc, "uses", { "index.js": handler }, { layers: [arnOf(a, 1), arnOf(b, 1)] });
    expect((await ctx.fc.getFunction(svc, "uses")).data.layers).toEqual([arnOf(a, 1), arnOf(b, 1)]);
    expect(JSON.parse((await ctx.fc.invokeFunction(svc, "uses", "")).data)).toEqual({ shared: "from b", onlyA: null, writable: false, tool: true });

    // The other order, and another version of a: the function sees exactly what it names.
    await ctx.fc.updateFunction(svc, "uses", { layers: [arnOf(b, 1), arnOf(a, 2)] });
    expect(JSON.parse((await ctx.fc.invokeFunction(svc, "uses", "")).data)).toMatchObject({ shared: "from b", onlyA: "a only" });
    await ctx.fc.updateFunction(svc, "uses", { layers: [arnOf(b, 1), arnOf(a, 1)] });
    expect(JSON.parse((await ctx.fc.invokeFunction(svc, "uses", "")).data)).toMatchObject({ shared: "from a", onlyA: null });

    // A deleted layer version keeps serving the functions that name it, but nobody can add it any more.
    await ctx.fc.deleteLayerVersion(a, 1);
    await ctx.fc.updateFunction(svc, "uses", { environmentVariables: { RESTART: "1" } });
    expect(JSON.parse((await ctx.fc.invokeFunction(svc, "uses", "")).data)).toMatchObject({ shared: "from a" });
    await expectFcError(
      ctx.fc.createFunction(svc, { functionName: "late", runtime: "nodejs20", handler: "index.handler", code: { zipFile: (await makeZip({ "index.js": handler })).toString("base64") }, layers: [arnOf(a, 1)] }),
      "InvalidArgument",
      "does not exist",
    );
  });

  it("refuses functions with layers that are missing, too many, repeated, malformed or for another runtime", async () => {
    const layer = uniqueName("lc");
    await ctx.fc.publishLayerVersion(layer, { code: { zipFile: await moduleLayer("x", "x") }, compatibleRuntime: ["nodejs18"] });
    for (let v = 2; v <= 6; v++) await ctx.fc.publishLayerVersion(layer, { code: { zipFile: await moduleLayer("x", String(v)) }, compatibleRuntime: ["nodejs20"] });
    const svc = uniqueName("bad");
    await ctx.fc.createService(svc);
    const zipFile = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" })).toString("base64");
    const create = (layers: string[]) => ctx.fc.createFunction(svc, { functionName: "f", runtime: "nodejs20", handler: "index.handler", code: { zipFile }, layers });
    await expectFcError(create([arnOf(layer, 99)]), "InvalidArgument", "does not exist");
    await expectFcError(create([2, 3, 4, 5, 6, 2].map((v) => arnOf(layer, v))), "InvalidArgument", "at most 5");
    await expectFcError(create([arnOf(layer, 2), arnOf(layer, 2)]), "InvalidArgument", "twice");
    await expectFcError(create(["acs:fc:cn-local:123:layers/x/versions/0"]), "InvalidArgument", "arnV2");
    await expectFcError(create([arnOf(layer, 1)]), "InvalidArgument", "not with nodejs20");
    await expectFcError(create([`acs:fc:elsewhere:${ctx.cluster.credentials.accountId}:layers/${layer}/versions/2`]), "InvalidArgument");
    // Nothing was half-created.
    await expectFcError(ctx.fc.getFunction(svc, "f"), "FunctionNotFound");
    expect((await create([arnOf(layer, 2)])).data.layers).toEqual([arnOf(layer, 2)]);
  });
});
