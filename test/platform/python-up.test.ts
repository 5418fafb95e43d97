import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { flaskWheelhouse } from "../helpers/wheels.js";
import { BIN, exited, freePorts, ROOT, sdk, startUp, type Up } from "./launch.js";

// Issue 14, done when: Python functions as FC users write them, deployed and called through
// `nimbus deploy` and FC's own SDK (@alicloud/fc2) against `npm start` (nimbus up).
const run = promisify(execFile);
let home: string;
let wheels: string;
let up: Up;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "nimbus-home-"));
  wheels = join(home, "wheels");
  await mkdir(wheels);
  await flaskWheelhouse(wheels);
  await chmod(home, 0o755);
  up = await startUp(home, await freePorts());
}, 120_000);
afterAll(async () => {
  if (up) {
    up.child.kill("SIGTERM");
    await exited(up.child);
  }
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(home, { recursive: true, force: true });
});

/** `nimbus deploy` with the key `nimbus up` wrote, and pip pointed at the wheels here (PyPI, offline). */
async function deploy(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { PATH: process.env["PATH"], HOME: home, NIMBUS_HOME: home, NIMBUS_PYTHON: "/usr/bin/python3", PIP_NO_INDEX: "1", PIP_FIND_LINKS: wheels, PIP_NO_CACHE_DIR: "1" };
  return run(process.execPath, [BIN, "deploy", ...args], { env, encoding: "utf8" });
}

const tail = (res: { headers: Record<string, unknown> }) => Buffer.from(String(res.headers["x-fc-log-result"] ?? ""), "base64").toString();

describe("Python on npm start, through nimbus deploy and FC's SDK", () => {
  it("deploys examples/python-hello and answers an event as FC does", async () => {
    const deployed = await deploy([join(ROOT, "examples", "python-hello"), "--service", "pydemo", "--function", "hello"]);
    expect(deployed.stderr).toContain("created pydemo/hello (python3,");
    const res = await sdk(up).invokeFunction("pydemo", "hello", JSON.stringify({ name: "Nimbus" }), { "x-fc-log-type": "Tail" });
    expect(JSON.parse(res.data.toString())).toEqual({ hello: "Nimbus", requestId: res.headers["x-fc-request-id"] });
    expect(tail(res)).toMatch(new RegExp(`Z ${res.headers["x-fc-request-id"]} \\[INFO\\] saying hello to Nimbus`));
  });

  it("deploys examples/python-flask with Flask installed from requirements.txt into the package, behind its HTTP trigger", async () => {
    const deployed = await deploy([join(ROOT, "examples", "python-flask"), "--service", "pydemo", "--function", "flask"]);
    expect(deployed.stderr).toContain("installing requirements.txt with /usr/bin/python3 -m pip into the package");
    const url = /HTTP trigger: (\S+)/.exec(deployed.stderr)?.[1] ?? "";
    const hello = await fetch(`${url}?name=Flask`);
    expect(hello.status).toBe(200);
    const body = (await hello.json()) as { hello: string; requestId: string };
    expect(body).toEqual({ hello: "Flask", requestId: hello.headers.get("x-fc-request-id") });
    const echo = await fetch(`${url}echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n: 1 }) });
    expect(echo.status).toBe(201);
    expect(await echo.json()).toEqual({ method: "POST", path: "/echo", json: { n: 1 } });
    // Flask is the package's own (vendored), not the node's Debian copy.
    const code = await sdk(up).getFunctionCode("pydemo", "flask");
    const zip = Buffer.from(await (await fetch(code.data.url)).arrayBuffer());
    expect(zip.includes(Buffer.from("flask/__init__.py"))).toBe(true);
    expect(zip.includes(Buffer.from("markupsafe/_speedups.cpython-311"))).toBe(true);
  });

  it("deploys nothing when pip cannot install requirements.txt, and says so", async () => {
    const dir = join(home, "unresolvable");
    await mkdir(dir);
    await writeFile(join(dir, "index.py"), "def handler(e, c):\n    return 'x'\n");
    await writeFile(join(dir, "requirements.txt"), "no-such-package-anywhere==1.0\n");
    const failed = await deploy([dir, "--service", "pydemo", "--function", "unresolvable"]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/No matching distribution found for no-such-package-anywhere==1\.0/);
    expect(failed?.stderr).toMatch(/-m pip could not install requirements\.txt \(exit 1; its output is above\): nothing was deployed/);
    await expect(sdk(up).getFunction("pydemo", "unresolvable")).rejects.toMatchObject({ code: expect.stringMatching(/^(Function|Service)NotFound$/) });
  });

  it("runs an initializer once per instance, imports a layer's package, and keeps concurrent calls' logs apart", async () => {
    const fc = sdk(up);
    const layerZip = (await makeZip({ "python/shout/__init__.py": "def shout(s):\n    return s.upper() + '!'\n" })).toString("base64");
    const layer = (await fc.publishLayerVersion("shouting", { code: { zipFile: layerZip }, compatibleRuntime: ["python3", "python3.10"] })).data as { layerVersionArn: string };
    const code = `
import logging, time
from shout import shout
count = 0
def init(context):
    global count
    count += 1
def handler(event, context):
    for i in range(4):
        logging.getLogger().info("%s step %d", event.decode(), i)
        time.sleep(0.02)
    return {"inits": count, "said": shout(event.decode())}
`;
    const zipFile = (await makeZip({ "index.py": code })).toString("base64");
    await fc.createFunction("pydemo", { functionName: "counter", runtime: "python3.10", handler: "index.handler", initializer: "index.init", instanceConcurrency: 5, layers: [layer.layerVersionArn], code: { zipFile } });
    const names = ["ann", "bob", "cid", "dee"];
    const results = await Promise.all(names.map((n) => fc.invokeFunction("pydemo", "counter", n, { "x-fc-log-type": "Tail" })));
    for (const [i, res] of results.entries()) {
      const name = names[i] as string;
      expect(JSON.parse(res.data.toString())).toEqual({ inits: 1, said: `${name.toUpperCase()}!` });
      const steps = tail(res).split("\n").filter((l) => l.includes(" step "));
      expect(steps).toHaveLength(4);
      for (const line of steps) expect(line).toMatch(new RegExp(`Z ${res.headers["x-fc-request-id"]} \\[INFO\\] ${name} step \\d$`));
    }
  });
});
