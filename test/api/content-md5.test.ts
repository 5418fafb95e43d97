import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import FC from "@alicloud/fc2";
import { authorization } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { deploy } from "../helpers/functions.js";
import { exchange, send, type RawResponse } from "../helpers/http.js";
import { controlPlaneContents } from "../helpers/inspect.js";

// RELIABILITY.md #23: a signed request replayed with another body, or a Content-MD5 that does not
// match its body, is refused. FC signs Content-MD5, so verifying it binds the body to the signature.

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

const md5 = (body: string | Buffer) => createHash("md5").update(body);
/** The three spellings clients send: RFC 1864 (base64 of the digest), hex (FC's Go SDK), base64 of the hex (@alicloud/fc2). */
const spellings = (body: string | Buffer) => ({
  base64: md5(body).digest("base64"),
  hex: md5(body).digest("hex"),
  base64OfHex: Buffer.from(md5(body).digest("hex")).toString("base64"),
});

interface Captured {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A stand-in endpoint for the official SDK: it records each request exactly as the SDK sent it
 * (signature and Content-MD5 included) and answers `{}`, so tests can replay it at the gateway.
 */
class Recorder {
  readonly requests: Captured[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      this.requests.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  last(): Captured {
    const found = this.requests.at(-1);
    if (!found) throw new Error("the SDK sent nothing");
    return found;
  }
}

/** Sends a recorded request to the gateway as it was, or with another body (Content-Length fixed up). */
function replay(captured: Captured, body: Buffer = captured.body): Promise<RawResponse> {
  const url = new URL(ctx.cluster.endpoint());
  const headers = { ...captured.headers, host: url.host, "content-length": String(body.length) };
  return exchange(ctx.cluster, { method: captured.method, path: captured.url, headers, body });
}

function expectMismatch(res: RawResponse): void {
  expect(res.status, res.text).toBe(400);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(res.headers["x-fc-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.json.ErrorCode).toBe("InvalidArgument");
  expect(res.json.ErrorMessage).toMatch(/Content-MD5/);
}

const recorder = new Recorder();
let sdkViaRecorder: FC;
const tally = { refused: 0, accepted: 0 };

beforeAll(async () => {
  const endpoint = await recorder.start();
  const { accountId, accessKeyId, accessKeySecret, region } = ctx.cluster.credentials;
  sdkViaRecorder = new FC(accountId, { accessKeyID: accessKeyId, accessKeySecret, region, endpoint, timeout: 10_000 });
  await deploy(ctx.cluster, "md5", "echo", { "index.js": "exports.handler = (event, context, callback) => callback(null, event);" });
  const web = `exports.handler = (req, resp) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => resp.send(Buffer.concat(c))); };`;
  for (const [fn, authType] of [["web", "function"], ["open", "anonymous"]] as const) {
    await deploy(ctx.cluster, "md5", fn, { "index.js": web });
    await ctx.fc.createTrigger("md5", fn, { triggerName: "http", triggerType: "http", triggerConfig: { authType, methods: ["GET", "POST"] } });
  }
});
afterAll(async () => {
  await recorder.stop();
  console.log(`content-md5: ${tally.refused} swapped or mismatching bodies refused, ${tally.accepted} matching or absent digests accepted`);
});

const refused = (res: RawResponse) => {
  expectMismatch(res);
  tally.refused++;
};
const accepted = (res: RawResponse, status = 200) => {
  expect(res.status, res.text).toBe(status);
  tally.accepted++;
};

describe("requests signed by @alicloud/fc2, replayed", () => {
  it("sends the base64 of the hex digest, and the gateway takes it as sent", async () => {
    await sdkViaRecorder.createService("md5_sdk_ok");
    const captured = recorder.last();
    expect(captured.headers["content-md5"]).toBe(spellings(captured.body).base64OfHex);
    accepted(await replay(captured));
    expect((await ctx.fc.getService("md5_sdk_ok")).data.serviceName).toBe("md5_sdk_ok");
  });

  it("refuses a management request replayed with another body, and writes nothing", async () => {
    await sdkViaRecorder.createService("md5_sdk_a");
    const captured = recorder.last();
    const before = await controlPlaneContents(ctx.cluster);
    // Same length, so only the digest can tell.
    refused(await replay(captured, Buffer.from(captured.body.toString().replace("md5_sdk_a", "md5_sdk_b"))));
    refused(await replay(captured, Buffer.from(JSON.stringify({ serviceName: "md5_sdk_longer_name", description: "forged" }))));
    expect(await controlPlaneContents(ctx.cluster)).toEqual(before);
  });

  it("refuses an invocation replayed with another event", async () => {
    await sdkViaRecorder.invokeFunction("md5", "echo", "pay alice 10");
    const captured = recorder.last();
    refused(await replay(captured, Buffer.from("pay mallory 1000")));
    const original = await replay(captured);
    accepted(original);
    expect(original.text).toBe("pay alice 10");
  });
});

describe("raw signed requests", () => {
  /** A POST signed with the cluster's key, Content-MD5 included (and, on /proxy/ paths, the empty query). */
  const post = (body: string | Buffer | Buffer[], contentMd5?: string, path = "/2016-08-15/services") => {
    const headers: Record<string, string> = { date: new Date().toUTCString(), "content-type": "application/json", ...(contentMd5 === undefined ? {} : { "content-md5": contentMd5 }) };
    const { accessKeyId, accessKeySecret } = ctx.cluster.credentials;
    headers["authorization"] = authorization(accessKeyId, accessKeySecret, { method: "POST", path, headers, queries: path.includes("/proxy/") ? {} : null });
    return send(ctx.cluster, { method: "POST", path, headers, body, sign: false });
  };

  it("accepts each spelling of the right digest, and no digest at all", async () => {
    for (const spelling of ["base64", "hex", "base64OfHex"] as const) {
      const body = `{"serviceName":"md5_${spelling.toLowerCase()}"}`;
      accepted(await post(body, spellings(body)[spelling]));
    }
    accepted(await post('{"serviceName":"md5_absent"}'));
  });

  it("refuses a signed digest of other bytes, in every spelling, also when the body is chunked", async () => {
    const body = '{"serviceName":"md5_wrong"}';
    for (const digest of Object.values(spellings('{"serviceName":"md5_other"}'))) refused(await post(body, digest));
    refused(await post([Buffer.from(body.slice(0, 10)), Buffer.from(body.slice(10))], spellings("something else").base64));
    accepted(await post([Buffer.from(body.slice(0, 10)), Buffer.from(body.slice(10))], spellings(body).base64));
  });

  it("refuses a Content-MD5 that is not a digest", async () => {
    for (const bad of ["", "abc", "not-a-digest", "x".repeat(32), md5("a").digest("base64").slice(0, 20)]) refused(await post('{"serviceName":"md5_bad"}', bad));
  });

  it("checks a bodiless request against the empty body", async () => {
    const get = (digest: string) => send(ctx.cluster, { method: "GET", path: "/2016-08-15/services", headers: { "content-md5": digest } });
    accepted(await get(spellings("").base64));
    refused(await get(spellings("a body that was never sent").base64));
  });

  it("binds the body of invocations and signed HTTP-trigger requests", async () => {
    const invoke = "/2016-08-15/services/md5/functions/echo/invocations";
    refused(await post("swapped", spellings("original").hex, invoke));
    const ok = await post("original", spellings("original").hex, invoke);
    accepted(ok);
    expect(ok.text).toBe("original");

    const web = "/2016-08-15/proxy/md5/web/x";
    refused(await post("swapped", spellings("original").base64, web));
    const echoed = await post("original", spellings("original").base64, web);
    accepted(echoed);
    expect(echoed.text).toBe("original");
    accepted(await post("no digest", undefined, web));
  });

  it("checks a digest sent to an anonymous HTTP trigger too", async () => {
    const open = (body: string, digest?: string) =>
      send(ctx.cluster, { method: "POST", path: "/2016-08-15/proxy/md5/open/", sign: false, headers: digest === undefined ? {} : { "content-md5": digest }, body });
    refused(await open("swapped", spellings("original").base64));
    accepted(await open("original", spellings("original").base64));
    accepted(await open("no digest"));
  });

  it("is still up and logged no errors", async () => {
    expect(ctx.cluster.service("gateway").process.running).toBe(true);
    expect(await ctx.cluster.logs("gateway")).not.toMatch(/"level":(50|60)|"level":"(error|fatal)"/);
  });
});
