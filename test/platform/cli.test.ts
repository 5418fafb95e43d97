import { execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { cliEnv as clusterCliEnv, runCli } from "./cli-run.js";
import { BIN, ROOT } from "./launch.js";

const run = promisify(execFile);
const ctx = useCluster({ services: ["gateway", "invoker", "async-queue", "trigger-router", "log-collector"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_ASYNC_RETRY_BASE_MS: "100" } });
let dir: string;

function cliEnv() {
  return clusterCliEnv(ctx.cluster, join(dir, ".nimbus-none"));
}

function nimbus(args: string[], input?: string, extraEnv: Record<string, string> = {}) {
  return runCli(args, { ...cliEnv(), ...extraEnv }, input);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-cli-"));
  await mkdir(join(dir, "app", "lib"), { recursive: true });
  await writeFile(join(dir, "app", "index.js"), "const { greet } = require('./lib/greet'); exports.handler = (event, context, callback) => { console.log('greeting', String(event)); callback(null, greet(String(event)) + ' (' + process.env.STAGE + ')'); };");
  await writeFile(join(dir, "app", "lib", "greet.js"), "exports.greet = (name) => 'hello ' + name;");
  await writeFile(join(dir, "app", "nimbus.yaml"), "service: cli\nfunction: greeter\nruntime: nodejs18\nmemorySize: 256\ntimeout: 5\nenvironmentVariables:\n  STAGE: yaml\n");
  await writeFile(join(dir, "event.txt"), "from a file");
  await mkdir(join(dir, "broken"));
  await writeFile(join(dir, "broken", "index.js"), "exports.handler = (e, c, cb) => cb(new Error('broken on purpose'));");
  await chmod(dir, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the nimbus CLI", () => {
  it("deploys a directory from its nimbus.yaml, then updates it", async () => {
    const first = await nimbus(["deploy", join(dir, "app")]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("created cli/greeter");
    expect(JSON.parse(first.stdout)).toMatchObject({ functionName: "greeter", runtime: "nodejs18", memorySize: 256, timeout: 5, environmentVariables: { STAGE: "yaml" } });
    const second = await nimbus(["deploy", join(dir, "app"), "--env", "STAGE=flag"]);
    expect(second.stderr).toContain("updated cli/greeter");
    expect(JSON.parse(second.stdout).environmentVariables).toEqual({ STAGE: "flag" });
  });

  it("invokes with an event from text, a file or stdin, and shows the log tail", async () => {
    expect((await nimbus(["invoke", "cli/greeter", "--event", "world"])).stdout).toBe("hello world (flag)\n");
    expect((await nimbus(["invoke", "cli/greeter", "--event", `@${join(dir, "event.txt")}`])).stdout).toBe("hello from a file (flag)\n");
    expect((await nimbus(["invoke", "cli/greeter", "--event", "-"], "piped")).stdout).toBe("hello piped (flag)\n");
    const tailed = await nimbus(["invoke", "cli.LATEST/greeter", "--event", "tail", "--tail"]);
    expect(tailed.stderr).toMatch(/\[verbose\] greeting tail/);
    expect(tailed.stderr).toMatch(/^x-fc-request-id: [0-9a-f-]{36}\nx-fc-invocation-service-version: LATEST\n$/m);
  });

  it("prints the answer as a line of its own, then the log tail, then which request and version it was", async () => {
    // Both streams into one pipe, as a terminal shows them.
    const merged = await run("sh", ["-c", `"${process.execPath}" "${BIN}" invoke cli/greeter --event order --tail 2>&1`], { env: cliEnv(), encoding: "utf8" });
    const lines = merged.stdout.split("\n");
    expect(lines[0]).toBe("hello order (flag)");
    const start = lines.findIndex((l) => l.startsWith("FC Invoke Start RequestId: "));
    const requestId = lines[start]?.slice("FC Invoke Start RequestId: ".length);
    expect(start).toBeGreaterThan(0);
    expect(lines.indexOf(`x-fc-request-id: ${requestId}`)).toBeGreaterThan(start);
    expect(merged.stdout.endsWith("x-fc-invocation-service-version: LATEST\n")).toBe(true);
  });

  it("says which endpoint it could not reach, where that came from, and to check npm start", async () => {
    const port = await freePort();
    const call = await nimbus(["invoke", "cli/greeter"], undefined, { NIMBUS_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(call.code).toBe(2);
    expect(call.stderr).toContain(`cannot reach http://127.0.0.1:${port} (from NIMBUS_ENDPOINT): ECONNREFUSED`);
    expect(call.stderr).toContain("Is 'npm start' running?");
    expect(call.stderr).not.toMatch(/^nimbus: fetch failed$/m);
  });

  it("points an invoke of an HTTP function to its trigger URL", async () => {
    const web = join(ROOT, "examples", "web");
    const deployed = await nimbus(["deploy", web, "--service", "cli", "--function", "web"]);
    expect(deployed.code).toBe(0);
    expect(deployed.stderr).toContain(`HTTP trigger: ${ctx.cluster.endpoint()}/2016-08-15/proxy/cli/web/`);
    // The API refuses to run an HTTP function as an event function, as FC does, saying where to call it.
    const call = await nimbus(["invoke", "cli/web", "--event", "hi"]);
    expect(call.code).toBe(2);
    const url = /call it through its trigger, (\S+);/.exec(call.stderr)?.[1];
    expect(url, call.stderr).toBe(`${ctx.cluster.endpoint()}/2016-08-15/proxy/cli/web/`);
    const res = await fetch(`${url}orders?id=1`, { method: "POST", body: "hello" });
    expect(await res.json()).toMatchObject({ method: "POST", path: "/orders", queries: { id: "1" }, body: "hello" });
  });

  it("deploy says which names it chose when none were given, and its help says so too", async () => {
    await mkdir(join(dir, "nameless"));
    await writeFile(join(dir, "nameless", "index.js"), "exports.handler = (e, c, cb) => cb(null, 'nameless');");
    const deployed = await nimbus(["deploy", join(dir, "nameless")]);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stderr).toContain("using service 'default'");
    expect(deployed.stderr).toContain("naming the function 'nameless' after its directory");
    expect(deployed.stderr).toContain("created default/nameless");
    expect((await nimbus(["invoke", "default/nameless"])).stdout).toBe("nameless\n");
    expect((await nimbus(["deploy", "--help"])).stdout).toMatch(/the service is 'default' and\s+the function is named after the directory/);
  });

  it("exits 1 on a function error and 2 on a failed call", async () => {
    const deployed = await nimbus(["deploy", join(dir, "broken"), "--service", "cli", "--function", "broken"]);
    expect(deployed.code).toBe(0);
    const failed = await nimbus(["invoke", "cli/broken"]);
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stdout).toContain("broken on purpose");
    expect(failed.stderr).toContain("HandledInvocationError");
    const missing = await nimbus(["invoke", "cli/nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("FunctionNotFound");
  });

  it("publishes layers and versions and sets aliases with canary weights", async () => {
    await mkdir(join(dir, "layer", "nodejs", "node_modules", "shout"), { recursive: true });
    await writeFile(join(dir, "layer", "nodejs", "node_modules", "shout", "index.js"), "module.exports = (s) => s.toUpperCase() + '!';");
    const layer = await nimbus(["layer", "publish", join(dir, "layer"), "--name", "shout", "--runtime", "nodejs18", "--runtime", "nodejs20"]);
    expect(layer.code, layer.stderr).toBe(0);
    const arn = layer.stdout.trim();
    expect(arn).toBe(`acs:fc:${ctx.cluster.credentials.region}:${ctx.cluster.credentials.accountId}:layers/shout/versions/1`);
    expect((await nimbus(["layer", "list", "shout"])).stdout).toMatch(/^1\tacs:fc:.*\tnodejs18,nodejs20\t/);

    await mkdir(join(dir, "loud"));
    await writeFile(join(dir, "loud", "index.js"), "exports.handler = (e, c, cb) => cb(null, require('shout')(String(e)) + ' ' + process.env.STAGE);");
    await writeFile(join(dir, "loud", "nimbus.yaml"), `service: rel\nfunction: loud\nruntime: nodejs20\nenvironmentVariables:\n  STAGE: one\nlayers:\n  - ${arn}\n`);
    expect((await nimbus(["deploy", join(dir, "loud")])).code).toBe(0);
    expect((await nimbus(["invoke", "rel/loud", "--event", "hi"])).stdout).toBe("HI! one\n");

    expect((await nimbus(["version", "publish", "rel", "--description", "first"])).stdout).toBe("1\n");
    expect((await nimbus(["version", "publish", "rel"])).stderr).toContain("VersionPublishError");
    expect((await nimbus(["alias", "set", "rel", "prod", "1"])).stderr).toContain("created alias prod of rel → version 1");
    await nimbus(["deploy", join(dir, "loud"), "--env", "STAGE=two"]);
    expect((await nimbus(["version", "publish", "rel"])).stdout).toBe("2\n");
    expect((await nimbus(["alias", "set", "rel", "prod", "1", "--weight", "2=0.5"])).stderr).toContain("(+ 50% to version 2)");
    expect((await nimbus(["alias", "list", "rel"])).stdout).toBe("prod\t1\t2=0.5\n");
    expect((await nimbus(["version", "list", "rel"])).stdout).toMatch(/^2\t.*\n1\t.*\tfirst\n$/);
    // Each call says which version the alias sent it to, and that version answered.
    const seen = new Map<string, string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const call = await nimbus(["invoke", "rel.prod/loud", "--event", "hi"]);
      expect(call.code, call.stderr).toBe(0);
      seen.set(/^x-fc-invocation-service-version: (\d+)$/m.exec(call.stderr)?.[1] ?? "?", call.stdout);
    }
    expect(Object.fromEntries(seen)).toEqual({ "1": "HI! one\n", "2": "HI! two\n" });
    expect((await nimbus(["alias", "set", "rel", "prod", "1", "--weight", "2=7"])).code).toBe(2);
  });

  it("creates, lists and deletes triggers of every type", async () => {
    const sync = await nimbus(["trigger", "create", "cli/greeter", "rpc", "--type", "nats", "--subject", "cli.greet", "--sync", "--raw"]);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout).triggerConfig).toMatchObject({ subject: "cli.greet", invocationType: "Sync", cloudEvents: false, durable: false });
    expect((await nimbus(["trigger", "create", "cli/greeter", "tick", "--type", "timer", "--cron", "@every 1h", "--disabled"])).code).toBe(0);
    expect((await nimbus(["trigger", "create", "cli/greeter", "up", "--type", "oss", "--bucket", "photos", "--events", "oss:ObjectCreated:*", "--suffix", ".png"])).code).toBe(0);
    const listed = (await nimbus(["trigger", "list", "cli/greeter"])).stdout.trim().split("\n").map((l) => l.split("\t").slice(0, 2).join(" "));
    expect(listed.sort()).toEqual(["rpc nats", "tick timer", "up oss"]);

    await new Promise((r) => setTimeout(r, 500));
    const replied = await nimbus(["publish", "cli.greet", "--data", "nats", "--request"]);
    expect(replied.code, replied.stderr).toBe(0);
    expect(replied.stdout).toBe("hello nats (flag)");
    expect(replied.stderr).toMatch(/Nimbus-Request-Id: [0-9a-f-]{36}/);
    expect((await nimbus(["publish", "cli.nobody", "--data", "x"])).stderr).toContain("published 1 bytes on cli.nobody");
    const bad = await nimbus(["trigger", "create", "cli/greeter", "bad", "--type", "timer"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--cron");
    for (const t of ["rpc", "tick", "up"]) expect((await nimbus(["trigger", "delete", "cli/greeter", t])).code).toBe(0);
    expect((await nimbus(["trigger", "list", "cli/greeter"])).stdout.trim()).toBe("");
  });

  it("queues asynchronous invocations, prints their ids, and tells what happened to them", async () => {
    // Invocations keep a record to read only when their function's async config asks for one, as on FC.
    for (const fn of ["greeter", "broken"]) {
      const set = await nimbus(["async", "config", `cli/${fn}`, "--stateful"]);
      expect(set.code, set.stderr).toBe(0);
      expect(JSON.parse(set.stdout)).toMatchObject({ statefulInvocation: true, maxAsyncRetryAttempts: 3 });
    }
    expect(JSON.parse((await nimbus(["async", "config", "cli/greeter"])).stdout)).toMatchObject({ statefulInvocation: true });
    expect((await nimbus(["async", "config", "cli/greeter", "--retries", "many"])).code).toBe(2);
    const queued = await nimbus(["invoke", "cli/greeter", "--event", "later", "--async"]);
    expect(queued.code, queued.stderr).toBe(0);
    const id = queued.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const chosen = await nimbus(["invoke", "cli/greeter", "--event", "mine", "--async", "--id", "cli_job_1"]);
    expect(chosen.stdout).toBe("cli_job_1\n");
    const again = await nimbus(["invoke", "cli/greeter", "--event", "mine", "--async", "--id", "cli_job_1"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("StatefulAsyncInvocationAlreadyExists");

    const settled = async (target: string, invocation: string) => {
      for (let i = 0; i < 200; i++) {
        const got = JSON.parse((await nimbus(["async", "get", target, invocation])).stdout) as { status: string; returnPayload?: string };
        if (!["Enqueued", "Running", "Retrying", "Stopping"].includes(got.status)) return got;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${invocation} never settled`);
    };
    expect(await settled("cli/greeter", id)).toMatchObject({ invocationId: id, status: "Succeeded", returnPayload: "hello later (flag)" });
    expect(await settled("cli/greeter", "cli_job_1")).toMatchObject({ status: "Succeeded", returnPayload: "hello mine (flag)" });
    const failing = (await nimbus(["invoke", "cli/broken", "--async", "--id", "cli_job_2"])).stdout.trim();
    expect(await settled("cli/broken", failing)).toMatchObject({ status: "Failed", alreadyRetriedTimes: 3 });

    const listed = await nimbus(["async", "list", "cli/greeter"]);
    expect(listed.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0])).toEqual([id, "cli_job_1"]);
    expect((await nimbus(["async", "list", "cli/greeter", "--prefix", "cli_", "--status", "Succeeded"])).stdout).toMatch(/^cli_job_1\s+Succeeded\s/);
    expect((await nimbus(["async", "list", "cli/greeter", "--desc", "--limit", "1"])).stdout).toMatch(/^cli_job_1\s/);
    expect((await nimbus(["async", "list", "cli/broken"])).stdout).toMatch(/^cli_job_2\s+Failed\s.*retried 3\s+broken on purpose/);
    expect((await nimbus(["async", "stop", "cli/greeter", "cli_job_1"])).stdout).toBe("cli_job_1 Succeeded\n");
    // Redrive: the failed one runs again (and fails again: the function is still broken), once.
    const redriven = await nimbus(["async", "redrive", "cli/broken", "--status", "Failed"]);
    expect(redriven.stdout).toBe("cli_job_2 -> cli_job_2_redrive1\n1 redriven, 0 skipped\n");
    expect((await nimbus(["async", "redrive", "cli/broken", "--id", "cli_job_2"])).stdout).toBe("cli_job_2 skipped: already redriven as cli_job_2_redrive1\n0 redriven, 1 skipped\n");
    expect(await settled("cli/broken", "cli_job_2_redrive1")).toMatchObject({ status: "Failed", redriveOf: "cli_job_2" });
    const unknown = await nimbus(["async", "get", "cli/greeter", "never_was"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("StatefulAsyncInvocationNotExists");
    expect((await nimbus(["async", "frobnicate", "cli/greeter"])).code).toBe(2);
  });

  it("prints a function's logs by request, by keyword, as JSON and live, and its metrics", async () => {
    const client = ctx.cluster.client();
    const { requestId } = await client.invokeFunction("cli", "greeter", "logs-1");
    let lines: string[] = [];
    for (let i = 0; i < 100 && !lines.some((l) => l.includes("FC Invoke End")); i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      lines = (await nimbus(["logs", "cli/greeter", "--request-id", requestId])).stdout.trim().split("\n");
    }
    const ts = "\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z";
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${ts} FC Invoke Start RequestId: ${requestId}$`));
    expect(lines[1]).toMatch(new RegExp(`^${ts} ${requestId} \\[verbose\\] greeting logs-1$`));
    expect(lines[2]).toMatch(new RegExp(`^${ts} FC Invoke End RequestId: ${requestId}$`));

    const json = (await nimbus(["logs", "cli/greeter", "--keyword", "greeting logs-1", "--json"])).stdout.trim().split("\n");
    expect(json.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ requestId, stream: "stdout", qualifier: "LATEST", message: expect.stringMatching(/greeting logs-1$/) })]);
    const bad = await nimbus(["logs", "cli/greeter", "--since", "last tuesday"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since");

    // -f: what is there already, then new lines as they come, each once, until Ctrl-C.
    await client.invokeFunction("cli", "greeter", "live-0");
    const follower = spawn(process.execPath, [BIN, "logs", "cli/greeter", "-f", "--keyword", "greeting live-"], { env: cliEnv() });
    let out = "";
    follower.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => follower.on("exit", (code) => resolve(code)));
    for (let i = 1; i <= 50 && !out.includes("greeting live-1\n"); i++) {
      await client.invokeFunction("cli", "greeter", `live-${i}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    follower.kill("SIGINT");
    expect(await exited).toBe(0);
    const followed = out.trim().split("\n").map((l) => l.split(" ").at(-1));
    expect(followed[0]).toBe("live-0");
    expect(followed).toContain("live-1");
    expect(new Set(followed).size).toBe(followed.length);
    // Whatever the follower printed is in call order, without a gap after the first live line.
    const numbers = followed.map((t) => Number(t?.slice(5)));
    expect(numbers).toEqual(numbers.map((_, i) => i));

    const metrics = JSON.parse((await nimbus(["metrics", "cli/greeter", "--json"])).stdout) as { points: { invocations: number }[] };
    expect(metrics.points.reduce((n, p) => n + p.invocations, 0)).toBeGreaterThanOrEqual(3);
    const table = (await nimbus(["metrics", "cli/greeter", "--since", "10m"])).stdout.trim().split("\n");
    expect(table[0]).toMatch(/^time\s+invocations\s+errors\s+throttles\s+timeouts\s+cold\s+avg ms\s+p50\s+p90\s+p99\s+max$/);
    expect(table.at(-1)).toMatch(/^total\s+\d+\s+0\s+0\s+0\s+\d+$/);
  });

  it("examples/deploy.mjs deploys the hello example to the endpoint npm start wrote, not :8080", async () => {
    // What npm start leaves in NIMBUS_HOME, for a platform on another port.
    const home = join(dir, ".nimbus-walkthrough");
    await mkdir(home);
    const { accessKeyId, accessKeySecret, accountId, region } = ctx.cluster.credentials;
    await writeFile(join(home, "credentials.json"), JSON.stringify({ accessKeyId, accessKeySecret, accountId }));
    await writeFile(join(home, "endpoints.json"), JSON.stringify({ endpoint: ctx.cluster.endpoint(), natsUrl: "", redisUrl: "", region }));
    const deployed = await run(process.execPath, [join(ROOT, "examples", "deploy.mjs")], { env: { PATH: process.env["PATH"], NIMBUS_HOME: home }, encoding: "utf8" });
    expect(JSON.parse(deployed.stdout)).toMatchObject({ functionName: "hello", handler: "index.handler" });
    const call = await nimbus(["invoke", "demo/hello", "--event", '{"name":"Nimbus"}']);
    expect(JSON.parse(call.stdout)).toMatchObject({ hello: "Nimbus" });
  });
});
