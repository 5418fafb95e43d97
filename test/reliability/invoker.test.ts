import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "@nimbus/testkit";
import { deploy, eventually } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

const SLEEPER = "exports.handler = (event, context, callback) => setTimeout(() => callback(null, 'slept ' + event), Number(String(event)) || 0);";

describe("without any invoker", () => {
  it("a call fails within milliseconds with a clear platform error", async () => {
    const cluster = await TestCluster.start({ services: ["gateway"], redis: true });
    try {
      await deploy(cluster, "none", "f", { "index.js": SLEEPER }, { timeout: 60 });
      const started = Date.now();
      const res = await send(cluster, { method: "POST", path: "/2016-08-15/services/none/functions/f/invocations", body: "0" });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ ErrorCode: "ServiceUnavailable", ErrorMessage: "no invoker node is running to execute the function" });
    } finally {
      await cluster.stop();
    }
  });
});

describe("two invoker nodes", () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({
      services: ["gateway", "invoker", "invoker"],
      env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_NODE_TTL_MS: "2000", NIMBUS_INVOKER_MAX_INSTANCES: "3" },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const nodeOf = (instanceId: string) => instanceId.split("-").slice(1, -1).join("-");

  it("spread calls over both nodes", async () => {
    const client = await deploy(cluster, "two", "spread", { "index.js": SLEEPER }, { timeout: 30 });
    // Each node runs at most 3 instances here, so a burst of 12 cannot all stay on the first node
    // that took the function: the rest are placed on the other.
    const results = await Promise.all(Array.from({ length: 12 }, () => client.invokeFunction("two", "spread", "300")));
    const more = await Promise.all(Array.from({ length: 24 }, () => client.invokeFunction("two", "spread", "50")));
    const nodes = new Set([...results, ...more].map((r) => nodeOf(r.headers.get("x-fc-instance-id") ?? "")));
    expect(nodes.size).toBe(2);
  });

  it("fail a call fast when its node is SIGKILLed, forget the node, and serve the next calls on the other", async () => {
    const client = await deploy(cluster, "two", "victim", { "index.js": SLEEPER }, { timeout: 60 });
    // Warm both nodes, then find which node a long call lands on.
    await Promise.all(Array.from({ length: 6 }, () => client.invokeFunction("two", "victim", "200")));
    const started = Date.now();
    const pending = send(cluster, { method: "POST", path: "/2016-08-15/services/two/functions/victim/invocations", body: "30000" });
    await new Promise((r) => setTimeout(r, 700));
    const listed = (await client.listInstances("two", "victim")).data.instances.map((i) => i.instanceId);
    // Kill whichever invoker node holds a busy instance: kill both candidates' owner by asking each.
    const invokers = cluster.services.get("invoker") ?? [];
    const busyNode = await findBusyNode(cluster, listed);
    // An instance id names its node by a tag: the first 8 hex digits of SHA-256 of the node id.
    const tagOf = (nodeId: string) => createHash("sha256").update(nodeId).digest("hex").slice(0, 8);
    const victim = invokers.find((p) => p.options.env["NIMBUS_NODE_ID"] && busyNode === tagOf(String(p.options.env["NIMBUS_NODE_ID"])));
    expect(victim).toBeDefined();
    await victim?.kill();
    const res = await pending;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.status).toBe(503);
    expect(res.json.ErrorMessage).toMatch(/stopped/);

    const next = await client.invokeFunction("two", "victim", "10");
    expect(next.data.toString()).toBe("slept 10");
    await eventually(async () => {
      const left = (await client.listInstances("two", "victim")).data.instances.filter((i) => nodeOf(i.instanceId) === busyNode);
      if (left.length) throw new Error(`still listed: ${left.map((i) => i.instanceId).join(", ")}`);
    }, "the dead node's instances to disappear from the registry", 10_000);
    await victim?.start();
  });

  it("a SIGTERMed node finishes what it runs, then exits", async () => {
    const client = await deploy(cluster, "two", "drain", { "index.js": SLEEPER }, { timeout: 60 });
    const invoker = cluster.service("invoker", 1);
    await Promise.all(Array.from({ length: 6 }, () => client.invokeFunction("two", "drain", "100")));
    const calls = Array.from({ length: 6 }, () => client.invokeFunction("two", "drain", "1500"));
    await new Promise((r) => setTimeout(r, 300));
    const stopped = invoker.stop(20_000);
    const results = await Promise.all(calls);
    for (const r of results) expect(r.data.toString()).toBe("slept 1500");
    await stopped;
    expect(invoker.process.running).toBe(false);
    const exit = await invoker.process.exited();
    expect(exit.code).toBe(0);
    expect((await client.invokeFunction("two", "drain", "1")).data.toString()).toBe("slept 1");
    await invoker.start();
  });
});

/** The node (as it appears in instance ids) whose instance is busy: the one with a call in flight. */
async function findBusyNode(cluster: TestCluster, instanceIds: string[]): Promise<string | undefined> {
  const client = cluster.client();
  // Each node's idle instances answer at once; the busy one cannot take a 1-slot call, so the node
  // with fewer free instances is found by elimination: the long call's instance is the one not reused.
  const used = new Set<string>();
  const probes = await Promise.all(Array.from({ length: 10 }, () => client.invokeFunction("two", "victim", "50")));
  for (const p of probes) used.add(p.headers.get("x-fc-instance-id") ?? "");
  const busy = instanceIds.find((id) => !used.has(id));
  return busy ? busy.split("-").slice(1, -1).join("-") : undefined;
}

describe("a cold function called N times at once", () => {
  it("starts at most maximumInstanceCount instances; the rest wait or get 429", async () => {
    const cluster = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_QUEUE_WAIT_MS: "3000" } });
    try {
      const client = await deploy(cluster, "cold", "limited", { "index.js": SLEEPER }, { timeout: 30 });
      await client.putOnDemandConfig("cold", "LATEST", "limited", 2);
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => client.invokeFunction("cold", "limited", "400")));
      const ok = results.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<{ headers: Headers }>).value);
      const refused = results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason as { code: string; status: number });
      expect(new Set(ok.map((r) => r.headers.get("x-fc-instance-id"))).size).toBeLessThanOrEqual(2);
      for (const err of refused) expect(err).toMatchObject({ code: "ResourceExhausted", status: 429 });
      expect(ok.length).toBeGreaterThan(0);
      expect((await client.listInstances("cold", "limited")).data.instances.length).toBeLessThanOrEqual(2);

      // When no slot frees up within the queue wait (3 s here), the overflow is refused with 429.
      await deploy(cluster, "cold", "single", { "index.js": SLEEPER }, { timeout: 30 });
      await client.putOnDemandConfig("cold", "LATEST", "single", 1);
      const slow = await Promise.allSettled(Array.from({ length: 4 }, () => client.invokeFunction("cold", "single", "2000")));
      const served = slow.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ headers: Headers }>[];
      const throttled = slow.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason);
      expect(new Set(served.map((r) => r.value.headers.get("x-fc-instance-id"))).size).toBe(1);
      expect(served.length).toBeGreaterThanOrEqual(1);
      expect(throttled.length).toBeGreaterThanOrEqual(1);
      for (const err of throttled) expect(err).toMatchObject({ code: "ResourceExhausted", status: 429 });
    } finally {
      await cluster.stop();
    }
  });
});

describe("payloads larger than the NATS server's max_payload", () => {
  it("still travel both ways, byte for byte", async () => {
    const cluster = await TestCluster.start({ services: ["gateway", "invoker"], natsMaxPayloadBytes: 256 * 1024, env: { NIMBUS_LOG_LEVEL: "warn" } });
    try {
      const client = await deploy(cluster, "big", "echo", { "index.js": "exports.handler = (event, context, callback) => callback(null, Buffer.concat([event, event]));" });
      const event = Buffer.alloc(1_500_000);
      for (let i = 0; i < event.length; i++) event[i] = (i * 7) & 0xff;
      const res = await client.invokeFunction("big", "echo", event);
      expect(res.data.length).toBe(3_000_000);
      expect(Buffer.compare(res.data, Buffer.concat([event, event]))).toBe(0);
    } finally {
      await cluster.stop();
    }
  });
});
