import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { TestCluster } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually, processesMatching } from "../helpers/functions.js";
import { prestartDir, waitingSandboxes } from "../helpers/instances.js";

// What an instance can see of itself: how long its process has lived, its environment, /code, /tmp, its host name.
const INSPECT = `
const fs = require("fs");
const os = require("os");
exports.handler = (event, context, callback) => callback(null, JSON.stringify({
  uptimeMs: Math.round(process.uptime() * 1000),
  pid: process.pid,
  env: process.env,
  code: fs.readdirSync("/code").sort(),
  tmp: fs.readdirSync("/tmp"),
  hostname: os.hostname(),
  memory: context.function.memory,
}));`;

interface Inspected {
  uptimeMs: number;
  pid: number;
  env: Record<string, string>;
  code: string[];
  tmp: string[];
  hostname: string;
  memory: number;
}

/** Waits until exactly `count` sandboxes wait. */
function until(cluster: TestCluster, count: number): Promise<string[]> {
  return eventually(async () => {
    const ids = await waitingSandboxes(cluster);
    if (ids.length !== count) throw new Error(`${ids.length} pre-started sandboxes, not ${count}`);
    return ids;
  }, `${count} pre-started sandboxes`, 15_000);
}

describe("pre-started sandboxes", () => {
  const suite = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_PREWARM: "2", NIMBUS_LOG_LEVEL: "info" } });

  it("serve a new function's first call from a sandbox started before the function existed, with nothing of anyone else", async () => {
    const cluster = suite.cluster;
    const before = await until(cluster, 2);
    await new Promise((r) => setTimeout(r, 300));
    const created = Date.now();
    const client = await deploy(cluster, "pre", "inspect", { "index.js": INSPECT, "data.txt": "x" }, { memorySize: 256, environmentVariables: { GREETING: "hi" } });
    const first = JSON.parse((await client.invokeFunction("pre", "inspect", "")).data.toString()) as Inspected;
    // Its process is older than the function: it was waiting in the pool.
    expect(first.uptimeMs).toBeGreaterThan(Date.now() - created);
    expect(before).toContain(first.hostname);
    // Its environment is the function's own and FC's, as in a sandbox started for it.
    expect(first.env["GREETING"]).toBe("hi");
    expect(first.env["FC_FUNCTION_NAME"]).toBe("inspect");
    expect(first.env["FC_FUNCTION_MEMORY_SIZE"]).toBe("256");
    expect(first.env["FC_INSTANCE_ID"]).toBe(first.hostname);
    expect(Object.keys(first.env).filter((k) => k.startsWith("NIMBUS"))).toEqual([]);
    expect(first.code).toEqual(["data.txt", "index.js"]);
    expect(first.tmp).toEqual([]);
    expect(first.memory).toBe(256);

    // The pool refills; another function gets another sandbox, never this one.
    await until(cluster, 2);
    const other = await deploy(cluster, "pre", "other", { "index.js": INSPECT });
    const second = JSON.parse((await other.invokeFunction("pre", "other", "")).data.toString()) as Inspected;
    expect(second.hostname).not.toBe(first.hostname);
    expect(second.code).toEqual(["index.js"]);
    expect(second.env["GREETING"]).toBeUndefined();
    // And the first function keeps its instance.
    const again = JSON.parse((await client.invokeFunction("pre", "inspect", "")).data.toString()) as Inspected;
    expect(again.hostname).toBe(first.hostname);
  });

  it("the instance from a pre-started sandbox gets its function's memory limit", async () => {
    const cluster = suite.cluster;
    await until(cluster, 2);
    // 128 MB is what a waiting sandbox is limited to; this function may use 512 and allocates ~200.
    const hog = `exports.handler = (e, c, cb) => { const keep = []; for (let i = 0; i < 200; i++) keep.push(Buffer.alloc(1024 * 1024, 1)); cb(null, String(keep.length) + " " + Math.round(process.uptime() * 1000)); };`;
    const created = Date.now();
    const client = await deploy(cluster, "pre", "hog", { "index.js": hog }, { memorySize: 512 });
    const [count, uptime] = (await client.invokeFunction("pre", "hog", "")).data.toString().split(" ");
    expect(count).toBe("200");
    expect(Number(uptime)).toBeGreaterThan(Date.now() - created);
  });

  it("a pre-started sandbox killed while it waits is replaced, and never handed out dead", async () => {
    const cluster = suite.cluster;
    const [victim] = await until(cluster, 2);
    const [proc] = await processesMatching(`--hostname ${victim} `);
    process.kill(Number(proc?.split(" ")[0]), "SIGKILL");
    // The rest of its process chain goes a moment later; then two wait again, the victim not among them.
    const now = await eventually(async () => {
      const ids = await waitingSandboxes(cluster);
      if (ids.includes(victim as string) || ids.length !== 2) throw new Error(`waiting: ${ids.join(", ")}`);
      return ids;
    }, "the killed sandbox replaced", 15_000);
    expect(now).not.toContain(victim);
    const client = await deploy(cluster, "pre", "after-kill", { "index.js": INSPECT });
    const res = JSON.parse((await client.invokeFunction("pre", "after-kill", "")).data.toString()) as Inspected;
    expect(now).toContain(res.hostname);
  });

  it("keep Python sandboxes ready too, once a Python function asked for one", async () => {
    const cluster = suite.cluster;
    const code = `
import os, json
def uptime_ms():
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return int((up - start / os.sysconf("SC_CLK_TCK")) * 1000)
def handler(event, context):
    return json.dumps({"uptimeMs": uptime_ms(), "env": dict(os.environ), "code": sorted(os.listdir("/code"))})
`;
    // The first Python function starts its own sandbox, and asks the pool for Python ones from then on.
    const first = await deploy(cluster, "pre", "py-first", { "index.py": code }, { runtime: "python3", handler: "index.handler" });
    await first.invokeFunction("pre", "py-first", "");
    await until(cluster, 4);
    await new Promise((r) => setTimeout(r, 300));
    const created = Date.now();
    const client = await deploy(cluster, "pre", "py-second", { "index.py": code, "extra.txt": "x" }, { runtime: "python3", handler: "index.handler", environmentVariables: { GREETING: "hi" } });
    const seen = JSON.parse((await client.invokeFunction("pre", "py-second", "")).data.toString()) as { uptimeMs: number; env: Record<string, string>; code: string[] };
    expect(seen.uptimeMs).toBeGreaterThan(Date.now() - created);
    expect(seen.env["GREETING"]).toBe("hi");
    expect(seen.env["FC_FUNCTION_NAME"]).toBe("py-second");
    expect(Object.keys(seen.env).filter((k) => k.startsWith("NIMBUS"))).toEqual([]);
    expect(seen.code).toEqual(["extra.txt", "index.py"]);
  });

  it("functions with variables read only at process start get a sandbox of their own", async () => {
    const cluster = suite.cluster;
    await until(cluster, 4); // two Node.js, two Python since the test before
    const created = Date.now();
    const client = await deploy(cluster, "pre", "node-options", { "index.js": INSPECT }, { environmentVariables: { NODE_OPTIONS: "--max-http-header-size=32768" } });
    const res = JSON.parse((await client.invokeFunction("pre", "node-options", "")).data.toString()) as Inspected;
    expect(res.uptimeMs).toBeLessThan(Date.now() - created);
    expect(await readdir(prestartDir(cluster))).not.toContain(res.hostname);
  });
});

describe("pre-started sandboxes within a small memory budget", () => {
  const suite = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_PREWARM: "8", NIMBUS_INVOKER_MEMORY_MB: "384", NIMBUS_LOG_LEVEL: "info" } });

  it("never hold more than the budget, and give it up to a function that needs it", async () => {
    const cluster = suite.cluster;
    // 384 MB holds three 128 MB sandboxes, whatever NIMBUS_PREWARM asks.
    await until(cluster, 3);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await until(cluster, 3)).length).toBe(3);
    const client = await deploy(cluster, "small", "big", { "index.js": INSPECT }, { memorySize: 384 });
    const res = JSON.parse((await client.invokeFunction("small", "big", "")).data.toString()) as Inspected;
    expect(res.memory).toBe(384);
    // The function holds the whole budget now: no sandbox waits beside it.
    await until(cluster, 0);
  });
});
