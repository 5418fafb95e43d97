import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { uniqueName } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";

// Issue 15: nested configs read back in FC's shapes whether never set, set empty, set in part or
// cleared — on create, update, get and list — and what a read shows can be written back as it is.
const ctx = useCluster({ services: ["gateway"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const EMPTY_SERVICE = {
  tracingConfig: { type: null, params: null },
  vpcConfig: { vpcId: "", vSwitchIds: [], securityGroupId: "", role: "" },
  nasConfig: { userId: -1, groupId: -1, mountPoints: [] },
  ossMountConfig: { mountPoints: [] },
  logConfig: { project: "", logstore: "", enableRequestMetrics: false, enableInstanceMetrics: false, logBeginRule: "None" },
};

describe("service configs", () => {
  it("read back whole when never set, empty or partial, on create, get, update and list", async () => {
    const never = uniqueName("norm");
    expect((await ctx.fc.createService(never)).data).toMatchObject(EMPTY_SERVICE);
    const empty = uniqueName("norm");
    const created = await ctx.fc.createService(empty, { tracingConfig: {}, vpcConfig: {}, nasConfig: {}, ossMountConfig: {}, logConfig: {} });
    expect(created.data).toMatchObject(EMPTY_SERVICE);
    expect((await ctx.fc.getService(empty)).data).toMatchObject(EMPTY_SERVICE);
    const partial = await ctx.fc.updateService(empty, { tracingConfig: { type: "Jaeger" }, vpcConfig: { vpcId: "vpc-1" }, nasConfig: { userId: 10 }, logConfig: { project: "p" } });
    expect(partial.data).toMatchObject({
      tracingConfig: { type: "Jaeger", params: null },
      vpcConfig: { vpcId: "vpc-1", vSwitchIds: [], securityGroupId: "", role: "" },
      nasConfig: { userId: 10, groupId: -1, mountPoints: [] },
      logConfig: { project: "p", logstore: "", logBeginRule: "None" },
    });
    // Cleared: an empty object sent again reads back as never set.
    expect((await ctx.fc.updateService(empty, { tracingConfig: {}, vpcConfig: {} })).data).toMatchObject({ tracingConfig: EMPTY_SERVICE.tracingConfig, vpcConfig: EMPTY_SERVICE.vpcConfig });
    const listed = (await ctx.fc.listServices({ prefix: empty })).data.services.find((s: { serviceName: string }) => s.serviceName === empty);
    expect(listed).toMatchObject({ tracingConfig: EMPTY_SERVICE.tracingConfig, nasConfig: { userId: 10 } });
  });
});

describe("function configs", () => {
  it("read back in FC's shapes, and a read written back as it is changes nothing", async () => {
    const svc = uniqueName("norm");
    await deploy(ctx.cluster, svc, "plain", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'x');" });
    const plain = (await ctx.fc.getFunction(svc, "plain")).data;
    expect(plain.instanceLifecycleConfig).toEqual({ preFreeze: { handler: "", timeout: 3 }, preStop: { handler: "", timeout: 3 } });
    expect(plain.customDNS).toBeUndefined();
    expect(plain.customHealthCheckConfig).toBeUndefined();

    await deploy(ctx.cluster, svc, "set", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'x'); exports.stop = (c, cb) => cb();" }, {
      instanceLifecycleConfig: { preStop: { handler: "index.stop" } },
      customDNS: { nameServers: ["10.0.0.2"] },
      customHealthCheckConfig: { httpGetUrl: "/ready" },
    });
    const set = (await ctx.fc.getFunction(svc, "set")).data;
    expect(set.instanceLifecycleConfig).toEqual({ preFreeze: { handler: "", timeout: 3 }, preStop: { handler: "index.stop", timeout: 3 } });
    expect(set.customDNS).toEqual({ nameServers: ["10.0.0.2"], searches: [], dnsOptions: [] });
    expect(set.customHealthCheckConfig).toEqual({ httpGetUrl: "/ready", initialDelaySeconds: 0, periodSeconds: 3, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 });

    // What tools do: read, change one field, write the whole read back.
    const { instanceLifecycleConfig, customDNS, customHealthCheckConfig, layers, environmentVariables } = set;
    const rewritten = (await ctx.fc.updateFunction(svc, "set", { description: "again", instanceLifecycleConfig, customDNS, customHealthCheckConfig, layers, environmentVariables })).data;
    expect(rewritten).toMatchObject({ description: "again", instanceLifecycleConfig, customDNS, customHealthCheckConfig });
    // Cleared: the hook's handler emptied is no hook.
    const cleared = (await ctx.fc.updateFunction(svc, "set", { instanceLifecycleConfig: { preStop: { handler: "" } } })).data;
    expect(cleared.instanceLifecycleConfig.preStop).toEqual({ handler: "", timeout: 3 });
  });
});
