import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { send } from "../helpers/http.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

// A custom runtime in Python: FC's contract is HTTP on caPort, /initialize and /invoke, x-fc-* headers.
const SERVER = `
import http.server, json, os, sys
state = {"initialized": 0}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fc_headers(self):
        return {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-fc-")}

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):
        body = self.body()
        if self.path == "/initialize":
            state["initialized"] += 1
            print("initializing", flush=True)
            return self.reply(200, b"")
        if self.path == "/invoke":
            if body == b"fail":
                return self.reply(404, json.dumps({"errorMessage": "python says no", "errorType": "ValueError"}).encode(), {"x-fc-status": "404"})
            print("invoked with", body.decode(), flush=True)
            out = {"event": body.decode(), "headers": self.fc_headers(), "traceparent": self.headers.get("traceparent"), "initialized": state["initialized"], "uid": os.getuid()}
            return self.reply(200, json.dumps(out).encode())
        return self.web(body)

    def do_GET(self):
        return self.web(b"")

    def web(self, body):
        out = {"method": self.command, "path": self.path, "basePath": self.headers.get("x-fc-base-path"), "controlPath": self.headers.get("x-fc-control-path"), "body": body.decode()}
        return self.reply(202, json.dumps(out).encode(), {"Content-Type": "application/json", "X-From": "python"})

    def log_message(self, *args):
        pass

port = int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
`;

const python = existsSync("/usr/bin/python3");

async function deployCustom(name: string, files: Record<string, string | { content: string; mode: number }>, spec: Record<string, unknown> = {}) {
  const client = ctx.cluster.client();
  await client.createService("custom").catch(() => undefined);
  const zipFile = (await makeZip(files)).toString("base64");
  await client.createFunction("custom", { functionName: name, runtime: "custom", handler: "index.handler", timeout: 10, code: { zipFile }, ...spec });
}

describe.skipIf(!python)("custom runtimes (a bootstrap in shell starting a Python server)", () => {
  it("runs /initialize once and /invoke with FC's x-fc-* headers", async () => {
    await deployCustom(
      "py",
      { bootstrap: { content: "#!/bin/sh\nexec python3 /code/server.py\n", mode: 0o100755 }, "server.py": SERVER },
      { initializer: "index.init", caPort: 9001, environmentVariables: { GREETING: "hi" } },
    );
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await ctx.cluster.client().invokeFunction("custom", "py", "world", { logTail: true, headers: { traceparent } });
    const out = JSON.parse(res.data.toString());
    expect(out.event).toBe("world");
    expect(out.traceparent).toBe(traceparent); // no tracing configured: the caller's, unchanged
    expect(out.initialized).toBe(1);
    expect(out.uid).not.toBe(0);
    expect(out.headers).toMatchObject({
      "x-fc-request-id": res.headers.get("x-fc-request-id"),
      "x-fc-function-name": "py",
      "x-fc-function-handler": "index.handler",
      "x-fc-function-memory": "128",
      "x-fc-function-initializer": "index.init",
      "x-fc-initialization-timeout": "3",
      "x-fc-service-name": "custom",
      "x-fc-qualifier": "LATEST",
      "x-fc-region": ctx.cluster.credentials.region,
      "x-fc-account-id": ctx.cluster.credentials.accountId,
      "x-fc-control-path": "/invoke",
    });
    for (const h of ["x-fc-access-key-id", "x-fc-access-key-secret", "x-fc-security-token", "x-fc-version-id"]) expect(out.headers).toHaveProperty(h);
    const log = Buffer.from(res.headers.get("x-fc-log-result") ?? "", "base64").toString();
    expect(log).toContain("invoked with world");
    const again = JSON.parse((await ctx.cluster.client().invokeFunction("custom", "py", "again")).data.toString());
    expect(again.initialized).toBe(1);
  });

  it("reports a non-200 answer as the function's error", async () => {
    const res = await ctx.cluster.client().invokeFunction("custom", "py", "fail");
    expect(res.headers.get("x-fc-error-type")).toBe("HandledInvocationError");
    expect(JSON.parse(res.data.toString())).toMatchObject({ errorMessage: "python says no" });
  });

  it("proxies HTTP-trigger requests with the full path and x-fc-base-path", async () => {
    await ctx.fc.createTrigger("custom", "py", { triggerName: "web", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET", "POST"] } });
    const res = await send(ctx.cluster, { method: "POST", path: "/2016-08-15/proxy/custom/py/hello/there?a=1", sign: false, body: "payload" });
    expect(res.status).toBe(202);
    expect(res.headers["x-from"]).toBe("python");
    expect(res.json).toEqual({
      method: "POST",
      path: "/2016-08-15/proxy/custom/py/hello/there?a=1",
      basePath: "/2016-08-15/proxy/custom/py/",
      controlPath: "/http-invoke",
      body: "payload",
    });
  });

  it("starts what customRuntimeConfig says instead of bootstrap", async () => {
    await deployCustom("cmd", { "server.py": SERVER }, { customRuntimeConfig: { command: ["python3"], args: ["/code/server.py"] } });
    expect(JSON.parse((await ctx.cluster.client().invokeFunction("custom", "cmd", "via command")).data.toString()).event).toBe("via command");
  });

  it("says why when the server never comes up", async () => {
    await deployCustom("dies", { bootstrap: { content: "#!/bin/sh\necho 'no server today' >&2\nexit 4\n", mode: 0o100755 } });
    const res = await ctx.cluster.client().invokeFunction("custom", "dies", "");
    expect(res.headers.get("x-fc-error-type")).toBe("UnhandledInvocationError");
    expect(JSON.parse(res.data.toString()).errorMessage).toMatch(/exited \(4\) before listening on port 9000/);
  });
});
