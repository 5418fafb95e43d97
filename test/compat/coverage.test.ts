import { readFileSync } from "node:fs";
import { join } from "node:path";
import FC from "@alicloud/fc2";
import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { uniqueName } from "../helpers/fc.js";
import { COVERAGE, SDK_INTERNALS, type Coverage } from "./coverage.js";

// Issue 15: every method of FC's Node.js SDK, called once as a user would against real services,
// answers as the README's "FC 2.0 API coverage" table says: it works (with a documented difference
// or none), or it fails with OperationNotSupported and says what to do instead.
const ctx = useCluster({ services: ["gateway", "invoker", "async-queue"], env: { NIMBUS_LOG_LEVEL: "warn" } });
const ROOT = new URL("../../", import.meta.url).pathname;

const sdkMethods = () => Object.getOwnPropertyNames(FC.prototype).filter((m) => !SDK_INTERNALS.has(m)).sort();

/** The README's coverage table: operation → what its second column says. */
function readmeTable(): Map<string, string> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("FC 2.0 API coverage")) ?? "";
  const rows = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([A-Za-z]+)` \| ([a-z ]+) \|/gm)) rows.set(m[1] as string, (m[2] as string).trim());
  return rows;
}

describe("FC 2.0 API coverage", () => {
  it("names every operation of @alicloud/fc2, in the test's table and in the README's, with the same answer", () => {
    expect(Object.keys(COVERAGE).sort()).toEqual(sdkMethods());
    const readme = readmeTable();
    expect([...readme.keys()].sort()).toEqual(sdkMethods());
    for (const [op, coverage] of Object.entries(COVERAGE)) expect(readme.get(op), op).toBe(coverage);
  });

  it("walks every operation against real services: each answers as the table says", async () => {
    const fc = ctx.fc;
    const svc = uniqueName("walk");
    const layer = uniqueName("walklayer");
    const domain = `${uniqueName("walk").replace("_", "-")}.example.com`;
    const zipFile = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'walked');" })).toString("base64");
    const layerZip = (await makeZip({ "nodejs/x.js": "" })).toString("base64");
    const arn = `acs:fc:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:services/${svc}`;
    let layerArn = "";
    let instanceId = "none";
    const seen = new Map<string, Coverage>();
    const call = async (op: string, run: () => Promise<unknown>) => {
      const expected = COVERAGE[op];
      if (expected === "not supported") {
        await expect(run(), op).rejects.toMatchObject({ code: "OperationNotSupported" });
      } else {
        await run();
      }
      seen.set(op, expected as Coverage);
    };

    await call("createService", () => fc.createService(svc, { description: "walk" }));
    await call("listServices", () => fc.listServices({ prefix: svc }));
    await call("getService", () => fc.getService(svc));
    await call("updateService", () => fc.updateService(svc, { description: "walked" }));
    await call("tagResource", () => fc.tagResource(arn, { team: "walk" }));
    await call("getResourceTags", () => fc.getResourceTags({ resourceArn: arn }));
    await call("untagResource", () => fc.untagResource(arn, ["team"]));
    await call("publishLayerVersion", async () => {
      layerArn = ((await fc.publishLayerVersion(layer, { code: { zipFile: layerZip }, compatibleRuntime: ["nodejs20"] })).data as { arnV2: string }).arnV2;
    });
    await call("listLayers", () => fc.listLayers({ prefix: layer }));
    await call("listLayerVersions", () => fc.listLayerVersions(layer));
    await call("getLayerVersion", () => fc.getLayerVersion(layer, 1));
    await call("getLayerVersionByArn", () => fc.getLayerVersionByArn(layerArn));
    await call("putLayerACL", () => fc.putLayerACL(layer, { public: true }));
    await call("createFunction", () => fc.createFunction(svc, { functionName: "fn", runtime: "nodejs20", handler: "index.handler", layers: [layerArn], code: { zipFile } }));
    await call("listFunctions", () => fc.listFunctions(svc));
    await call("getFunction", () => fc.getFunction(svc, "fn"));
    await call("getFunctionCode", () => fc.getFunctionCode(svc, "fn"));
    await call("updateFunction", () => fc.updateFunction(svc, "fn", { description: "walked" }));
    await call("invokeFunction", async () => expect((await fc.invokeFunction(svc, "fn", "")).data.toString()).toBe("walked"));
    await call("listInstances", async () => {
      instanceId = ((await fc.listInstances(svc, "fn")).data as { instances: { instanceId: string }[] }).instances[0]?.instanceId ?? "none";
    });
    await call("instanceExec", () =>
      new Promise((resolve, reject) => {
        void fc.instanceExec(svc, "fn", "", instanceId, { command: ["/bin/sh"] }, { onError: (err: Error) => reject(Object.assign(err, { code: /is not supported/.test(err.message) ? "OperationNotSupported" : "" })), onClose: () => resolve(undefined) });
      }),
    );
    await call("createTrigger", () => fc.createTrigger(svc, "fn", { triggerName: "tick", triggerType: "timer", triggerConfig: { cronExpression: "@every 1h", enable: false } }));
    await call("listTriggers", () => fc.listTriggers(svc, "fn"));
    await call("getTrigger", () => fc.getTrigger(svc, "fn", "tick"));
    await call("updateTrigger", () => fc.updateTrigger(svc, "fn", "tick", { description: "walked" }));
    await call("publishVersion", () => fc.publishVersion(svc, "v1"));
    await call("listVersions", () => fc.listVersions(svc));
    await call("createAlias", () => fc.createAlias(svc, "live", "1"));
    await call("getAlias", () => fc.getAlias(svc, "live"));
    await call("updateAlias", () => fc.updateAlias(svc, "live", "1", { description: "walked" }));
    await call("listAliases", () => fc.listAliases(svc));
    await call("putProvisionConfig", () => fc.putProvisionConfig(svc, "fn", "live", { target: 0 }));
    await call("getProvisionConfig", () => fc.getProvisionConfig(svc, "fn", "live"));
    await call("listProvisionConfigs", () => fc.listProvisionConfigs({ serviceName: svc }));
    await call("putFunctionAsyncConfig", () => fc.putFunctionAsyncConfig(svc, "fn", "live", { maxAsyncRetryAttempts: 1 }));
    await call("getFunctionAsyncConfig", () => fc.getFunctionAsyncConfig(svc, "fn", "live"));
    await call("listFunctionAsyncConfigs", () => fc.listFunctionAsyncConfigs(svc, "fn"));
    await call("deleteFunctionAsyncConfig", () => fc.deleteFunctionAsyncConfig(svc, "fn", "live"));
    await call("putOnDemandConfig", () => fc.putOnDemandConfig(svc, "fn", "live", { maximumInstanceCount: 2 }));
    await call("getOnDemandConfig", () => fc.getOnDemandConfig(svc, "fn", "live"));
    await call("listOnDemandConfigs", () => fc.listOnDemandConfigs());
    await call("deleteOnDemandConfig", () => fc.deleteOnDemandConfig(svc, "fn", "live"));
    await call("createCustomDomain", () => fc.createCustomDomain(domain, { protocol: "HTTP", routeConfig: { routes: [{ path: "/*", serviceName: svc, functionName: "fn" }] } }));
    await call("listCustomDomains", () => fc.listCustomDomains({ prefix: domain }));
    await call("getCustomDomain", () => fc.getCustomDomain(domain));
    await call("updateCustomDomain", () => fc.updateCustomDomain(domain, { protocol: "HTTP" }));
    await call("deleteCustomDomain", () => fc.deleteCustomDomain(domain));
    await call("getAccountSettings", () => fc.getAccountSettings());
    await call("getAccountConfigs", () => fc.getAccountConfigs({ config: ["CodeSizeLimit"] }));
    await call("listReservedCapacities", () => fc.listReservedCapacities());
    await call("getTempCodeBucketPermission", () => fc.getTempCodeBucketPermission(svc, "fn", "e1"));
    await call("getTempBucketToken", () => fc.getTempBucketToken());
    await call("publishLayerVersionForBigCode", () => fc.publishLayerVersionForBigCode(layer, { codeConfig: { size: 10, zipFilePath: "/dev/null" }, compatibleRuntime: ["nodejs20"] }));
    await call("deleteAlias", () => fc.deleteAlias(svc, "live"));
    await call("deleteVersion", () => fc.deleteVersion(svc, "1"));
    await call("deleteTrigger", () => fc.deleteTrigger(svc, "fn", "tick"));
    await call("deleteFunction", () => fc.deleteFunction(svc, "fn"));
    await call("deleteLayerVersion", () => fc.deleteLayerVersion(layer, 1));
    await call("deleteService", () => fc.deleteService(svc));

    expect([...seen.keys()].sort()).toEqual(sdkMethods());
  });
});
