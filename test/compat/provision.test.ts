import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, uniqueName } from "../helpers/fc.js";
import { deploy, eventually } from "../helpers/functions.js";

// Two invoker nodes; instances idle for a second are reaped (provisioned ones must not be).
const ctx = useCluster({
  services: ["gateway", "invoker", "invoker"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INSTANCE_IDLE_MS: "1000", NIMBUS_NODE_TTL_MS: "2000", NIMBUS_PROVISION_INTERVAL_MS: "300" },
});

/** Says when its module was loaded and its initializer ran, and where it runs. */
const WARM = `
  const loadedAt = Date.now();
  let initializedAt = 0;
  exports.initializer = (context, callback) => { initializedAt = Date.now(); callback(null, ''); };
  exports.handler = (event, context, callback) => callback(null, JSON.stringify({ loadedAt, initializedAt, v: process.env.V, versionId: context.service.versionId }));`;

const tagOf = (nodeId: string) => createHash("sha256").update(nodeId).digest("hex").slice(0, 8);

async function instancesOf(svc: string, fn: string, qualifier: string) {
  return (await ctx.cluster.client().listInstances(svc, fn, qualifier)).data.instances;
}

async function setup() {
  const svc = uniqueName("prov");
  await deploy(ctx.cluster, svc, "warm", { "index.js": WARM }, { initializer: "index.initializer", environmentVariables: { V: "one" } });
  await ctx.fc.publishVersion(svc);
  await ctx.fc.createAlias(svc, "prod", "1");
  return svc;
}

describe("provisioned instances through @alicloud/fc2", () => {
  it("keeps the target warm: started and initialized before the first call, never reaped, listed, counted", async () => {
    const svc = await setup();
    const put = await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 1 });
    expect(put.data).toMatchObject({ resource: `${ctx.cluster.credentials.accountId}#${svc}#prod#warm`, target: 1, current: expect.any(Number) });
    const got = await ctx.fc.getProvisionConfig(svc, "warm", "prod");
    expect(got.data).toMatchObject({ resource: `${ctx.cluster.credentials.accountId}#${svc}#prod#warm`, target: 1 });

    const [instance] = await eventually(async () => {
      const listed = await instancesOf(svc, "warm", "prod");
      if (listed.length !== 1) throw new Error(`${listed.length} instances`);
      return listed;
    }, "the provisioned instance to be listed", 15_000);
    expect(instance?.versionId).toBe(1);
    await expect.poll(async () => (await ctx.fc.getProvisionConfig(svc, "warm", "prod")).data.current, { timeout: 10_000 }).toBe(1);

    // Idle past the reaping time, it is still the same instance, and the call finds it ready.
    await new Promise((r) => setTimeout(r, 2_500));
    const before = Date.now();
    const res = await ctx.fc.invokeFunction(svc, "warm", "", {}, "prod");
    const body = JSON.parse(res.data);
    expect(res.headers["x-fc-instance-id"]).toBe(instance?.instanceId);
    expect(body.loadedAt).toBeLessThan(before);
    expect(body.initializedAt).toBeGreaterThan(0);
    expect(body.initializedAt).toBeLessThan(before);
    expect(body).toMatchObject({ v: "one", versionId: "1" });
    expect((await instancesOf(svc, "warm", "prod")).map((i: { instanceId: string }) => i.instanceId)).toEqual([instance?.instanceId]);

    const listed = await ctx.fc.listProvisionConfigs({ serviceName: svc });
    expect(listed.data.provisionConfigs).toEqual([expect.objectContaining({ resource: `${ctx.cluster.credentials.accountId}#${svc}#prod#warm`, target: 1, current: 1 })]);

    // More, then none.
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 2 });
    await expect.poll(async () => (await ctx.fc.getProvisionConfig(svc, "warm", "prod")).data.current, { timeout: 15_000 }).toBe(2);
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 0 });
    await expect.poll(async () => (await instancesOf(svc, "warm", "prod")).length, { timeout: 15_000 }).toBe(0);
    expect((await ctx.fc.getProvisionConfig(svc, "warm", "prod")).data).toMatchObject({ target: 0, current: 0 });
  });

  it("replaces the instances of a lost node on another, and follows its alias to a new version", async () => {
    const svc = await setup();
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 1 });
    const first = await eventually(async () => {
      const [one] = await instancesOf(svc, "warm", "prod");
      if (!one) throw new Error("none yet");
      return one as { instanceId: string };
    }, "a provisioned instance", 15_000);
    const invokers = ctx.cluster.services.get("invoker") ?? [];
    const holder = invokers.find((p) => first.instanceId.split("-")[1] === tagOf(String(p.options.env["NIMBUS_NODE_ID"])));
    expect(holder).toBeDefined();
    await holder?.kill();
    try {
      const replacement = await eventually(async () => {
        const [one] = await instancesOf(svc, "warm", "prod");
        if (!one || one.instanceId === first.instanceId) throw new Error("not replaced yet");
        return one as { instanceId: string };
      }, "a replacement on the other node", 20_000);
      expect(replacement.instanceId.split("-")[1]).not.toBe(first.instanceId.split("-")[1]);
      await expect.poll(async () => (await ctx.fc.getProvisionConfig(svc, "warm", "prod")).data.current, { timeout: 10_000 }).toBe(1);
    } finally {
      await holder?.start();
    }

    // The alias moves to version 2: version 2 gets the provisioned instance, version 1's is released.
    await ctx.fc.updateFunction(svc, "warm", { environmentVariables: { V: "two" } });
    await ctx.fc.publishVersion(svc);
    await ctx.fc.updateAlias(svc, "prod", "2");
    await eventually(async () => {
      const listed = await instancesOf(svc, "warm", "prod");
      if (listed.length !== 1 || listed[0]?.versionId !== 2) throw new Error(JSON.stringify(listed));
    }, "the provisioned instance to follow the alias", 20_000);
    expect(JSON.parse((await ctx.fc.invokeFunction(svc, "warm", "", {}, "prod")).data)).toMatchObject({ v: "two", versionId: "2" });
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 0 });
  });

  it("refuses targets it cannot keep and qualifiers it cannot provision", async () => {
    const svc = await setup();
    await ctx.cluster.client().putOnDemandConfig(svc, "prod", "warm", 3);
    await expectFcError(ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 4 }), "InvalidArgument", "maximumInstanceCount of 3");
    await expectFcError(ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: -1 }), "InvalidArgument", "target");
    await expectFcError(ctx.fc.putProvisionConfig(svc, "warm", "1", { target: 1 }), "InvalidArgument", "alias or LATEST");
    await expectFcError(ctx.fc.putProvisionConfig(svc, "warm", "nope", { target: 1 }), "AliasNotFound");
    await expectFcError(ctx.fc.putProvisionConfig(svc, "missing", "prod", { target: 1 }), "FunctionNotFound");
    await expectFcError(ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 100_001 }), "InvalidArgument");
    expect((await ctx.fc.getProvisionConfig(svc, "warm", "prod")).data.target).toBe(0);
    // An alias that keeps provisioned instances cannot be deleted.
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 1 });
    await expectFcError(ctx.fc.deleteAlias(svc, "prod"), "InvalidArgument", "provisioned");
    await ctx.fc.putProvisionConfig(svc, "warm", "prod", { target: 0 });
    await ctx.fc.deleteAlias(svc, "prod");
  });
});
