import { describe, expect, it } from "vitest";
import { composeStringToSign, signString, signUrl } from "@nimbus/sdk";
import { makeZip } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { deploy } from "../helpers/functions.js";
import { send, type RawResponse } from "../helpers/http.js";
import { controlPlaneContents } from "../helpers/inspect.js";

// Found by probing (issue 11, item 10): each answers FC's `{ErrorCode, ErrorMessage}` with a 4xx and
// a request id, never a raw Node/Fastify body or a 500, and nothing is half-written.

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

function expectFcError(res: RawResponse, status: number, code: string, what: string): void {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.headers["content-type"], what).toMatch(/^application\/json/);
  expect(res.headers["x-fc-request-id"], what).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.json.ErrorCode, what).toBe(code);
  expect(typeof res.json.ErrorMessage, what).toBe("string");
}

const JSON_CT = { "content-type": "application/json" };

describe("a 5,000-character path segment", () => {
  it("is a clear 400 on every route that takes a name", async () => {
    const long = "a".repeat(5000);
    const paths = [
      ["GET", `/2016-08-15/services/${long}`],
      ["GET", `/2016-08-15/services/${long}/functions/f`],
      ["GET", `/2016-08-15/services/s/functions/${long}`],
      ["POST", `/2016-08-15/services/s/functions/${long}/invocations`],
      ["GET", `/2016-08-15/services/s/functions/f/triggers/${long}`],
      ["GET", `/2016-08-15/custom-domains/${long}`],
      ["GET", `/2016-08-15/layers/${long}/versions/1`],
      ["GET", `/2016-08-15/proxy/${long}/fn/`],
    ] as const;
    for (const [method, path] of paths) {
      const res = await send(ctx.cluster, { method, path, ...(method === "POST" ? { body: "" } : {}) });
      expectFcError(res, 400, "InvalidArgument", `${method} ${path.slice(0, 60)}…`);
      expect(res.json.ErrorMessage).toMatch(/too long|longer than/);
    }
    console.log(`long path segments: ${paths.length} routes answered 400 InvalidArgument`);
  });
});

describe("deeply nested JSON on management routes", () => {
  const deepArrays = (depth: number) => `{"serviceName":"deep_arr","description":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  const deepObjects = (depth: number) => `{"serviceName":"deep_obj","logConfig":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
  // A prototype key makes the JSON parser walk the whole value looking for it.
  const deepProto = (depth: number) => `{"serviceName":"deep_proto","x":${"[".repeat(depth)}{"__proto__":1}${"]".repeat(depth)}}`;

  it("refuses 100k-deep bodies with InvalidArgument and stays up", async () => {
    const before = await controlPlaneContents(ctx.cluster);
    const bodies = { arrays: deepArrays(100_000), objects: deepObjects(100_000), proto: deepProto(100_000) };
    for (const [name, body] of Object.entries(bodies)) {
      for (const contentType of ["application/json", "application/octet-stream"]) {
        const res = await send(ctx.cluster, { method: "POST", path: "/2016-08-15/services", headers: { "content-type": contentType }, body });
        expectFcError(res, 400, "InvalidArgument", `${name} as ${contentType}`);
      }
    }
    expect(await controlPlaneContents(ctx.cluster)).toEqual(before);
    expect((await send(ctx.cluster, { method: "GET", path: "/healthz", sign: false })).status).toBe(200);
    expect(ctx.cluster.service("gateway").process.running).toBe(true);
    console.log(`deep JSON: ${Object.keys(bodies).length * 2} bodies 100,000 levels deep refused, gateway up`);
  });

  it("still takes ordinary nesting", async () => {
    const res = await send(ctx.cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body: JSON.stringify({ serviceName: "nested_ok", tags: undefined, vpcConfig: { vSwitchIds: [] } }) });
    expect(res.status, res.text).toBe(200);
  });
});

describe("zip entry names", () => {
  const create = async (fn: string, files: Record<string, string>) =>
    send(ctx.cluster, {
      method: "POST",
      path: "/2016-08-15/services/zipnames/functions",
      headers: JSON_CT,
      body: JSON.stringify({ functionName: fn, runtime: "nodejs20", handler: "index.handler", code: { zipFile: (await makeZip(files)).toString("base64") } }),
    });

  it("refuses a path component over 255 bytes or a path over 4,096 bytes at create and update, not at invoke", async () => {
    await ctx.cluster.client().createService("zipnames");
    const handler = "exports.handler = (e, c, cb) => cb(null, 'ok');";
    const longComponent = { "index.js": handler, [`${"n".repeat(256)}.js`]: "x" };
    const multibyte = { "index.js": handler, [`${"é".repeat(128)}`]: "x" }; // 128 characters, 256 bytes
    const longPath = { "index.js": handler, [`${Array.from({ length: 17 }, () => "d".repeat(250)).join("/")}/f.js`]: "x" };
    const before = await controlPlaneContents(ctx.cluster);
    for (const [name, files] of Object.entries({ longComponent, multibyte, longPath })) {
      const res = await create(`zip_${name}`, files);
      expectFcError(res, 400, "InvalidArgument", name);
      expect(res.json.ErrorMessage).toMatch(/255 bytes|4096 bytes/);
    }
    expect(await controlPlaneContents(ctx.cluster)).toEqual(before);

    // At the bound it is fine, and the function runs.
    const atLimit = await create("zip_at_limit", { "index.js": handler, [`${"n".repeat(252)}.js`]: "x" });
    expect(atLimit.status, atLimit.text).toBe(200);
    expect((await ctx.cluster.client().invokeFunction("zipnames", "zip_at_limit", "")).data.toString()).toBe("ok");

    const update = await send(ctx.cluster, {
      method: "PUT",
      path: "/2016-08-15/services/zipnames/functions/zip_at_limit",
      headers: JSON_CT,
      body: JSON.stringify({ code: { zipFile: (await makeZip(longComponent)).toString("base64") } }),
    });
    expectFcError(update, 400, "InvalidArgument", "update");
    expect((await ctx.cluster.client().invokeFunction("zipnames", "zip_at_limit", "")).data.toString()).toBe("ok");
  });
});

describe("signed URLs for HTTP triggers", () => {
  const WEB = "exports.handler = (req, resp) => resp.send(JSON.stringify({ path: req.path, queries: req.queries }));";

  it("accepts what signUrl produces, queries and escaped paths included, and refuses tampering and far expiries", async () => {
    await deploy(ctx.cluster, "signed", "web", { "index.js": WEB });
    await ctx.fc.createTrigger("signed", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "function", methods: ["GET", "POST"] } });
    const { accessKeyId, accessKeySecret } = ctx.cluster.credentials;
    const base = { baseUrl: ctx.cluster.endpoint(), accessKeyId, accessKeySecret };
    const inAnHour = new Date(Date.now() + 3600_000);
    const get = (url: string) => send(ctx.cluster, { method: "GET", path: url.slice(ctx.cluster.endpoint().length), sign: false });

    const plain = await get(signUrl({ ...base, path: "/2016-08-15/proxy/signed/web/hello", expiresAt: inAnHour }));
    expect(plain.status, plain.text).toBe(200);
    expect(plain.json).toMatchObject({ path: "/hello" });

    const withQueries = signUrl({ ...base, path: "/2016-08-15/proxy/signed/web/a b/ü", queries: { x: "1", y: ["2", "3"], q: "a&b=c" }, expiresAt: inAnHour });
    const answered = await get(withQueries);
    expect(answered.status, answered.text).toBe(200);
    expect(answered.json).toMatchObject({ path: "/a b/ü", queries: { x: "1", y: ["2", "3"], q: "a&b=c" } });

    const posted = signUrl({ ...base, method: "POST", path: "/2016-08-15/proxy/signed/web/p", expiresAt: inAnHour });
    expect((await send(ctx.cluster, { method: "POST", path: posted.slice(ctx.cluster.endpoint().length), sign: false, body: "x" })).status).toBe(200);
    expectFcError(await get(posted), 403, "SignatureNotMatch", "a POST URL used for a GET");

    expectFcError(await get(withQueries.replace("x=1", "x=2")), 403, "SignatureNotMatch", "tampered query");
    expectFcError(await get(`${withQueries}&extra=1`), 403, "SignatureNotMatch", "added query");
    expectFcError(await get(withQueries.replace("/web/a%20b", "/web/a%20c")), 403, "SignatureNotMatch", "tampered path");

    // Seven days is the longest a signed URL may live; the SDK will not sign beyond it and the gateway refuses it.
    const week = 7 * 24 * 3600;
    expect(() => signUrl({ ...base, path: "/2016-08-15/proxy/signed/web/", expiresAt: new Date(Date.now() + (week + 60) * 1000) })).toThrow(/7 days|604800/);
    const farExpires = String(Math.floor(Date.now() / 1000) + week + 3600);
    const path = "/2016-08-15/proxy/signed/web/";
    const queries: [string, string][] = [
      ["x-fc-access-key-id", accessKeyId],
      ["x-fc-expires", farExpires],
    ];
    const signature = signString(composeStringToSign({ method: "GET", path, headers: {}, queries, dateOverride: farExpires }), accessKeySecret);
    const far = await get(`${ctx.cluster.endpoint()}${path}?x-fc-access-key-id=${accessKeyId}&x-fc-expires=${farExpires}&x-fc-signature=${encodeURIComponent(signature)}`);
    expectFcError(far, 403, "AccessDenied", "an expiry beyond 7 days");
    expect(far.json.ErrorMessage).toMatch(/7 days|604800/);
    const nearExpires = String(Math.floor(Date.now() / 1000) + week - 3600);
    const nearSig = signString(composeStringToSign({ method: "GET", path, headers: {}, queries: [queries[0]!, ["x-fc-expires", nearExpires]], dateOverride: nearExpires }), accessKeySecret);
    const near = await get(`${ctx.cluster.endpoint()}${path}?x-fc-access-key-id=${accessKeyId}&x-fc-expires=${nearExpires}&x-fc-signature=${encodeURIComponent(nearSig)}`);
    expect(near.status, near.text).toBe(200);
    console.log("signed URLs: plain, queries + escaped path and POST accepted; 4 tampered and 1 beyond 7 days refused");
  });

  it("still serves code-package URLs from getFunction's code", async () => {
    const code = await ctx.fc.getFunctionCode("signed", "web");
    const url = (code.data as { url: string }).url;
    const res = await send(ctx.cluster, { method: "GET", path: url.slice(url.indexOf("/2016-08-15/")), sign: false });
    expect(res.status, res.text).toBe(200);
    expect(res.headers["content-type"]).toBe("application/zip");
  });
});

describe("afterwards", () => {
  it("the gateway is up, was never restarted and logged no errors", async () => {
    expect(ctx.cluster.service("gateway").process.running).toBe(true);
    expect(await ctx.cluster.logs("gateway")).not.toMatch(/"level":(50|60)|"level":"(error|fatal)"/);
  });
});
