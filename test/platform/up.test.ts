import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import FC from "@alicloud/fc2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, makeZip, TestCluster } from "@nimbus/testkit";
import { send } from "../helpers/http.js";

const BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));

interface Up {
  child: ChildProcess;
  output: () => string;
  printed: { endpoint: string; accountId: string; accessKeyId: string; accessKeySecret: string };
}

let home: string;
let ports: { api: number; nats: number; redis: number };

/** Runs `nimbus up` (what `npm start` runs) as a user would, with only NIMBUS_HOME and ports set. */
async function up(): Promise<Up> {
  const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"], HOME: process.env["HOME"], NIMBUS_HOME: home };
  Object.assign(env, { NIMBUS_PORT: String(ports.api), NIMBUS_NATS_PORT: String(ports.nats), NIMBUS_REDIS_PORT: String(ports.redis), NIMBUS_METRICS_PORT_BASE: "0" });
  const child = spawn(process.execPath, [BIN, "up"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const until = Date.now() + 45_000;
  while (!out.includes("Ctrl-C stops everything")) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`nimbus up did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const field = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(out)?.[1] ?? "";
  return {
    child,
    output: () => out,
    printed: { endpoint: field("endpoint"), accountId: field("account id"), accessKeyId: field("access key id"), accessKeySecret: field("access key secret") },
  };
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once("exit", (code) => r(code)));
}

/** Processes whose command line or environment mentions this home: what `nimbus up` left running. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const [cmdline, environ] = await Promise.all([readFile(`/proc/${pid}/cmdline`, "utf8"), readFile(`/proc/${pid}/environ`, "utf8")]);
      if (cmdline.includes(home) || environ.split("\0").includes(`NIMBUS_HOME=${home}`)) found.push(`${pid}: ${cmdline.replaceAll("\0", " ")}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

async function noLeftovers(): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const left = await leftovers();
    if (left.length === 0) return;
    if (Date.now() > until) throw new Error(`processes left behind:\n${left.join("\n")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function sdk(u: Up): FC {
  return new FC(u.printed.accountId, { accessKeyID: u.printed.accessKeyId, accessKeySecret: u.printed.accessKeySecret, region: "local", endpoint: u.printed.endpoint });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "nimbus-home-"));
  ports = { api: await freePort(), nats: await freePort(), redis: await freePort() };
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
