import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";

// Issue 15: the SDK operations that answered PathNotSupported, answered as FC answers them.
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_MAX_CODE_ZIP_BYTES: String(20 * 1024 * 1024) } });

describe("account-level operations through @alicloud/fc2", () => {
  it("getAccountSettings: the zones of this region", async () => {
    const res = await ctx.fc.getAccountSettings();
    expect(res.data).toEqual({ availableAZs: [`${ctx.cluster.credentials.region}-a`], defaultRole: "" });
    expect(res.headers["x-fc-request-id"]).toBeTruthy();
  });

  it("getAccountConfigs: the limits this deployment enforces, all or by name; an unknown name is InvalidArgument", async () => {
    const all = (await ctx.fc.getAccountConfigs({})).data;
    expect(all).toMatchObject({ CodeSizeLimit: 20 * 1024 * 1024, SyncPayloadSizeLimit: 6 * 1024 * 1024, AsyncPayloadSizeLimit: 128 * 1024 });
    // As the SDK's own publishLayerVersionForBigCode asks for it.
    expect((await ctx.fc.getAccountConfigs({ config: ["CodeSizeLimit"] })).data).toEqual({ CodeSizeLimit: 20 * 1024 * 1024 });
    expect(Object.keys((await ctx.fc.getAccountConfigs({ config: ["CodeSizeLimit", "ResponseSizeLimit"] })).data)).toEqual(["CodeSizeLimit", "ResponseSizeLimit"]);
    await expectFcError(ctx.fc.getAccountConfigs({ config: ["CodeSizeLimit", "Nonsense"] }), "InvalidArgument", "unknown Nonsense");
  });

  it("listReservedCapacities: a well-formed empty page; a bad limit is InvalidArgument", async () => {
    expect((await ctx.fc.listReservedCapacities()).data).toEqual({ reservedCapacities: [] });
    await expectFcError(ctx.fc.listReservedCapacities({ limit: 1000 }), "InvalidArgument", "limit");
  });

  it("the temporary OSS bucket tokens say what Nimbus takes instead, never PathNotSupported", async () => {
    await ctx.fc.createService(uniqueName("acct")).catch(() => undefined);
    for (const call of [ctx.fc.getTempBucketToken(), ctx.fc.getTempCodeBucketPermission("any", "fn", "e1")]) {
      const err = await expectFcError(call, "OperationNotSupported", "code.zipFile");
      expect(err.message).toContain("up to 20 MB zipped");
    }
  });
});

describe("layers in both of FC's forms", () => {
  it("a function's layers take the arn and the arnV2 publishLayerVersion returns, and read back as arnV2 in layers and layersArnV2", async () => {
    const svc = uniqueName("lay");
    const zipFile = (await makeZip({ "nodejs/node_modules/greet/index.js": "module.exports = () => 'from a layer';" })).toString("base64");
    const layer = (await ctx.fc.publishLayerVersion(uniqueName("greet"), { code: { zipFile }, compatibleRuntime: ["nodejs20"] })).data;
    expect(layer.arn).toMatch(/^[^#]+#[^#]+#1$/);
    const code = { "index.js": "exports.handler = (e, c, cb) => cb(null, require('greet')());" };
    for (const [fn, arn] of [["v1", layer.arn], ["v2", layer.arnV2]]) {
      await deploy(ctx.cluster, svc, fn, code, { layers: [arn] });
      const got = (await ctx.fc.getFunction(svc, fn)).data;
      expect(got.layers, fn).toEqual([layer.arnV2]);
      expect(got.layersArnV2, fn).toEqual([layer.arnV2]);
      expect((await ctx.fc.invokeFunction(svc, fn, "")).data.toString(), fn).toBe("from a layer");
    }
    await ctx.fc.updateFunction(svc, "v2", { layers: [layer.arn] });
    expect((await ctx.fc.getFunction(svc, "v2")).data.layers).toEqual([layer.arnV2]);
    await expectFcError(ctx.fc.updateFunction(svc, "v2", { layers: [layer.arn.replace(/^[^#]+/, "999")] }), "InvalidArgument", "not of this one");
    await expectFcError(ctx.fc.updateFunction(svc, "v2", { layers: ["not-an-arn"] }), "InvalidArgument", "arnV2");
  });
});

describe("putLayerACL", () => {
  it("makes every version of a layer public or private, later versions too; listLayers filters by it; official is refused", async () => {
    const name = uniqueName("acl");
    const zipFile = (await makeZip({ "nodejs/x.js": "" })).toString("base64");
    await ctx.fc.publishLayerVersion(name, { code: { zipFile }, compatibleRuntime: ["nodejs20"] });
    const publicNames = async () => (await ctx.fc.listLayers({ public: "true", prefix: name })).data.layers.map((l: { layerName: string }) => l.layerName);
    expect((await ctx.fc.getLayerVersion(name, 1)).data.acl).toBe(0);
    expect(await publicNames()).toEqual([]);
    await ctx.fc.putLayerACL(name, { public: true });
    expect((await ctx.fc.getLayerVersion(name, 1)).data.acl).toBe(1);
    expect((await ctx.fc.publishLayerVersion(name, { code: { zipFile }, compatibleRuntime: ["nodejs20"] })).data.acl).toBe(1);
    expect(await publicNames()).toEqual([name]);
    expect((await ctx.fc.listLayers({ official: "true", prefix: name })).data.layers).toEqual([]);
    await ctx.fc.putLayerACL(name, { public: false });
    expect((await ctx.fc.getLayerVersion(name, 2)).data.acl).toBe(0);
    await expectFcError(ctx.fc.putLayerACL(name, { official: true }), "OperationNotSupported", "official");
    await expectFcError(ctx.fc.putLayerACL(name, { public: "maybe" }), "InvalidArgument", "public");
    await expectFcError(ctx.fc.putLayerACL(uniqueName("nolayer"), { public: true }), "LayerNotFound");
  });
});

describe("invokeFunction on an HTTP function", () => {
  it("is refused with the URL of its HTTP trigger, as FC does; an event function still runs", async () => {
    const svc = uniqueName("httpfn");
    await deploy(ctx.cluster, svc, "web", { "index.js": "exports.handler = (req, resp, context) => resp.send('hi');" });
    await ctx.fc.createTrigger(svc, "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const err = await expectFcError(ctx.fc.invokeFunction(svc, "web", "x"), "InvalidArgument", "is an HTTP function");
    expect(err.message).toContain(`/2016-08-15/proxy/${svc}/web/`);
    await expectFcError(ctx.fc.invokeFunction(svc, "web", "x", { "x-fc-invocation-type": "Async" }), "InvalidArgument", "is an HTTP function");
    await deploy(ctx.cluster, svc, "event", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'event');" });
    expect((await ctx.fc.invokeFunction(svc, "event", "")).data.toString()).toBe("event");
  });
});
