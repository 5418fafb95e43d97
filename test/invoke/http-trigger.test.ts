import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError } from "../helpers/fc.js";
import { deploy } from "../helpers/functions.js";
import { send } from "../helpers/http.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const ECHO = `
const getRawBody = require('raw-body');
exports.handler = (request, response, context) => {
  getRawBody(request, (err, body) => {
    response.setStatusCode(201);
    response.setHeader('content-type', 'application/json');
    response.setHeader('x-custom', 'yes');
    response.setHeader('x-fc-forged', 'no');
    response.send(JSON.stringify({
      method: request.method, path: request.path, queries: request.queries, url: request.url,
      clientIP: request.clientIP, header: request.headers['x-test'], fcHeaders: Object.keys(request.headers).filter((h) => h.startsWith('x-fc-')),
      body: body.toString(), requestId: context.requestId,
    }));
  });
};`;

async function withTrigger(name: string, files: Record<string, string>, config: Record<string, unknown>) {
  await deploy(ctx.cluster, "web", name, files);
  return ctx.fc.createTrigger("web", name, { triggerName: "http", triggerType: "http", triggerConfig: config });
}

describe("HTTP triggers", () => {
  it("manages triggers through FC's trigger API", async () => {
    const created = await withTrigger("crud", { "index.js": ECHO }, { authType: "anonymous", methods: ["GET", "post"] });
    expect(created.data).toMatchObject({
      triggerName: "http",
      triggerType: "http",
      triggerConfig: { authType: "anonymous", methods: ["GET", "POST"] },
      qualifier: "LATEST",
      urlInternet: `${ctx.cluster.endpoint()}/2016-08-15/proxy/web/crud/`,
      createdTime: expect.stringMatching(/Z$/),
    });
    expect((await ctx.fc.getTrigger("web", "crud", "http")).data).toEqual(created.data);
    const updated = await ctx.fc.updateTrigger("web", "crud", "http", { triggerConfig: { authType: "function", methods: ["GET"] }, description: "now signed" });
    expect(updated.data).toMatchObject({ triggerConfig: { authType: "function", methods: ["GET"] }, description: "now signed" });
    expect((await ctx.fc.listTriggers("web", "crud")).data.triggers.map((t: { triggerName: string }) => t.triggerName)).toEqual(["http"]);

    await expectFcError(ctx.fc.createTrigger("web", "crud", { triggerName: "http", triggerType: "http", triggerConfig: { methods: ["GET"] } }), "TriggerAlreadyExists");
    await expectFcError(ctx.fc.createTrigger("web", "crud", { triggerName: "second", triggerType: "http", triggerConfig: { methods: ["GET"] } }), "InvalidArgument", "one per version or alias");
    await expectFcError(ctx.fc.createTrigger("web", "crud", { triggerName: "bad", triggerType: "http", triggerConfig: { methods: ["FETCH"] } }), "InvalidArgument");
    await expectFcError(ctx.fc.createTrigger("web", "crud", { triggerName: "bad", triggerType: "http", triggerConfig: { authType: "nobody", methods: ["GET"] } }), "InvalidArgument");
    await expectFcError(ctx.fc.createTrigger("web", "crud", { triggerName: "bad", triggerType: "carrier-pigeon", triggerConfig: {} }), "InvalidArgument");
    await expectFcError(ctx.fc.createTrigger("web", "nope", { triggerName: "t", triggerType: "http", triggerConfig: { methods: ["GET"] } }), "FunctionNotFound");
    await expectFcError(ctx.fc.getTrigger("web", "crud", "nope"), "TriggerNotFound");
    await expectFcError(ctx.fc.deleteFunction("web", "crud"), "FunctionNotEmpty", "function 'crud' has active triggers");

    await ctx.fc.deleteTrigger("web", "crud", "http");
    await expectFcError(ctx.fc.getTrigger("web", "crud", "http"), "TriggerNotFound");
    await ctx.fc.deleteFunction("web", "crud");
  });

  it("passes method, path, queries, headers, client IP and body to the handler and its answer back", async () => {
    await withTrigger("echo", { "index.js": ECHO }, { authType: "anonymous", methods: ["GET", "POST", "PUT"] });
    const res = await send(ctx.cluster, {
      method: "POST",
      path: "/2016-08-15/proxy/web/echo/orders/42?expand=items&tag=a&tag=b",
      sign: false,
      headers: { "x-test": "hello", "content-type": "text/plain" },
      body: "the body",
    });
    expect(res.status).toBe(201);
    expect(res.headers["x-custom"]).toBe("yes");
    expect(res.headers["x-fc-forged"]).toBeUndefined();
    expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json).toMatchObject({
      method: "POST",
      path: "/orders/42",
      queries: { expand: "items", tag: ["a", "b"] },
      url: "/2016-08-15/proxy/web/echo/orders/42?expand=items&tag=a&tag=b",
      clientIP: "127.0.0.1",
      header: "hello",
      fcHeaders: [],
      body: "the body",
      requestId: res.headers["x-fc-request-id"],
    });
    const root = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/echo", sign: false });
    expect(root.json).toMatchObject({ path: "/", method: "GET" });
  });

  it("refuses methods the trigger does not allow", async () => {
    const res = await send(ctx.cluster, { method: "DELETE", path: "/2016-08-15/proxy/web/echo/x", sign: false });
    expect(res.status).toBe(405);
    expect(res.json.ErrorCode).toBe("MethodNotAllowed");
  });

  it("requires FC's signature, queries included, when authType is function", async () => {
    await withTrigger("signed", { "index.js": ECHO }, { authType: "function", methods: ["GET"] });
    const unsigned = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/signed/a?x=1", sign: false });
    expect(unsigned.status).toBe(400);
    expect(unsigned.json.ErrorCode).toBe("MissingRequiredHeader");
    const client = ctx.cluster.client();
    const ok = await client.request<Buffer>("GET", "/proxy/web/signed/a", { query: { x: "1", y: ["2", "3"] }, raw: true });
    expect(JSON.parse(ok.data.toString())).toMatchObject({ path: "/a", queries: { x: "1", y: ["2", "3"] } });
    // A signature over other query values does not hold.
    const tampered = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/signed/a?x=2" });
    expect(tampered.status).toBe(403);
    expect(tampered.json.ErrorCode).toBe("SignatureNotMatch");
  });

  it("answers 502 with FC's error body when the HTTP function crashes", async () => {
    await withTrigger("crashy", { "index.js": "exports.handler = (req, resp) => { process.exit(2); };" }, { authType: "anonymous", methods: ["GET"] });
    const res = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/crashy/", sign: false });
    expect(res.status).toBe(502);
    expect(res.json.errorMessage).toMatch(/^Process exited unexpectedly before completing request/);
    await withTrigger("throwy", { "index.js": "exports.handler = () => { throw new Error('http boom'); };" }, { authType: "anonymous", methods: ["GET"] });
    const thrown = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/throwy/", sign: false });
    expect(thrown.status).toBe(502);
    expect(thrown.json.errorMessage).toBe("http boom");
  });

  it("says clearly when a function has no HTTP trigger", async () => {
    await deploy(ctx.cluster, "web", "plain", { "index.js": ECHO });
    const res = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/plain/", sign: false });
    expect(res.status).toBe(404);
    expect(res.json.ErrorCode).toBe("TriggerNotFound");
    const missing = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/none/", sign: false });
    expect(missing.json.ErrorCode).toBe("FunctionNotFound");
  });

  it("throws to the function on a header Node would refuse or a status that is not HTTP, and the answer stays clean", async () => {
    const source = `
exports.handler = (req, resp) => {
  const refused = [];
  const headers = [["x-evil", "a\\r\\nSet-Cookie: pwned=1"], ["x-lf", "a\\nb"], ["bad name", "x"], ["x-list", ["ok", "b\\r\\nc"]]];
  for (const [name, value] of headers) { try { resp.setHeader(name, value); } catch (e) { refused.push(name); } }
  for (const code of [999, 600, 199, 100, 200.5, "201", NaN]) { try { resp.setStatusCode(code); } catch (e) { refused.push(String(code) + ": " + e.message); } }
  resp.setHeader("x-ok", "fine");
  resp.setStatusCode(207);
  resp.send(JSON.stringify(refused));
};`;
    await withTrigger("strict", { "index.js": source }, { authType: "anonymous", methods: ["GET"] });
    const res = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/strict/", sign: false });
    expect(res.status, res.text).toBe(207);
    expect(res.headers["x-ok"]).toBe("fine");
    for (const h of ["x-evil", "x-lf", "set-cookie", "x-list"]) expect(res.headers[h]).toBeUndefined();
    const refused = res.json as unknown as string[];
    expect(refused.slice(0, 4)).toEqual(["x-evil", "x-lf", "bad name", "x-list"]);
    expect(refused.slice(4)).toHaveLength(7);
    expect(refused[4]).toMatch(/^999: invalid status code 999: an HTTP function answers with an integer from 200 to 599/);
    console.log(`http responses: ${refused.length} invalid headers and statuses refused to the function, answer 207 with only valid headers`);
  });

  it("answers 502 with FC's function error when an HTTP function leaves such an error unhandled", async () => {
    const cases = {
      status999: "exports.handler = (req, resp) => { resp.setStatusCode(999); resp.send('x'); };",
      crlf: "exports.handler = (req, resp) => { resp.setHeader('x-evil', 'a\\r\\nSet-Cookie: pwned=1'); resp.send('x'); };",
    };
    for (const [name, source] of Object.entries(cases)) {
      await withTrigger(name.toLowerCase(), { "index.js": source }, { authType: "anonymous", methods: ["GET"] });
      const res = await send(ctx.cluster, { method: "GET", path: `/2016-08-15/proxy/web/${name.toLowerCase()}/`, sign: false });
      expect(res.status, `${name}: ${res.text}`).toBe(502);
      expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
      expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers["set-cookie"]).toBeUndefined();
      expect(res.json.errorMessage, name).toMatch(name === "status999" ? /invalid status code 999/ : /Invalid character in header content/);
    }
  });

  it.skipIf(!existsSync("/usr/bin/python3"))("answers 502 when a custom runtime answers a status that is not HTTP (the gateway's own check)", async () => {
    const server = `
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(999)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "9000"))), Handler).serve_forever()
`;
    const files = { bootstrap: { content: "#!/bin/sh\nexec python3 /code/server.py\n", mode: 0o100755 }, "server.py": server };
    const client = ctx.cluster.client();
    await client.createFunction("web", { functionName: "py999", runtime: "custom", handler: "index.handler", timeout: 10, code: { zipFile: (await makeZip(files)).toString("base64") } });
    await ctx.fc.createTrigger("web", "py999", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const res = await send(ctx.cluster, { method: "GET", path: "/2016-08-15/proxy/web/py999/", sign: false });
    expect(res.status, res.text).toBe(502);
    expect(res.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(res.json).toMatchObject({ errorType: "InvalidHttpResponse", errorMessage: expect.stringContaining("invalid HTTP status code 999") });
    expect(await ctx.cluster.logs("gateway")).toContain("function answered an invalid HTTP response");
  });
});
