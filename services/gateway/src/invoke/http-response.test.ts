import { describe, expect, it } from "vitest";
import { checkFunctionResponse } from "./http-response.js";

describe("a function's HTTP response, as the gateway will send it", () => {
  it("keeps valid headers, drops platform and x-fc-* ones silently", () => {
    const checked = checkFunctionResponse({ status: 201, headers: { "Content-Type": "text/plain", "set-cookie": ["a=1", "b=2"], "x-fc-forged": "1", "content-length": "9", "x-ok": "é" } });
    expect(checked).toEqual({ ok: true, status: 201, headers: [["content-type", "text/plain"], ["set-cookie", ["a=1", "b=2"]], ["x-ok", "é"]], dropped: [] });
  });

  it("drops and reports headers Node would refuse to write: no header injection", () => {
    const headers = { "x-crlf": "a\r\nSet-Cookie: pwned=1", "x-lf": "a\nb", "x-nul": "a\0b", "bad name": "x", "x-arr": ["ok", "b\r\nc"], "x-num": 5 as unknown as string, "": "x", "x-good": "yes" };
    const checked = checkFunctionResponse({ status: 200, headers });
    expect(checked).toMatchObject({ ok: true, headers: [["x-good", "yes"]] });
    expect(checked.ok && checked.dropped.sort()).toEqual(["", "bad name", "x-arr", "x-crlf", "x-lf", "x-nul", "x-num"]);
  });

  it("fails an answer whose status is not a final HTTP status", () => {
    for (const status of [999, 600, 199, 100, 0, -1, 200.5, Number.NaN, "200" as unknown as number]) {
      expect(checkFunctionResponse({ status, headers: {} }), String(status)).toMatchObject({ ok: false, errorMessage: expect.stringContaining("invalid HTTP status code") });
    }
    for (const status of [200, 204, 302, 404, 599]) expect(checkFunctionResponse({ status, headers: {} }).ok).toBe(true);
  });
});
