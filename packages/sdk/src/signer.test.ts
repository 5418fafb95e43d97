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

  it("signs URLs with the expiry in place of the date", () => {
    const url = new URL(signUrl({ baseUrl: "http://h:1/", path: "/2016-08-15/code-packages/x", accessKeyId: "AK", accessKeySecret: "s", expiresAt: new Date(2_000_000_000_000) }));
    expect(url.pathname).toBe("/2016-08-15/code-packages/x");
    expect(url.searchParams.get("x-fc-expires")).toBe("2000000000");
    expect(url.searchParams.get("x-fc-access-key-id")).toBe("AK");
    expect(url.searchParams.get("x-fc-signature")).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});
