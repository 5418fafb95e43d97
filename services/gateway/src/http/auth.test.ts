import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { composeStringToSign, signString, signUrl } from "@nimbus/sdk";
import { createAuthenticator, parseQueryPairs } from "./auth.js";

const require = createRequire(import.meta.url);
const FCClient = require("@alicloud/fc2") as {
  getSignature(id: string, secret: string, method: string, path: string, headers: Record<string, string>, queries?: unknown): string;
};

const NOW = Date.parse("2026-11-21T05:00:00Z");
const keys = new Map([["AK1", "secret-1"]]);
const auth = createAuthenticator(keys, () => NOW);

function signed(method: string, url: string, extra: Record<string, string> = {}, opts: { id?: string; secret?: string; queries?: unknown } = {}) {
  const headers: Record<string, string> = { date: new Date(NOW).toUTCString(), "x-fc-account-id": "1", ...extra };
  const path = url.split("?")[0] ?? url;
  headers["authorization"] = FCClient.getSignature(opts.id ?? "AK1", opts.secret ?? "secret-1", method, path, headers, opts.queries ?? null);
  return { method, url, headers };
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return "accepted";
};

describe("FC signature verification", () => {
  it("accepts what the official SDK signs", () => {
    expect(auth.verify(signed("GET", "/2016-08-15/services?limit=2"))).toBe("AK1");
    expect(auth.verify(signed("POST", "/2016-08-15/services", { "content-type": "application/json", "content-md5": "abc" }))).toBe("AK1");
  });

  it("accepts a signature over the decoded or the raw path", () => {
    const arn = encodeURIComponent("acs:fc:r:1:layers/x/versions/1");
    expect(auth.verify(signed("GET", `/2016-08-15/layerarn/${arn}`))).toBe("AK1");
    const decodedSigned = signed("GET", `/2016-08-15/layerarn/acs:fc:r:1:layers/x/versions/1`);
    expect(auth.verify({ ...decodedSigned, url: `/2016-08-15/layerarn/${arn}` })).toBe("AK1");
  });

  it("covers the queries of /proxy/ paths", () => {
    const req = signed("GET", "/2016-08-15/proxy/svc/fn/path?b=2&a=1", {}, { queries: { a: "1", b: "2" } });
    expect(auth.verify(req)).toBe("AK1");
    expect(code(() => auth.verify({ ...req, url: "/2016-08-15/proxy/svc/fn/path?b=3&a=1" }))).toBe("SignatureNotMatch");
  });

  it("refuses what it must", () => {
    const ok = signed("GET", "/2016-08-15/services");
    expect(code(() => auth.verify({ ...ok, headers: { ...ok.headers, authorization: undefined as unknown as string } }))).toBe("MissingRequiredHeader");
    expect(code(() => auth.verify(signed("GET", "/2016-08-15/services", {}, { secret: "wrong" })))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify(signed("GET", "/2016-08-15/services", {}, { id: "NOPE" })))).toBe("InvalidAccessKeyID");
    expect(code(() => auth.verify({ ...ok, url: "/2016-08-15/services/x" }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ ...ok, method: "DELETE" }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ ...ok, headers: { ...ok.headers, "x-fc-account-id": "2" } }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ ...ok, headers: { ...ok.headers, authorization: "Bearer x" } }))).toBe("AccessDenied");
    const { date: _d, ...noDate } = ok.headers;
    expect(code(() => auth.verify({ ...ok, headers: noDate }))).toBe("MissingRequiredHeader");
    expect(code(() => auth.verify({ ...ok, headers: { ...ok.headers, date: "yesterday" } }))).toBe("InvalidArgument");
  });

  it("bounds the Date skew at 15 minutes either way", () => {
    for (const skew of [-16 * 60_000, 16 * 60_000]) {
      const req = signed("GET", "/2016-08-15/services", { date: new Date(NOW + skew).toUTCString() });
      expect(code(() => auth.verify(req))).toBe("RequestTimeTooSkewed");
    }
    expect(auth.verify(signed("GET", "/2016-08-15/services", { date: new Date(NOW - 14 * 60_000).toUTCString() }))).toBe("AK1");
  });

  it("verifies signed URLs until they expire", () => {
    const make = (expiresAt: number, secret = "secret-1") =>
      new URL(signUrl({ baseUrl: "http://x", path: "/2016-08-15/code-packages/abc", accessKeyId: "AK1", accessKeySecret: secret, expiresAt: new Date(expiresAt) }));
    const good = make(NOW + 60_000);
    expect(auth.verify({ method: "GET", url: good.pathname + good.search, headers: {} })).toBe("AK1");
    const expired = make(NOW - 1_000);
    expect(code(() => auth.verify({ method: "GET", url: expired.pathname + expired.search, headers: {} }))).toBe("AccessDenied");
    const forged = make(NOW + 60_000, "guess");
    expect(code(() => auth.verify({ method: "GET", url: forged.pathname + forged.search, headers: {} }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ method: "GET", url: `/2016-08-15/code-packages/other${good.search}`, headers: {} }))).toBe("SignatureNotMatch");
  });

  it("verifies signed URLs of HTTP triggers, every query signed", () => {
    const make = (path: string, queries?: Record<string, string | string[]>, method = "GET") => {
      const url = new URL(signUrl({ baseUrl: "http://x", path, queries, method, accessKeyId: "AK1", accessKeySecret: "secret-1", expiresAt: new Date(NOW + 60_000) }));
      return url.pathname + url.search;
    };
    const plain = make("/2016-08-15/proxy/svc.live/fn/");
    expect(auth.verify({ method: "GET", url: plain, headers: {} })).toBe("AK1");
    const rich = make("/2016-08-15/proxy/svc/fn/a b/ü", { x: "1", y: ["2", "3"] });
    expect(auth.verify({ method: "GET", url: rich, headers: {} })).toBe("AK1");
    expect(code(() => auth.verify({ method: "GET", url: rich.replace("x=1", "x=9"), headers: {} }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ method: "GET", url: `${rich}&z=1`, headers: {} }))).toBe("SignatureNotMatch");
    expect(code(() => auth.verify({ method: "POST", url: rich, headers: {} }))).toBe("SignatureNotMatch");
    expect(auth.verify({ method: "PUT", url: make("/2016-08-15/proxy/svc/fn/p", {}, "PUT"), headers: {} })).toBe("AK1");
  });

  it("refuses signed URLs that expire more than 7 days ahead (and the Date skew)", () => {
    const at = (expires: number) => {
      const path = "/2016-08-15/proxy/svc/fn/";
      const queries: [string, string][] = [["x-fc-access-key-id", "AK1"], ["x-fc-expires", String(expires)]];
      const signature = signString(composeStringToSign({ method: "GET", path, headers: {}, queries, dateOverride: String(expires) }), "secret-1");
      return `${path}?x-fc-access-key-id=AK1&x-fc-expires=${expires}&x-fc-signature=${encodeURIComponent(signature)}`;
    };
    const week = 7 * 24 * 3600;
    const nowSeconds = NOW / 1000;
    expect(auth.verify({ method: "GET", url: at(nowSeconds + week), headers: {} })).toBe("AK1");
    expect(auth.verify({ method: "GET", url: at(nowSeconds + week + 14 * 60), headers: {} })).toBe("AK1");
    expect(code(() => auth.verify({ method: "GET", url: at(nowSeconds + week + 16 * 60), headers: {} }))).toBe("AccessDenied");
  });

  it("keeps keys given without '=' distinct from empty values", () => {
    expect(parseQueryPairs("a&b=&c=1&d=x%20y&e=a+b")).toEqual([
      ["a", null],
      ["b", ""],
      ["c", "1"],
      ["d", "x y"],
      ["e", "a b"],
    ]);
  });
});
