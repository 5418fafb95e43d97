import { execFile } from "node:child_process";
import { chmod, mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";

const run = promisify(execFile);
const BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
let dir: string;

function nimbus(args: string[], input?: string) {
  const env = {
    PATH: process.env["PATH"],
    NIMBUS_HOME: join(dir, ".nimbus-none"),
    NIMBUS_ENDPOINT: ctx.cluster.endpoint(),
    NIMBUS_ACCESS_KEY_ID: ctx.cluster.credentials.accessKeyId,
    NIMBUS_ACCESS_KEY_SECRET: ctx.cluster.credentials.accessKeySecret,
    NIMBUS_ACCOUNT_ID: ctx.cluster.credentials.accountId,
  };
  const child = run(process.execPath, [BIN, ...args], { env, encoding: "utf8" });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return child.then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-cli-"));
  await mkdir(join(dir, "app", "lib"), { recursive: true });
  await writeFile(join(dir, "app", "index.js"), "const { greet } = require('./lib/greet'); exports.handler = (event, context, callback) => { console.log('greeting', String(event)); callback(null, greet(String(event)) + ' (' + process.env.STAGE + ')'); };");
  await writeFile(join(dir, "app", "lib", "greet.js"), "exports.greet = (name) => 'hello ' + name;");
  await writeFile(join(dir, "app", "nimbus.yaml"), "service: cli\nfunction: greeter\nruntime: nodejs18\nmemorySize: 256\ntimeout: 5\nenvironmentVariables:\n  STAGE: yaml\nhttpTrigger: anonymous\n");
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
    expect(first.stderr).toContain("/2016-08-15/proxy/cli/greeter/");
    expect(JSON.parse(first.stdout)).toMatchObject({ functionName: "greeter", runtime: "nodejs18", memorySize: 256, timeout: 5, environmentVariables: { STAGE: "yaml" } });
    const second = await nimbus(["deploy", join(dir, "app"), "--env", "STAGE=flag"]);
    expect(second.stderr).toContain("updated cli/greeter");
    expect(JSON.parse(second.stdout).environmentVariables).toEqual({ STAGE: "flag" });
  });

  it("invokes with an event from text, a file or stdin, and shows the log tail", async () => {
    expect((await nimbus(["invoke", "cli/greeter", "--event", "world"])).stdout).toBe("hello world (flag)");
    expect((await nimbus(["invoke", "cli/greeter", "--event", `@${join(dir, "event.txt")}`])).stdout).toBe("hello from a file (flag)");
    expect((await nimbus(["invoke", "cli/greeter", "--event", "-"], "piped")).stdout).toBe("hello piped (flag)");
    const tailed = await nimbus(["invoke", "cli.LATEST/greeter", "--event", "tail", "--tail"]);
    expect(tailed.stderr).toMatch(/\[verbose\] greeting tail/);
  });

  it("exits 1 on a function error and 2 on a failed call", async () => {
    const deployed = await nimbus(["deploy", join(dir, "broken"), "--service", "cli", "--function", "broken"]);
    expect(deployed.code).toBe(0);
    const failed = await nimbus(["invoke", "cli/broken"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain("broken on purpose");
    expect(failed.stderr).toContain("HandledInvocationError");
    const missing = await nimbus(["invoke", "cli/nope"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("FunctionNotFound");
  });
});
