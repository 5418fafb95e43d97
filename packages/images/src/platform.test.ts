import { describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, selectPlatform, type PlatformManifest } from "./platform.js";
import type { ResolvedImage } from "./types.js";

const entry = (platform: string, n: number): PlatformManifest => ({
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  size: 100,
  platform: parsePlatform(platform),
});

describe("platforms", () => {
  it("normalize as containerd does", () => {
    expect(normalizePlatform({ os: "Linux", architecture: "x86_64" })).toEqual({ os: "linux", architecture: "amd64" });
    expect(normalizePlatform({ os: "linux", architecture: "aarch64" })).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(normalizePlatform({ os: "linux", architecture: "arm64", variant: "8" })).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(normalizePlatform({ os: "linux", architecture: "armhf" })).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(normalizePlatform({ os: "linux", architecture: "amd64", variant: "v1" })).toEqual({ os: "linux", architecture: "amd64" });
    expect(formatPlatform(parsePlatform("linux/arm/v6"))).toBe("linux/arm/v6");
    expect(() => parsePlatform("linux")).toThrow(/os\/architecture/);
    expect(() => parsePlatform("linux/arm64/")).toThrow(/os\/architecture/);
  });

  it("know this host", () => {
    const host = hostPlatform();
    expect(host.os).toBe("linux");
    expect(["amd64", "arm64", "arm", "386", "s390x", "ppc64", "riscv64", "loong64", "mips64le"]).toContain(host.architecture);
  });

  it("pick this node's entry from an index, arm64 with or without its v8 variant", () => {
    const index = [entry("linux/amd64", 1), entry("linux/arm64/v8", 2), entry("windows/amd64", 3)];
    expect(selectPlatform(index, { os: "linux", architecture: "amd64" })).toBe(index[0]);
    expect(selectPlatform(index, { os: "linux", architecture: "arm64" })).toBe(index[1]);
    expect(selectPlatform([entry("linux/arm64", 4)], { os: "linux", architecture: "arm64", variant: "v8" }).digest).toMatch(/^sha256:4/);
    expect(selectPlatform(index, { os: "windows", architecture: "x86_64" })).toBe(index[2]);
  });

  it("prefer an exact arm variant and fall back to the newest older one", () => {
    const index = [entry("linux/arm/v5", 5), entry("linux/arm/v6", 6), entry("linux/arm/v7", 7)];
    expect(selectPlatform(index, parsePlatform("linux/arm/v7"))).toBe(index[2]);
    expect(selectPlatform(index.slice(0, 2), parsePlatform("linux/arm/v7"))).toBe(index[1]);
    expect(() => selectPlatform([entry("linux/arm/v7", 7)], parsePlatform("linux/arm/v6"))).toThrow(ImageError);
  });

  it("say what an image offers when nothing fits", () => {
    const resolved: ResolvedImage = {
      reference: "r.io/a:v1",
      digest: `sha256:${"1".repeat(64)}`,
      pinned: `r.io/a@sha256:${"1".repeat(64)}`,
      platforms: [parsePlatform("linux/s390x"), parsePlatform("linux/ppc64le")],
    };
    let caught: unknown;
    try {
      selectPlatform(resolved, { os: "linux", architecture: "amd64" });
    } catch (err) {
      caught = err;
    }
    expect((caught as ImageError).code).toBe("NoMatchingPlatform");
    expect((caught as ImageError).message).toBe("image r.io/a:v1 has no manifest for linux/amd64; it offers linux/s390x, linux/ppc64le");
    expect(selectPlatform({ ...resolved, platforms: [{ os: "linux", architecture: "x86_64" }] }, parsePlatform("linux/amd64"))).toEqual({
      os: "linux",
      architecture: "x86_64",
    });
  });
});
