import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { send } from "../helpers/http.js";
import { eventually } from "../helpers/functions.js";
import { BIN, exited, freePorts, leftovers, sdk, startUp, type Ports } from "./launch.js";

let home: string;
let ports: Ports;

const up = () => startUp(home, ports);

async function noLeftovers(): Promise<void> {
  await eventually(async () => {
    const left = await leftovers(home);
    if (left.length > 0) throw new Error(`processes left behind:\n${left.join("\n")}`);
  }, "nimbus up stopped everything", 10_000);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "nimbus-home-"));
  ports = await freePorts();
});
afterAll(async () => {
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(home, { recursive: true, force: true });
});

describe("npm start (nimbus up), tried as a new user would", () => {
  it("comes up, prints a key that works, stops cleanly, and starts again on the same data", async () => {
    const first = await up();
    expect(first.output()).toContain("(just created)");
    expect(first.printed.endpoint).toBe(`http://127.0.0.1:${ports.api}`);
    const creds = JSON.parse(await readFile(join(home, "credentials.json"), "utf8"));
    expect(creds.accessKeyId).toBe(first.printed.accessKeyId);
    expect((await stat(join(home, "credentials.json"))).mode & 0o777).toBe(0o600);
    const readyz = await fetch(`${first.printed.endpoint}/readyz`);
    expect(readyz.status, await readyz.clone().text()).toBe(200);
    // Every service's /metrics, where the banner says (free ports here: NIMBUS_METRICS_PORT_BASE=0).
    const metricsLine = /\n\s+metrics\s+(.*)\n/.exec(first.output())?.[1] ?? "";
    expect(metricsLine).toContain(`${first.printed.endpoint}/metrics (gateway)`);
    const metricsPorts = [...metricsLine.matchAll(/([a-z-]+) :(\d+)/g)].map((m) => [m[1], Number(m[2])] as const);
    expect(metricsPorts.map(([name]) => name)).toEqual(["invoker", "async-queue", "trigger-router", "log-collector"]);
    for (const [name, port] of [["gateway", ports.api] as const, ...metricsPorts]) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text, name).toMatch(/^nimbus_connection_up\{dependency="nats",component="[a-z-]+",node="[^"]+"\} 1$/m);
    }

    const fc = sdk(first);
    await fc.createService("hello", { description: "from the walkthrough" });
    const zipFile = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'hi')" })).toString("base64");
    await fc.createFunction("hello", { functionName: "world", runtime: "nodejs20", handler: "index.handler", code: { zipFile } });

    first.child.kill("SIGTERM");
    expect(await exited(first.child)).toBe(0);
    await noLeftovers();

    const second = await up();
    expect(second.output()).not.toContain("(just created)");
    expect(second.printed.accessKeyId).toBe(first.printed.accessKeyId);
    const again = sdk(second);
    expect((await again.getService("hello")).data.description).toBe("from the walkthrough");
    expect((await again.getFunction("hello", "world")).data.handler).toBe("index.handler");

    // Even a SIGKILLed launcher leaves nothing running, and the next start is clean.
    second.child.kill("SIGKILL");
    await exited(second.child);
    await noLeftovers();
    const third = await up();
    expect((await sdk(third).listFunctions("hello")).data.functions).toHaveLength(1);
    third.child.kill("SIGINT");
    expect(await exited(third.child)).toBe(0);
    await noLeftovers();
  });

  it("says what is wrong when a port is taken", async () => {
    const blocker = await TestCluster.start({ redis: false });
    try {
      const busy = Number(new URL(blocker.endpoint()).port);
      const child = spawn(process.execPath, [BIN, "up"], {
        env: { PATH: process.env["PATH"], NIMBUS_HOME: home, NIMBUS_PORT: String(busy), NIMBUS_NATS_PORT: String(ports.nats), NIMBUS_REDIS_PORT: String(ports.redis) },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
      expect(await exited(child)).toBe(1);
      expect(out).toContain(`port ${busy} (gateway) is in use`);
      await noLeftovers();
    } finally {
      await blocker.stop();
    }
  });
});

describe("readiness", () => {
  it("answers 503 until every required service has a ready node", async () => {
    const cluster = await TestCluster.start({ env: { NIMBUS_REQUIRED_SERVICES: "gateway,invoker" } });
    try {
      const res = await send(cluster, { method: "GET", path: "/readyz", sign: false });
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ status: "not ready", nats: "connected", metadata: "loaded", missingServices: ["invoker"] });
      const live = await send(cluster, { method: "GET", path: "/healthz", sign: false });
      expect(live.status).toBe(200);
    } finally {
      await cluster.stop();
    }
  });
});
