import { it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "./helpers/cluster.js";
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
const show = async (name: string, p: Promise<any>) => {
  try { const r = await p; console.log(name, "OK", JSON.stringify(r.data ?? r).slice(0, 400)); }
  catch (e: any) { console.log(name, "ERR", e.code, String(e.message).slice(0, 300)); }
};
it("probe", async () => {
  const fc: any = ctx.fc;
  await show("getAccountSettings", fc.getAccountSettings());
  await show("getAccountConfigs", fc.getAccountConfigs({ configNames: "CodeSizeLimit" }));
  await show("listReservedCapacities", fc.listReservedCapacities());
  await show("getTempBucketToken", fc.getTempBucketToken());
  await fc.createService("p", { tracingConfig: {} });
  await show("getService tracing {}", fc.getService("p"));
  await show("getTempCodeBucketPermission", fc.getTempCodeBucketPermission("p", "f", "e1"));
  const zipFile = (await makeZip({ "index.js": "exports.handler = (req, resp, ctx) => resp.send('hi');" })).toString("base64");
  await fc.createFunction("p", { functionName: "web", runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
  await fc.createTrigger("p", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
  await show("invoke http fn", fc.invokeFunction("p", "web", "x"));
  const lz = (await makeZip({ "nodejs/x.js": "" })).toString("base64");
  const layer = await fc.publishLayerVersion("lay", { code: { zipFile: lz }, compatibleRuntime: ["nodejs20"] });
  console.log("layer", JSON.stringify(layer.data));
  for (const key of ["arn", "layerVersionArn", "arnV2"]) {
    if (!layer.data[key]) continue;
    await show(`createFunction layers ${key}`, fc.createFunction("p", { functionName: `l${key}`, runtime: "nodejs20", handler: "index.handler", layers: [layer.data[key]], code: { zipFile } }));
  }
  await show("custom domain missing target", fc.createCustomDomain("missing.example.com", { protocol: "HTTP", routeConfig: { routes: [{ path: "/*", serviceName: "nope", functionName: "nada" }] } }));
  await show("listInstances", fc.listInstances("p", "web", {}));
  await show("getOnDemandConfig", fc.getOnDemandConfig("p", "LATEST", "web"));
  await show("listOnDemandConfigs", fc.listOnDemandConfigs());
  await show("putLayerACL", fc.putLayerACL("lay", { public: true }));
  await show("updateService clear tracing", fc.updateService("p", { tracingConfig: {} }));
  await show("getFunction", fc.getFunction("p", "web"));
});
