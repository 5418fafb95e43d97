import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseContentMd5 } from "./content-md5.js";

const digest = createHash("md5").update("body").digest();

describe("Content-MD5 spellings", () => {
  it("reads RFC 1864 base64, hex in either case, and base64 of the hex (@alicloud/fc2)", () => {
    expect(parseContentMd5(digest.toString("base64"))).toEqual(digest);
    expect(parseContentMd5(digest.toString("hex"))).toEqual(digest);
    expect(parseContentMd5(digest.toString("hex").toUpperCase())).toEqual(digest);
    expect(parseContentMd5(Buffer.from(digest.toString("hex")).toString("base64"))).toEqual(digest);
    expect(parseContentMd5(` ${digest.toString("base64")} `)).toEqual(digest);
  });

  it("refuses what is not a digest", () => {
    for (const bad of ["", "abc", "x".repeat(32), digest.toString("base64").slice(0, 20), Buffer.alloc(20).toString("base64"), `${digest.toString("base64")}, ${digest.toString("base64")}`]) {
      expect(() => parseContentMd5(bad), bad).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
  });
});
