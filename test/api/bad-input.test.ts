import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeZip, renameEntry, TestCluster, understateSize } from "@nimbus/testkit";
import { authorization } from "@nimbus/sdk";
import { controlPlaneContents } from "../helpers/inspect.js";
import { rawExchange, send, type RawResponse } from "../helpers/http.js";

const MAX_ZIP = 64 * 1024;
const MAX_UNZIPPED = 256 * 1024;
const MANAGEMENT_LIMIT = 1024 * 1024;

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({
    env: {
      NIMBUS_MAX_CODE_ZIP_BYTES: String(MAX_ZIP),
      NIMBUS_MAX_CODE_UNZIPPED_BYTES: String(MAX_UNZIPPED),
      NIMBUS_HEADERS_TIMEOUT_MS: "1000",
      NIMBUS_LOG_LEVEL: "warn",
    },
  });
  await cluster.client().createService("bad");
});
afterAll(async () => {
  await cluster?.stop();
});

/** Every refusal is FC's error body, JSON, with a request id, and the given status and code. */
function expectFcError(res: RawResponse, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.json.ErrorCode, res.text).toBe(code);
  expect(typeof res.json.ErrorMessage).toBe("string");
}

const JSON_CT = { "content-type": "application/json" };

describe("authentication", () => {
  it("refuses unsigned, wrongly signed, stale and unknown-key requests", async () => {
    expectFcError(await send(cluster, { method: "GET", path: "/2016-08-15/services", sign: false }), 400, "MissingRequiredHeader");

    const date = new Date().toUTCString();
    const sign = (id: string, secret: string, d = date) =>
      authorization(id, secret, { method: "GET", path: "/2016-08-15/services", headers: { date: d } });
    const { accessKeyId, accessKeySecret } = cluster.credentials;

    const wrong = await send(cluster, { method: "GET", path: "/2016-08-15/services", sign: false, headers: { date, authorization: sign(accessKeyId, "nope") } });
    expectFcError(wrong, 403, "SignatureNotMatch");
    expect(wrong.json.ErrorMessage).toContain("The request signature we calculated does not match the signature you provided.");

    const unknown = await send(cluster, { method: "GET", path: "/2016-08-15/services", sign: false, headers: { date, authorization: sign("LTAIunknown", accessKeySecret) } });
    expectFcError(unknown, 403, "InvalidAccessKeyID");
    expect(unknown.json.ErrorMessage).toBe("invalid access key ID 'LTAIunknown'");

    const old = new Date(Date.now() - 16 * 60_000).toUTCString();
    expectFcError(
      await send(cluster, { method: "GET", path: "/2016-08-15/services", sign: false, headers: { date: old, authorization: sign(accessKeyId, accessKeySecret, old) } }),
      403,
      "RequestTimeTooSkewed",
    );
    expectFcError(
      await send(cluster, { method: "GET", path: "/2016-08-15/services", sign: false, headers: { date, authorization: "Basic dXNlcjpwYXNz" } }),
      403,
      "AccessDenied",
    );
  });

  it("checks the signature before reading a body", async () => {
    const res = await send(cluster, { method: "POST", path: "/2016-08-15/services", sign: false, headers: JSON_CT, body: Buffer.alloc(5 * MANAGEMENT_LIMIT, 32) });
    expectFcError(res, 400, "MissingRequiredHeader");
  });

  it("leaves health, readiness and metrics open", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      expect((await send(cluster, { method: "GET", path, sign: false })).status).toBe(200);
    }
  });
});

describe("request bodies", () => {
  it("refuses malformed JSON, wrong types, non-objects and prototype keys", async () => {
    const post = (body: string) => send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body });
    expectFcError(await post("{not json"), 400, "InvalidArgument");
    expectFcError(await post('{"serviceName": 12}'), 400, "InvalidArgument");
    expectFcError(await post('["array"]'), 400, "InvalidArgument");
    expectFcError(await post('"string"'), 400, "InvalidArgument");
    expectFcError(await post('{"serviceName": "p1", "__proto__": {"admin": true}}'), 400, "InvalidArgument");
    expectFcError(await post('{"serviceName": "p2", "logConfig": {"constructor": {"prototype": {"x": 1}}}}'), 400, "InvalidArgument");
    expectFcError(await post('{"serviceName": "p3", "constructor": 1}'), 400, "InvalidArgument");
    const viaOctet = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: { "content-type": "application/octet-stream" }, body: '{"serviceName":"p4","__proto__":{}}' });
    expectFcError(viaOctet, 400, "InvalidArgument");
  });

  it("ignores fields FC does not know, like FC", async () => {
    const res = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body: JSON.stringify({ serviceName: "extra", bogus: 1 }) });
    expect(res.status).toBe(200);
    expect(res.json).not.toHaveProperty("bogus");
  });

  it("refuses invalid names in paths and bodies", async () => {
    for (const name of ["1a", "a.b.c", "a%20b", "%E5%90%8D", "a*", "a%3Eb", "a:b", "x".repeat(129)]) {
      const res = await send(cluster, { method: "GET", path: `/2016-08-15/services/${name}/functions/f` });
      expectFcError(res, 400, "InvalidArgument");
    }
    for (const name of ["", " ", "a/b", "ñ", "a\tb"]) {
      const res = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body: JSON.stringify({ serviceName: name }) });
      expectFcError(res, 400, "InvalidArgument");
    }
  });

  it("takes a management body up to 1 MB, and refuses one byte more (with or without Content-Length)", async () => {
    const sized = (name: string, total: number) => {
      const head = `{"serviceName":"${name}","pad":"`;
      return `${head}${"x".repeat(total - head.length - 2)}"}`;
    };
    for (const [name, size] of [["lim_minus", MANAGEMENT_LIMIT - 1], ["lim_exact", MANAGEMENT_LIMIT]] as const) {
      const body = sized(name, size);
      expect(Buffer.byteLength(body)).toBe(size);
      const res = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body });
      expect(res.status, res.text).toBe(200);
    }
    const over = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body: sized("lim_plus", MANAGEMENT_LIMIT + 1) });
    expectFcError(over, 413, "EntityTooLarge");
    const chunks = Array.from({ length: 17 }, () => Buffer.alloc(64 * 1024, 32));
    const chunked = await send(cluster, { method: "POST", path: "/2016-08-15/services", headers: JSON_CT, body: chunks });
    expectFcError(chunked, 413, "EntityTooLarge");
    expect((await controlPlaneContents(cluster)).services).not.toContain("lim_plus");
  });

  it("answers oversized headers with 431 and FC's body", async () => {
    const res = await rawExchange(cluster, `GET /2016-08-15/services HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 431/);
    expect(res).toMatch(/x-fc-request-id: [0-9a-f-]{36}/);
    expect(res).toContain('"ErrorCode":"InvalidArgument"');
  });

  it("cuts off a client that sends its headers too slowly", async () => {
    const started = Date.now();
    const res = await rawExchange(cluster, "GET /2016-08-15/services HTTP/1.1\r\nHost: x\r\n", { keepOpenMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(res).toMatch(/^HTTP\/1\.1 408/);
  });

  it("answers unknown paths and methods with PathNotSupported", async () => {
    expectFcError(await send(cluster, { method: "GET", path: "/2016-08-15/nothing-here" }), 400, "PathNotSupported");
    expectFcError(await send(cluster, { method: "PATCH", path: "/2016-08-15/services/bad" }), 400, "PathNotSupported");
  });
});

describe("code packages", () => {
  const createWith = (name: string, zip: Buffer | string) =>
    send(cluster, {
      method: "POST",
      path: "/2016-08-15/services/bad/functions",
      headers: JSON_CT,
      body: JSON.stringify({ functionName: name, runtime: "nodejs20", handler: "index.handler", code: { zipFile: typeof zip === "string" ? zip : zip.toString("base64") } }),
    });

  /** A zip of exactly `size` bytes (one stored entry of random bytes). */
  async function zipOfSize(size: number): Promise<Buffer> {
    const overhead = (await makeZip({ "f.bin": { content: Buffer.alloc(0), store: true } })).length;
    const zip = await makeZip({ "f.bin": { content: randomBytes(size - overhead), store: true } });
    expect(zip.length).toBe(size);
    return zip;
  }

  it("refuses every bad package with a 4xx and writes nothing", async () => {
    const before = await controlPlaneContents(cluster);
    const cases: [string, Buffer | string, number, string][] = [
      ["corrupt", randomBytes(2048), 400, "InvalidArgument"],
      ["empty", await makeZip({}), 400, "InvalidArgument"],
      ["dirs_only", await makeZip({ "a/": "", "b/": "" }), 400, "InvalidArgument"],
      ["unpacks_big", await makeZip({ "zeros": Buffer.alloc(MAX_UNZIPPED + 1) }), 413, "EntityTooLarge"],
      ["lies", understateSize(await makeZip({ "zeros": Buffer.alloc(200 * 1024) }), 100), 400, "InvalidArgument"],
      ["dotdot", renameEntry(await makeZip({ "index.js": "x", "xx/evil.js": "x" }), "xx/evil.js", "../evil.js"), 400, "InvalidArgument"],
      ["absolute", renameEntry(await makeZip({ "index.js": "x", "_tmp/evil": "x" }), "_tmp/evil", "/tmp/evil"), 400, "InvalidArgument"],
      ["symlink", await makeZip({ "index.js": "x", "passwd": { content: "/etc/passwd", mode: 0o120777 } }), 400, "InvalidArgument"],
      ["not_base64", "this is not base64!", 400, "InvalidArgument"],
      ["too_big", await zipOfSize(MAX_ZIP + 1), 413, "EntityTooLarge"],
    ];
    for (const [name, zip, status, code] of cases) {
      const res = await createWith(name, zip);
      expect(res.status, `${name}: ${res.text}`).toBe(status);
      expect(res.json.ErrorCode, name).toBe(code);
    }
    expect(await controlPlaneContents(cluster)).toEqual(before);
  });

  it("takes a package of exactly the zipped limit and refuses one byte more", async () => {
    expect((await createWith("zip_minus", await zipOfSize(MAX_ZIP - 1))).status).toBe(200);
    expect((await createWith("zip_exact", await zipOfSize(MAX_ZIP))).status).toBe(200);
    const over = await createWith("zip_plus", await zipOfSize(MAX_ZIP + 1));
    expect(over.json.ErrorCode).toBe("EntityTooLarge");
  });

  it("leaves an existing function untouched when an update carries a bad package", async () => {
    const good = await makeZip({ "index.js": "exports.handler = () => {}" });
    expect((await createWith("kept", good)).status).toBe(200);
    const before = await controlPlaneContents(cluster);
    const res = await send(cluster, {
      method: "PUT",
      path: "/2016-08-15/services/bad/functions/kept",
      headers: JSON_CT,
      body: JSON.stringify({ memorySize: 512, code: { zipFile: randomBytes(100).toString("base64") } }),
    });
    expect(res.json.ErrorCode).toBe("InvalidArgument");
    expect(await controlPlaneContents(cluster)).toEqual(before);
    const fn = await cluster.client().getFunction("bad", "kept");
    expect(fn.data["memorySize"]).toBe(128);
  });

  it("is still up and was never restarted", async () => {
    expect((await send(cluster, { method: "GET", path: "/healthz", sign: false })).status).toBe(200);
    expect(cluster.service("gateway").process.running).toBe(true);
    expect(await cluster.logs("gateway")).not.toMatch(/"level":"(fatal|error)"/);
  });
});
