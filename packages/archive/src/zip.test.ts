import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { makeZip, renameEntry, understateSize } from "@nimbus/testkit";
import { walkZip, type ZipEntryInfo } from "./zip.js";

const limits = { maxUnzippedBytes: 1024 * 1024, maxEntries: 100 };

async function rejection(zip: Buffer, l = limits): Promise<{ code: string; message: string }> {
  try {
    await walkZip(zip, l);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected the zip to be refused");
}

describe("code package validation", () => {
  it("walks a sound package and hands every file to the visitor", async () => {
    const zip = await makeZip({ "index.js": "exports.handler = () => {}", "lib/util.js": "x", "bin/run": { content: "#!/bin/sh", mode: 0o100755 } });
    const seen: ZipEntryInfo[] = [];
    const summary = await walkZip(zip, limits, async (entry, content) => {
      seen.push(entry);
      for await (const _ of content) void _;
    });
    expect(summary).toMatchObject({ files: 3, unzippedBytes: 26 + 1 + 9 });
    expect(seen.map((e) => e.path).sort()).toEqual(["bin/run", "index.js", "lib/util.js"]);
    expect(seen.find((e) => e.path === "bin/run")?.mode).toBe(0o755);
  });

  it("refuses bytes that are not a zip", async () => {
    expect(await rejection(randomBytes(300))).toMatchObject({ code: "InvalidArgument", message: expect.stringContaining("not a valid zip") });
    expect(await rejection(Buffer.alloc(0))).toMatchObject({ code: "InvalidArgument" });
  });

  it("refuses an empty package", async () => {
    expect((await rejection(await makeZip({}))).message).toContain("empty");
    expect((await rejection(await makeZip({ "dir/": "" }))).message).toContain("empty");
  });

  it("refuses entries that climb out or are absolute", async () => {
    const up = renameEntry(await makeZip({ "xx/evil.js": "x" }), "xx/evil.js", "../evil.js");
    expect((await rejection(up)).code).toBe("InvalidArgument");
    const deep = renameEntry(await makeZip({ "a/xx/xx/e.js": "x" }), "a/xx/xx/e.js", "a/../../e.js");
    expect((await rejection(deep)).code).toBe("InvalidArgument");
    const abs = renameEntry(await makeZip({ "_etc/passwd": "x" }), "_etc/passwd", "/etc/passwd");
    expect((await rejection(abs)).code).toBe("InvalidArgument");
  });

  it("refuses symbolic links and special files", async () => {
    const link = await makeZip({ "index.js": "x", "shadow": { content: "/etc/shadow", mode: 0o120777 } });
    expect((await rejection(link)).message).toContain("symbolic link");
    const fifo = await makeZip({ "pipe": { content: "", mode: 0o010644 } });
    expect((await rejection(fifo)).message).toContain("regular files");
  });

  it("refuses a package that unpacks beyond the limit, declared or actual", async () => {
    const big = await makeZip({ "zeros.bin": Buffer.alloc(2 * 1024 * 1024) });
    expect(await rejection(big)).toMatchObject({ code: "EntityTooLarge" });
    const liar = understateSize(await makeZip({ "zeros.bin": Buffer.alloc(600 * 1024) }), 1000);
    expect((await rejection(liar)).code).toBe("InvalidArgument");
  });

  it("refuses too many entries", async () => {
    const files = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`f${i}.js`, "x"]));
    expect((await rejection(await makeZip(files))).message).toContain("more than 100 entries");
  });

  it("refuses corrupt data", async () => {
    const zip = await makeZip({ "data.txt": { content: "hello world, hello world, hello world", store: true } });
    const corrupt = Buffer.from(zip);
    const at = corrupt.indexOf("hello");
    corrupt[at] = "j".charCodeAt(0);
    expect((await rejection(corrupt)).message).toMatch(/corrupt|CRC/);
  });

  it("refuses names a file system cannot hold: a component over 255 bytes, a path over 4,096", async () => {
    const component = await makeZip({ "index.js": "x", [`${"n".repeat(256)}.js`]: "x" });
    expect((await rejection(component)).message).toContain("longer than 255 bytes");
    const multibyte = await makeZip({ [`dir/${"é".repeat(128)}`]: "x" }); // 128 characters, 256 bytes
    expect((await rejection(multibyte)).message).toContain("longer than 255 bytes");
    const directory = await makeZip({ [`${"d".repeat(256)}/`]: "", "index.js": "x" });
    expect((await rejection(directory)).message).toContain("longer than 255 bytes");
    const path = await makeZip({ [`${Array.from({ length: 17 }, () => "d".repeat(250)).join("/")}/f.js`]: "x" });
    expect(await rejection(path)).toMatchObject({ code: "InvalidArgument", message: expect.stringContaining("longer than 4096 bytes") });
    const atLimit = await makeZip({ [`${"n".repeat(255)}`]: "x", [`${Array.from({ length: 15 }, () => "d".repeat(255)).join("/")}/f`]: "x" });
    expect((await walkZip(atLimit, limits)).files).toBe(2);
  });
});
