import { describe, expect, it } from "vitest";
import { parseServiceArn, serviceArn } from "../arn.js";
import { parseOrThrow } from "../validation.js";
import { TagResourceBody, UntagResourceBody } from "./tags.js";

describe("tagging", () => {
  it("parses full and short service ARNs", () => {
    const arn = serviceArn({ region: "cn-hangzhou", accountId: "123" }, "svc");
    expect(arn).toBe("acs:fc:cn-hangzhou:123:services/svc");
    expect(parseServiceArn(arn)).toEqual({ region: "cn-hangzhou", accountId: "123", service: "svc" });
    expect(parseServiceArn("services/svc")?.service).toBe("svc");
    for (const bad of ["acs:fc:r:1:functions/x", "services/a.b", "services/", "acs:fc:r:1:services/x/y", ""]) {
      expect(parseServiceArn(bad)).toBeUndefined();
    }
  });

  it("validates tags the way FC documents them", () => {
    const ok = { resourceArn: "services/s", tags: { env: "prod", empty: "" } };
    expect(parseOrThrow(TagResourceBody, ok).tags).toEqual(ok.tags);
    const bad = [
      { resourceArn: "services/s", tags: {} },
      { resourceArn: "services/s", tags: { aliyun_x: "v" } },
      { resourceArn: "services/s", tags: { "acs:x": "v" } },
      { resourceArn: "services/s", tags: { k: "https://x" } },
      { resourceArn: "services/s", tags: { k: "v".repeat(129) } },
      { resourceArn: "services/s", tags: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])) },
      { tags: { k: "v" } },
    ];
    for (const body of bad) expect(() => parseOrThrow(TagResourceBody, body)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });

  it("needs tag keys unless all is set", () => {
    expect(() => parseOrThrow(UntagResourceBody, { resourceArn: "services/s", tagKeys: [] })).toThrow();
    expect(parseOrThrow(UntagResourceBody, { resourceArn: "services/s", all: true }).all).toBe(true);
  });
});
