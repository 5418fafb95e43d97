import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

// Issue 14: FC's Python 3 runtime, handlers as users write them for Function Compute.
// The operator gave python3.9 an interpreter of its own: a venv outside every system directory.
// (Not under /tmp: every instance has a /tmp of its own.)
const venv = join(mkdtempSync("/var/tmp/nimbus-venv-"), "py39");
execFileSync("/usr/bin/python3", ["-m", "venv", "--without-pip", venv]);
chmodSync(join(venv, ".."), 0o755);
afterAll(() => rmSync(join(venv, ".."), { recursive: true, force: true }));
const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_PYTHON_INTERPRETERS: `python3.9=${venv}/bin/python3` } });

const EVENT = `
import json
import logging
import mylib

logger = logging.getLogger()

def handler(event, context):
    kind = event.decode()
    if kind == "dict":
        return {"event_type": type(event).__name__, "lib": mylib.NAME}
    if kind == "str":
        return "héllo"
    if kind == "bytes":
        return b"\\x00\\x01raw"
    if kind == "none":
        return None
    if kind == "fail":
        raise ValueError("something is wrong")
    if kind == "log":
        import sys
        sys.stdout.buffer.write(b"raw bytes line\\n")
        print("printed line")
        logger.info("logged line")
        return "logged"
    if kind == "context":
        return {
            "request_id": context.request_id,
            "function": vars(context.function),
            "service": vars(context.service),
            "credentials": sorted(vars(context.credentials)),
            "region": context.region,
            "account_id": context.account_id,
            "remaining": context.get_remaining_time_in_millis() > 0,
            "tracing": {"span_context": context.tracing.span_context, "baggages": context.tracing.parseOpenTracingBaggages(), "jaeger_endpoint": context.tracing.jaeger_endpoint},
            "env": {k: v for k, v in __import__("os").environ.items() if k.startswith("FC_") or k == "GREETING"},
        }
    return kind
`;

const tail = (res: { headers: Headers }) => Buffer.from(res.headers.get("x-fc-log-result") ?? "", "base64").toString();

describe("the Python runtime", () => {
  it("runs an event handler with FC's conversions of its return value", async () => {
    const client = await deploy(ctx.cluster, "py", "event", { "index.py": EVENT, "mylib/__init__.py": "NAME = 'vendored'\n" }, { runtime: "python3", handler: "index.handler" });
    expect(JSON.parse((await client.invokeFunction("py", "event", "dict")).data.toString())).toEqual({ event_type: "bytes", lib: "vendored" });
    expect((await client.invokeFunction("py", "event", "str")).data.toString()).toBe("héllo");
    expect([...(await client.invokeFunction("py", "event", "bytes")).data]).toEqual([0, 1, ...Buffer.from("raw")]);
    expect((await client.invokeFunction("py", "event", "none")).data.length).toBe(0);
  });

  it("answers an exception with FC's UnhandledInvocationError body", async () => {
    const client = ctx.cluster.client();
    const res = await client.invokeFunction("py", "event", "fail");
    expect(res.headers.get("x-fc-error-type")).toBe("UnhandledInvocationError");
    const body = JSON.parse(res.data.toString());
    expect(body.errorMessage).toBe("something is wrong");
    expect(body.errorType).toBe("ValueError");
    expect(body.stackTrace.at(-1)).toEqual(['File "/code/index.py"', expect.stringMatching(/^line \d+$/), "in handler", 'raise ValueError("something is wrong")']);
  });

  it("answers a handler that cannot be imported, or that fails at import, with FC's errors", async () => {
    const client = await deploy(ctx.cluster, "py", "missing", { "index.py": "def handler(e, c):\n    return 'x'\n" }, { runtime: "python3", handler: "nothere.handler" });
    const missing = await client.invokeFunction("py", "missing", "");
    expect(missing.headers.get("x-fc-error-type")).toBe("UnhandledInvocationError");
    expect(JSON.parse(missing.data.toString())).toMatchObject({ errorType: "ModuleNotFoundError", errorMessage: "No module named 'nothere'" });
    await deploy(ctx.cluster, "py", "broken", { "index.py": "raise RuntimeError('broken at import')\n" }, { runtime: "python3", handler: "index.handler" });
    const broken = await client.invokeFunction("py", "broken", "");
    expect(JSON.parse(broken.data.toString())).toMatchObject({ errorType: "RuntimeError", errorMessage: "broken at import" });
  });

  it("gives the handler FC's context, and the function's environment", async () => {
    const client = await deploy(ctx.cluster, "py", "ctx", { "index.py": EVENT, "mylib/__init__.py": "NAME = 'x'\n" }, { runtime: "python3.10", handler: "index.handler", memorySize: 256, timeout: 7, environmentVariables: { GREETING: "hi" } });
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await client.invokeFunction("py", "ctx", "context", { logTail: true, headers: { traceparent } });
    const seen = JSON.parse(res.data.toString());
    expect(seen.request_id).toBe(res.headers.get("x-fc-request-id"));
    expect(seen.function).toMatchObject({ name: "ctx", handler: "index.handler", memory: 256, timeout: 7 });
    expect(seen.service).toMatchObject({ name: "py", qualifier: "LATEST" });
    expect(seen.credentials).toEqual(["access_key_id", "access_key_secret", "security_token"]);
    expect(seen.remaining).toBe(true);
    // FC's Jaeger span context (trace:span:parent:flags), of the span the caller's trace continues in.
    expect(seen.tracing.span_context).toMatch(/^4bf92f3577b34da6a3ce929d0e0e4736:[0-9a-f]{16}:00f067aa0ba902b7:01$/);
    expect(seen.tracing).toMatchObject({ baggages: {}, jaeger_endpoint: "" });
    expect(seen.env).toMatchObject({ GREETING: "hi", FC_FUNCTION_NAME: "ctx", FC_FUNCTION_MEMORY_SIZE: "256" });
    // python3.10 on a node whose Python is another 3.x: the first call's log says which ran.
    const version = /runs on Python (3\.\d+)/.exec(tail(res))?.[1];
    if (version !== "3.10") expect(tail(res)).toMatch(/\[nimbus\] python3\.10 runs on Python 3\.\d+\.\d+ \(\/usr\/bin\/python3\.\d+\): this node has no Python 3\.10/);
  });

  it("attributes print and logging to the request, in FC's format", async () => {
    const client = ctx.cluster.client();
    const res = await client.invokeFunction("py", "event", "log", { logTail: true });
    const requestId = res.headers.get("x-fc-request-id") ?? "";
    const log = tail(res);
    expect(log).toContain(`FC Invoke Start RequestId: ${requestId}`);
    expect(log).toContain("printed line");
    expect(log).toContain("raw bytes line");
    expect(log).toMatch(new RegExp(`\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${requestId} \\[INFO\\] logged line`));
    expect(log).toContain(`FC Invoke End RequestId: ${requestId}`);
  });

  it("runs the initializer once per instance, before the first call", async () => {
    const code = `
calls = []
def init(context):
    calls.append(context.request_id)
    print("initializing")

def handler(event, context):
    return str(len(calls))
`;
    const client = await deploy(ctx.cluster, "py", "init", { "index.py": code }, { runtime: "python3", handler: "index.handler", initializer: "index.init" });
    const first = await client.invokeFunction("py", "init", "", { logTail: true });
    expect(first.data.toString()).toBe("1");
    expect(tail(first)).toContain("initializing");
    expect((await client.invokeFunction("py", "init", "")).data.toString()).toBe("1");
  });

  it("keeps each concurrent call's output apart, with instanceConcurrency", async () => {
    const code = `
import time
def handler(event, context):
    for i in range(5):
        print("call %s line %d" % (event.decode(), i))
        time.sleep(0.02)
    return event
`;
    const client = await deploy(ctx.cluster, "py", "concurrent", { "index.py": code }, { runtime: "python3", handler: "index.handler", instanceConcurrency: 4 });
    const results = await Promise.all(["a", "b", "c"].map((e) => client.invokeFunction("py", "concurrent", e, { logTail: true })));
    for (const [i, res] of results.entries()) {
      const mine = ["a", "b", "c"][i] as string;
      const lines = tail(res).split("\n").filter((l) => l.startsWith("call "));
      expect(lines.length).toBeGreaterThanOrEqual(5);
      expect(lines.every((l) => l.startsWith(`call ${mine} `))).toBe(true);
    }
    expect(new Set(results.map((r) => r.headers.get("x-fc-instance-id"))).size).toBe(1);
  });

  it("serves a WSGI application behind an HTTP trigger", async () => {
    const code = `
import json

class Body:
    """A streamed body: the legacy write() first, then a generator's parts; close() is called."""
    def __init__(self, parts):
        self.parts = parts
    def __iter__(self):
        for part in self.parts:
            yield part
    def close(self):
        print("body closed")

def handler(environ, start_response):
    body = environ["wsgi.input"].read().decode()
    write = start_response("201 Created", [("Content-Type", "application/json"), ("X-Echo", environ.get("HTTP_X_ECHO", ""))])
    text = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "body": body,
        "request_id": environ["fc.context"].request_id,
    })
    write(text[:5].encode())
    return Body([text[5:10], text[10:].encode()])
`;
    const client = await deploy(ctx.cluster, "py", "web", { "index.py": code }, { runtime: "python3", handler: "index.handler" });
    await client.createTrigger("py", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["POST"] } });
    const res = await send(ctx.cluster, { method: "POST", path: "/2016-08-15/proxy/py/web/a/b?x=1&y=2", headers: { "x-echo": "echoed" }, body: "payload", sign: false });
    expect(res.status).toBe(201);
    expect(res.headers["x-echo"]).toBe("echoed");
    expect(JSON.parse(res.text)).toMatchObject({ method: "POST", path: "/a/b", query: "x=1&y=2", body: "payload", request_id: res.headers["x-fc-request-id"] });
  });

  it("serves a Flask application, unchanged, as the HTTP handler", async () => {
    // Debian's python3-flask (npm test installs it), as a function would vendor it.
    const code = `
from flask import Flask, request, jsonify

app = Flask(__name__)

@app.route("/items/<name>", methods=["GET", "PUT"])
def item(name):
    return jsonify(name=name, method=request.method, q=request.args.get("q"), body=request.get_data(as_text=True)), 202

handler = app
`;
    const client = await deploy(ctx.cluster, "py", "flask", { "index.py": code }, { runtime: "python3", handler: "index.handler" });
    await client.createTrigger("py", "flask", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET", "PUT"] } });
    const put = await send(ctx.cluster, { method: "PUT", path: "/2016-08-15/proxy/py/flask/items/apple?q=red", headers: { "content-type": "text/plain" }, body: "fresh", sign: false });
    expect(put.status).toBe(202);
    expect(put.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(put.text)).toEqual({ name: "apple", method: "PUT", q: "red", body: "fresh" });
    const missing = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/py/flask/nowhere", sign: false });
    expect(missing.status).toBe(404);
  });

  it("loads a vendored package with a native extension, its own and not the runtime's", async () => {
    // Debian's msgpack, vendored as \`pip install -t .\` would: Python files and a compiled extension.
    const dir = "/usr/lib/python3/dist-packages/msgpack";
    const native = readdirSync(dir).find((f) => f.endsWith(".so"));
    if (!native) throw new Error("python3-msgpack has no compiled extension on this node");
    const files: Record<string, Buffer | string> = {};
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".py") || f.endsWith(".so"))) files[`msgpack/${f}`] = readFileSync(join(dir, f));
    files["index.py"] = `
import msgpack
def handler(event, context):
    packed = msgpack.packb({"n": 1})
    return {"file": msgpack.__file__, "native": msgpack.Packer.__module__, "roundtrip": msgpack.unpackb(packed)}
`;
    const client = await deploy(ctx.cluster, "py", "native", files, { runtime: "python3", handler: "index.handler" });
    const seen = JSON.parse((await client.invokeFunction("py", "native", "")).data.toString());
    expect(seen.file).toBe("/code/msgpack/__init__.py");
    expect(seen.native).toBe("msgpack._cmsgpack");
    expect(seen.roundtrip).toEqual({ n: 1 });
  });

  it("imports packages from a layer's python/ directory without any path setup", async () => {
    const client = ctx.cluster.client();
    const zipFile = (await makeZip({ "python/greeting/__init__.py": "WORDS = 'hello from a layer'\n" })).toString("base64");
    const layer = (await client.publishLayerVersion("pylib", { code: { zipFile }, compatibleRuntime: ["python3", "python3.10"] })).data as { layerVersionArn: string };
    await deploy(ctx.cluster, "py", "layered", { "index.py": "import greeting\ndef handler(e, c):\n    return greeting.WORDS\n" }, { runtime: "python3", handler: "index.handler", layers: [layer.layerVersionArn] });
    expect((await client.invokeFunction("py", "layered", "")).data.toString()).toBe("hello from a layer");
  });

  it("accepts FC's Python runtime names, runs each where the node says, shows which in getFunction, and refuses Python 2", async () => {
    const client = ctx.cluster.client();
    const code = { "index.py": "import sys\ndef handler(e, c):\n    return {'version': '%d.%d.%d' % sys.version_info[:3], 'prefix': sys.prefix, 'executable': sys.executable}\n" };
    await deploy(ctx.cluster, "py", "v39", code, { runtime: "python3.9", handler: "index.handler" });
    await deploy(ctx.cluster, "py", "v312", code, { runtime: "python3.12", handler: "index.handler" });
    // python3.9: the operator's venv, mounted into the sandbox.
    const on39 = JSON.parse((await client.invokeFunction("py", "v39", "")).data.toString());
    expect(on39).toMatchObject({ prefix: venv, executable: `${venv}/bin/python3` });
    const shown39 = ((await ctx.fc.getFunction("py", "v39")).data as { interpreters: unknown[] }).interpreters;
    expect(shown39).toEqual([{ path: `${venv}/bin/python3`, version: on39.version, configured: true, nodes: [expect.any(String)] }]);
    // python3.12: Debian's /usr/bin/python3.N (3.12 itself where installed), as getFunction says before any call.
    const shown312 = ((await ctx.fc.getFunction("py", "v312")).data as { interpreters: { path: string; version: string }[] }).interpreters;
    expect(shown312).toEqual([{ path: expect.stringMatching(/^\/usr\/bin\/python3(\.\d+)?$/), version: expect.stringMatching(/^3\.\d+\.\d+$/), configured: false, nodes: [expect.any(String)] }]);
    const on312 = JSON.parse((await client.invokeFunction("py", "v312", "")).data.toString());
    expect(on312).toMatchObject({ version: shown312[0]?.version, executable: shown312[0]?.path });
    // A Node.js function has no interpreters field.
    await deploy(ctx.cluster, "py", "nodejs", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'js');" });
    expect((await ctx.fc.getFunction("py", "nodejs")).data).not.toHaveProperty("interpreters");
    await expect(deploy(ctx.cluster, "py", "old", { "index.py": "" }, { runtime: "python2.7", handler: "index.handler" })).rejects.toMatchObject({ code: "InvalidArgument" });
  });
});
