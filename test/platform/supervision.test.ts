// What `nimbus up` does when one of the processes it started dies: the services and the embedded
// nats-server and redis-server come back on their port and data, each death handled once.
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type FC from "@alicloud/fc2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import type { NimbusClient } from "@nimbus/sdk";
import { waitForInvocation } from "../helpers/async.js";
import { eventually } from "../helpers/functions.js";
import { client, descendant, exited, freePorts, sdk, startUp, type Up } from "./launch.js";

let home: string;
let platform: Up;
let fc: FC;
let probe: FC;
let nimbus: NimbusClient;

async function readyz(): Promise<number> {
  return fetch(`${platform.printed.endpoint}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
    (res) => res.status,
    () => 0,
  );
}

/**
 * One synchronous call that must answer with the function's result. A call sent the moment a
 * server dies may wait for the gateway's own deadline; the probe gives up sooner and tries again.
 */
async function callWorks(): Promise<void> {
  const res = await probe.invokeFunction("sup", "echo", "ping");
  if (String(res.data) !== "echo ping") throw new Error(`unexpected answer ${String(res.data)}`);
}

/** Queues an asynchronous call (202) and returns its id. */
async function enqueue(event: string, fn = "echo"): Promise<string> {
  const res = await fc.invokeFunction("sup", fn, event, { "x-fc-invocation-type": "Async" });
  const id = res.headers["x-fc-stateful-async-invocation-id"];
  if (!id) throw new Error("no invocation id in the 202");
  return String(id);
}

async function succeeded(fn: string, id: string): Promise<void> {
  const final = await waitForInvocation(nimbus, "sup", fn, id);
  expect(final.status, JSON.stringify(final)).toBe("Succeeded");
}

/**
 * Kills `pid`, then waits until `healed` passes; meanwhile /readyz is asked every 10 ms, to report
 * whether it was caught admitting an outage that may last only a hundred milliseconds.
 */
async function killAndHeal(pid: number, healed: () => Promise<void>, what: string): Promise<{ ms: number; saw503: boolean }> {
  let saw503 = false;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      if ((await readyz()) === 503) saw503 = true;
      await new Promise((r) => setTimeout(r, 10)); // leave the CPU to the restart
    }
  })();
  try {
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    await eventually(healed, what, 30_000);
    return { ms: Date.now() - killedAt, saw503 };
  } finally {
    watching = false;
    await watcher;
  }
}

/**
 * With the launcher frozen (SIGSTOP) nothing restarts a killed server, so the outage lasts: /readyz
 * must answer 503 naming the dependency meanwhile; thawed, the server comes back and /readyz is 200.
 */
async function readinessWhileDown(dependency: "nats" | "redis", pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, "utf8")).trim());
  process.kill(platform.child.pid!, "SIGSTOP");
  try {
    process.kill(pid, "SIGKILL");
    await eventually(async () => {
      const res = await fetch(`${platform.printed.endpoint}/readyz`);
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 503 || body[dependency] !== "disconnected") throw new Error(`${res.status} ${JSON.stringify(body)}`);
    }, `/readyz says ${dependency} is down`);
  } finally {
    process.kill(platform.child.pid!, "SIGCONT");
  }
  await eventually(async () => {
    if ((await readyz()) !== 200) throw new Error("not ready");
    await callWorks();
  }, `ready again after ${dependency} came back`);
}

function count(pattern: RegExp): number {
  return platform.output().match(new RegExp(pattern, "g"))?.length ?? 0;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "nimbus-sup-"));
  platform = await startUp(home, await freePorts());
  fc = sdk(platform);
  probe = sdk(platform, { timeout: 1_000 });
  nimbus = client(platform);
  await fc.createService("sup");
  const code = async (src: string) => ({ zipFile: (await makeZip({ "index.js": src })).toString("base64") });
  await fc.createFunction("sup", { functionName: "echo", runtime: "nodejs20", handler: "index.handler", code: await code("exports.handler = (e, c, cb) => cb(null, 'echo ' + e)") });
  await fc.putFunctionAsyncConfig("sup", "echo", "LATEST", { statefulInvocation: true } as never);
  // One at a time, 300 ms each: a backlog queued before a Redis kill is still there after it.
  await fc.createFunction("sup", {
    functionName: "slow",
    runtime: "nodejs20",
    handler: "index.handler",
    code: await code("exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'done ' + e), 300)"),
  });
  await fc.putFunctionAsyncConfig("sup", "slow", "LATEST", { maxAsyncConcurrency: 1, statefulInvocation: true } as never);
  await callWorks();
});
afterAll(async () => {
  platform.child.kill("SIGTERM");
  await exited(platform.child);
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(home, { recursive: true, force: true });
});

describe("nimbus up supervises what it started", () => {
  it("restarts a killed gateway once per kill, five kills in a row, each back in about a second", async () => {
    const heals: number[] = [];
    for (let kill = 1; kill <= 5; kill++) {
      const pid = await descendant(platform.child.pid!, "services/gateway/dist/main.js");
      const { ms } = await killAndHeal(
        pid,
        async () => {
          if ((await readyz()) !== 200) throw new Error("not ready");
          await callWorks();
        },
        `gateway kill ${kill} healed`,
      );
      heals.push(ms);
      // Exactly one restart per kill, and the new gateway is the only one.
      expect(count(/nimbus: gateway exited \([^)]*\); restarting/), platform.output()).toBe(kill);
      expect(await descendant(platform.child.pid!, "services/gateway/dist/main.js")).not.toBe(pid);
    }
    console.log(`gateway kill → ready and answering, ms: ${heals.join(", ")}`);
    expect(platform.output()).not.toContain("already running");
    expect(platform.output()).not.toContain("failed to restart");
  });

  it("restarts a killed nats-server on its port and data; calls and async enqueue work again", async () => {
    const pid = Number((await readFile(join(home, "nats", "nats-server.pid"), "utf8")).trim());
    expect(await descendant(platform.child.pid!, "nats-server")).toBe(pid);
    const killedAt = Date.now();
    const healed = await killAndHeal(pid, callWorks, "sync calls after a nats-server kill");
    const queued = await eventually(() => enqueue("after nats"), "async enqueue after a nats-server kill");
    const enqueueMs = Date.now() - killedAt;
    await succeeded("echo", queued);
    console.log(`nats-server kill → sync call works after ${healed.ms} ms, async enqueue after ${enqueueMs} ms; /readyz seen at 503 meanwhile: ${healed.saw503}`);
    // Warm calls travel on direct links and may work again before the gateway is back on NATS: ready follows.
    await eventually(async () => {
      const status = await readyz();
      if (status !== 200) throw new Error(`/readyz answers ${status}`);
      return status;
    }, "/readyz 200 once nats-server is back");
    expect(count(/nimbus: nats-server exited \([^)]*\); restarting/)).toBe(1);
    // The same data: functions created before the kill are still there.
    expect((await fc.getFunction("sup", "slow")).data.functionName).toBe("slow");

    await readinessWhileDown("nats", join(home, "nats", "nats-server.pid"));
    expect(count(/nimbus: nats-server exited \([^)]*\); restarting/)).toBe(2);
  }, 120_000);

  it("restarts a killed redis-server on its AOF: invocations acknowledged before the kill still run", async () => {
    const before: string[] = [];
    for (let i = 0; i < 10; i++) before.push(await enqueue(`before ${i}`, "slow"));
    const pid = Number((await readFile(join(home, "redis", "redis-server.pid"), "utf8")).trim());
    expect(await descendant(platform.child.pid!, "redis-server")).toBe(pid);
    const killedAt = Date.now();
    const healed = await killAndHeal(pid, callWorks, "sync calls after a redis-server kill");
    const after = await eventually(() => enqueue("after redis"), "async enqueue after a redis-server kill");
    const enqueueMs = Date.now() - killedAt;
    for (const id of [...before, after]) await succeeded(id === after ? "echo" : "slow", id);
    console.log(
      `redis-server kill → sync call works after ${healed.ms} ms, async enqueue after ${enqueueMs} ms, all ${before.length} queued before it succeeded after ${Date.now() - killedAt} ms; /readyz seen at 503 meanwhile: ${healed.saw503}`,
    );
    expect(await readyz()).toBe(200);
    expect(count(/nimbus: redis-server exited \([^)]*\); restarting/)).toBe(1);

    await readinessWhileDown("redis", join(home, "redis", "redis-server.pid"));
    expect(count(/nimbus: redis-server exited \([^)]*\); restarting/)).toBe(2);
  }, 120_000);
});
