import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { authorization, composeStringToSign, parseAuthorization, signUrl } from "./signer.js";

// The official SDK's own string-to-sign: ours must agree with it byte for byte.
const require = createRequire(import.meta.url);
const fcHelper = require("@alicloud/fc2/lib/helper.js") as {
  composeStringToSign(method: string, path: string, headers: Record<string, string>, queries?: Record<string, unknown> | null): string;
};
const FCClient = require("@alicloud/fc2") as {
  getSignature(id: string, secret: string, method: string, path: string, headers: Record<string, string>, queries?: unknown): string;
};

const headers = {
  accept: "application/json",
  date: "Sat, 21 Nov 2026 05:00:00 GMT",
  host: "127.0.0.1",
  "content-type": "application/json",
  "content-md5": "ZjQ1NjY=",
  "x-fc-account-id": "1234",
  "X-Fc-Trace-Id": "abc",
  "x-fc-invocation-type": "Async",
};

describe("FC request signing", () => {
  it("composes the same string to sign as @alicloud/fc2", () => {
    expect(composeStringToSign({ method: "POST", path: "/2016-08-15/services", headers })).toBe(
      fcHelper.composeStringToSign("POST", "/2016-08-15/services", headers, null),
    );
  });

  it("signs /proxy/ queries like @alicloud/fc2, repeated keys included", () => {
    const queries = { b: "2", a: ["3", "1"], "with space": "x y" };
    const path = "/2016-08-15/proxy/svc/fn/a/b";
    expect(composeStringToSign({ method: "GET", path, headers, queries })).toBe(fcHelper.composeStringToSign("GET", path, headers, { ...queries }));
  });

  it("produces the same Authorization header as @alicloud/fc2", () => {
    const path = "/2016-08-15/services/s/functions";
    expect(authorization("AK", "secret", { method: "GET", path, headers })).toBe(FCClient.getSignature("AK", "secret", "GET", path, headers, null));
  });

  it("parses Authorization headers", () => {
    expect(parseAuthorization("FC AK:abc/+=")).toEqual({ accessKeyId: "AK", signature: "abc/+=" });
    for (const bad of ["", "FC", "FC AK", "Bearer x", "FC :sig", "FC AK:"]) expect(parseAuthorization(bad)).toBeUndefined();
  });

  it("signs URLs with the expiry in place of the date and every query but the signature", () => {
    const expiresAt = new Date(Date.now() + 3600_000);
    const url = new URL(signUrl({ baseUrl: "http://h:1/", path: "/2016-08-15/code-packages/x", accessKeyId: "AK", accessKeySecret: "s", expiresAt }));
    expect(url.pathname).toBe("/2016-08-15/code-packages/x");
    expect(url.searchParams.get("x-fc-expires")).toBe(String(Math.floor(expiresAt.getTime() / 1000)));
    expect(url.searchParams.get("x-fc-access-key-id")).toBe("AK");
    expect(url.searchParams.get("x-fc-signature")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it("signs HTTP-trigger URLs exactly as FC's Go SDK does (its test vector)", () => {
    // aliyun/fc-go-sdk sign_url_request_test.go: GET service/func, expiring at 1583339600, no STS token.
    const url = signUrl({ baseUrl: "http://localhost", path: "/2016-08-15/proxy/service/func/", accessKeyId: "akid", accessKeySecret: "akSec", expiresAt: new Date(1583339600_000) });
    expect(new URL(url).searchParams.get("x-fc-signature")).toBe("6Rc4KxEAv3+lHpbNQWceIUqWVWq3ewxhadlJBRzZ0XQ=");
    expect(url.startsWith("http://localhost/2016-08-15/proxy/service/func/?")).toBe(true);
  });

  it("encodes the path and queries for the URL but signs them decoded", () => {
    const url = new URL(signUrl({ baseUrl: "http://h", path: "/2016-08-15/proxy/s/f/a b/ü?#", queries: { q: "a&b=c", r: ["1", "2"] }, accessKeyId: "AK", accessKeySecret: "s", expiresAt: new Date(Date.now() + 60_000), method: "POST" }));
    expect(url.pathname).toBe("/2016-08-15/proxy/s/f/a%20b/%C3%BC%3F%23");
    expect(url.searchParams.get("q")).toBe("a&b=c");
    expect(url.searchParams.getAll("r")).toEqual(["1", "2"]);
    const pairs = [...url.searchParams].filter(([k]) => k !== "x-fc-signature");
    const expected = composeStringToSign({ method: "POST", path: "/2016-08-15/proxy/s/f/a b/ü?#", headers: {}, queries: pairs, dateOverride: url.searchParams.get("x-fc-expires") ?? "" });
    expect(expected).toContain("\nq=a&b=c\nr=1\nr=2\nx-fc-access-key-id=AK\nx-fc-expires=");
  });

  it("will not sign a URL that lives longer than 7 days", () => {
    const sign = (ms: number) => signUrl({ baseUrl: "http://h", path: "/x", accessKeyId: "AK", accessKeySecret: "s", expiresAt: new Date(Date.now() + ms) });
    expect(() => sign(7 * 24 * 3600_000 + 60_000)).toThrow(/604800 seconds/);
    expect(() => sign(7 * 24 * 3600_000 - 60_000)).not.toThrow();
  });
});
