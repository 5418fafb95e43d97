import { describe, expect, it } from "vitest";
import { assertName, isValidName, parseQualifiedService } from "./names.js";

describe("resource names", () => {
  it.each(["a", "_x", "Svc-1_b", "A".repeat(128), "_FUN_NAS_puppeteer-nodejs12"])("accepts %j", (name) => {
    expect(isValidName(name)).toBe(true);
  });

  it.each([
    "",
    "A".repeat(129),
    "1abc",
    "-abc",
    "a.b",
    "a*",
    "a>",
    "a b",
    "a:b",
    "a/b",
    "ñame",
    "名字",
    "a\u0000",
    "__proto__x\n",
  ])("rejects %j with InvalidArgument", (name) => {
    expect(isValidName(name)).toBe(false);
    expect(() => assertName("service", name)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });

  it("rejects non-strings", () => {
    for (const v of [null, undefined, 1, {}, ["a"]]) expect(isValidName(v)).toBe(false);
  });
});

describe("service[.qualifier] path segments", () => {
  it("splits at the first dot", () => {
    expect(parseQualifiedService("svc")).toEqual({ service: "svc", qualifier: undefined });
    expect(parseQualifiedService("svc.LATEST")).toEqual({ service: "svc", qualifier: "LATEST" });
    expect(parseQualifiedService("svc.12")).toEqual({ service: "svc", qualifier: "12" });
    expect(parseQualifiedService("svc.prod")).toEqual({ service: "svc", qualifier: "prod" });
  });

  it.each(["svc.", "svc.a.b", "svc.*", ".LATEST", "bad name.LATEST"])("rejects %j", (segment) => {
    expect(() => parseQualifiedService(segment)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });
});
