import { describe, expect, it } from "vitest";
import { Crc64, crc64 } from "./crc64.js";
import { digestCode } from "./digest.js";

describe("CRC-64/XZ (FC's codeChecksum)", () => {
  it("matches the catalogue check value", () => {
    expect(crc64(Buffer.from("123456789"))).toBe("11051210869376104954");
    expect(crc64(Buffer.alloc(0))).toBe("0");
  });

  it("is the same computed in pieces", () => {
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) & 0xff));
    const pieces = new Crc64();
    for (let i = 0; i < data.length; i += 777) pieces.update(data.subarray(i, i + 777));
    expect(pieces.digest()).toBe(crc64(data));
  });

  it("digests a package in slices with the same result", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 9);
    const digest = await digestCode(data);
    expect(digest).toMatchObject({ size: data.length, crc64: crc64(data) });
    expect(digest.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
