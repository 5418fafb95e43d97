import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { LAYERED_EXPECTED, writeAuthFile, type HostileKind } from "@nimbus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobGets, CacheFixture, exec, failure, leftovers } from "./cache-fixtures.js";
import { formatPlatform, hostPlatform } from "./platform.js";
import { MOUNT_DIRS, MOUNT_FILES } from "./rootfs.js";
import type { CachedImage } from "./types.js";

let f: CacheFixture;
beforeAll(async () => {
  f = await CacheFixture.start(async (images) => ({
    node: { tag: await images.node() },
    python: { tag: await images.python() },
    layered: { tag: await images.layered() },
    multi: { tag: await images.multiArch() },
    foreign: { tag: (await images.foreignOnly()).tag },
    private: { tag: await images.marker("private", "private"), locked: true },
    "lru-a": { tag: await images.marker("lru-a", "lru a") },
    "lru-b": { tag: await images.marker("lru-b", "lru b") },
    "lru-c": { tag: await images.marker("lru-c", "lru c") },
  }));
}, 180_000);
afterAll(async () => {
  await f?.stop();
});

describe("ImageCache: pulling and unpacking real images", () => {
  it("pulls the Node.js image anonymously into a rootfs with its config, mount points and meta.json, and it runs", async () => {
    const t = await f.cache();
    const started = Date.now();
    const image = await t.cache.acquire(f.pinned("node"));
    console.log(`node image: pulled and unpacked in ${Date.now() - started} ms, ${image.sizeBytes} bytes on disk`);
    expect(image.digest).toBe(f.pushed["node"]!.digest);
    expect(image.rootfs).toBe(join(t.dir, image.digest.slice(7), "rootfs"));
    expect(image.config).toEqual({
      entrypoint: ["/usr/local/bin/node", "/app/server.js"],
      cmd: [],
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", "IMAGE_MARKER=node-image"],
      workingDir: "/app",
      user: "",
    });
    expect((await stat(join(image.rootfs, "usr/local/bin/node"))).mode & 0o111).toBeTruthy();
    for (const d of MOUNT_DIRS) expect((await lstat(join(image.rootfs, d))).isDirectory(), d).toBe(true);
    for (const f of MOUNT_FILES) expect((await lstat(join(image.rootfs, f))).isFile(), f).toBe(true);
    for (const p of [t.dir, join(t.dir, image.digest.slice(7)), image.rootfs]) expect((await stat(p)).mode & 0o001, `${p} is o+x`).toBe(1);
    const meta = JSON.parse(await readFile(join(t.dir, image.digest.slice(7), "meta.json"), "utf8")) as Record<string, unknown>;
    expect(meta).toMatchObject({ digest: image.digest, references: [f.pinned("node")], manifestDigest: image.manifestDigest, sizeBytes: image.sizeBytes });
    expect(await leftovers(t.dir)).toEqual([]);
    expect(await readdir(join(t.dir, image.digest.slice(7)))).toEqual(["meta.json", "rootfs"]);
    expect(t.cache.list()).toEqual([expect.objectContaining({ digest: image.digest, inUse: 1, sizeBytes: image.sizeBytes })]);
    const { stdout: du } = await exec("du", ["-s", "-B1", image.rootfs]);
    console.log(`sizeBytes ${image.sizeBytes}, du says ${du.split("\t")[0]}`);

    if (process.getuid?.() === 0) {
      const { stdout } = await exec("chroot", [image.rootfs, "/usr/local/bin/node", "-e", "console.log(process.version)"]);
      expect(stdout.trim()).toBe(process.version);
    } else {
      console.log("not root: the image's node is not run through chroot");
    }
    t.cache.release(image.digest);
    expect(t.cache.list()[0]?.inUse).toBe(0);
  });

  it("pulls the Python image (Debian's python3, a trimmed stdlib) and its interpreter imports http.server", async () => {
    const t = await f.cache();
    const image = await t.cache.acquire(f.pinned("python"));
    expect(image.config.entrypoint).toEqual(["/usr/bin/python3", "-S", "-u", "/app/server.py"]);
    if (process.getuid?.() === 0) {
      const { stdout } = await exec("chroot", [image.rootfs, "/usr/bin/python3", "-S", "-c", "import http.server, json; print('ok')"]);
      expect(stdout.trim()).toBe("ok");
    }
  });

  it("applies whiteouts and an opaque directory as the layers say", async () => {
    const t = await f.cache();
    const image = await t.cache.acquire(f.pinned("layered"));
    for (const [path, content] of Object.entries(LAYERED_EXPECTED.present)) expect(await readFile(join(image.rootfs, path), "utf8"), path).toBe(content);
    for (const path of LAYERED_EXPECTED.absent) expect(existsSync(join(image.rootfs, path)), path).toBe(false);
    expect(await readdir(join(image.rootfs, "data/replaced"))).toEqual(["new.txt"]);
    expect((await readdir(join(image.rootfs, "data"))).filter((n) => n.startsWith(".wh."))).toEqual([]);
  });

  it("clears setuid and setgid bits, which would hand root to anyone on this host who can reach the cache", async () => {
    const tag = await f.images.custom("setuid", [
      [{ path: "bin", dir: true }, { path: "bin/rootshell", content: "#!/bin/sh\nexec sh\n", mode: 0o4755 }, { path: "bin/groupie", content: "x", mode: 0o2755 }, { path: "bin/plain", content: "x", mode: 0o755 }],
    ]);
    const pushed = await f.images.push(tag, { registry: f.open, repository: "team/setuid", tag: "v1" });
    const t = await f.cache();
    const image = await t.cache.acquire(`${f.open.host}/team/setuid@${pushed.digest}`);
    expect((await stat(join(image.rootfs, "bin/rootshell"))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(image.rootfs, "bin/groupie"))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(image.rootfs, "bin/plain"))).mode & 0o7777).toBe(0o755);
  });

  it("takes zstd-compressed layers (skopeo decompresses them on the way)", async () => {
    // Layers of their own: skopeo would reuse blobs the registry has already (gzip) instead of recompressing.
    const tag = await f.images.custom("zstd", [
      [{ path: "z", dir: true }, { path: "z/kept", content: "zstd kept\n" }, { path: "z/gone", content: "zstd gone\n" }],
      [{ path: "z/.wh.gone", content: "" }, { path: "z/added", content: "zstd added\n" }],
    ]);
    const zstd = await f.images.push(tag, { registry: f.open, repository: "team/zstd", tag: "v1", compression: "zstd" });
    const { stdout } = await exec("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${zstd.reference}`]);
    expect(stdout.match(/application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd/g)).toHaveLength(2);
    const t = await f.cache();
    const image = await t.cache.acquire(`${f.open.host}/team/zstd@${zstd.digest}`);
    expect((await readdir(join(image.rootfs, "z"))).sort()).toEqual(["added", "kept"]);
    expect(await readFile(join(image.rootfs, "z/kept"), "utf8")).toBe("zstd kept\n");
  });

  it("unpacks this node's platform from an index, and refuses an index without it", async () => {
    const t = await f.cache();
    const image = await t.cache.acquire(f.pinned("multi"));
    const marker = (await readFile(join(image.rootfs, "etc/marker"), "utf8")).trim();
    expect(marker).toBe(formatPlatform(hostPlatform()));
    expect(image.manifestDigest).not.toBe(image.digest);
    const err = await failure(t.cache.acquire(f.pinned("foreign")));
    expect(err.code).toBe("NoMatchingPlatform");
    console.log(`foreign-only index: ${err.message}`);
  });

  it("pulls from a registry with htpasswd only with the right credentials", async () => {
    const without = await f.cache();
    expect((await failure(without.cache.acquire(f.pinned("private")))).code).toBe("Unauthorized");
    expect(await leftovers(without.dir)).toEqual([]);
    const wrong = await f.cache({ access: { insecureRegistries: [], timeoutMs: 20_000, authFile: await writeAuthFile(join(f.dir, "wrong.json"), [{ host: f.locked.host, credentials: "nimbus:nope" }]) } });
    expect((await failure(wrong.cache.acquire(f.pinned("private")))).code).toBe("Unauthorized");
    const right = await f.cache({ access: { insecureRegistries: [], timeoutMs: 20_000, authFile: await writeAuthFile(join(f.dir, "right.json"), [f.locked]) } });
    const image = await right.cache.acquire(f.pinned("private"));
    expect(await readFile(join(image.rootfs, "etc/marker"), "utf8")).toBe("private\n");
  });

  // Once under a fully loaded CI machine its pull stalled past the test's minute (never reproduced alone, ~0.6 s): one retry.
  it("unpacks with umoci --rootless when the node does not run as root", { retry: 1, timeout: 90_000 }, async () => {
    if (process.getuid?.() !== 0) {
      console.log("skipped: the test needs root to run a pull as another user (nobody)");
      return;
    }
    const home = join(f.dir, "rootless");
    await mkdir(home, { mode: 0o777 });
    await chmod(home, 0o777);
    await chmod(f.dir, 0o755);
    const script = await f.pullScript(join(home, "cache"), [f.pinned("layered")], { runAs: 65534 });
    const { stdout } = await exec(process.execPath, [script], { env: { PATH: process.env["PATH"], HOME: home } });
    const rootfs = /acquired (\S+)/.exec(stdout)?.[1];
    expect(rootfs, stdout).toBeDefined();
    expect((await stat(join(rootfs!, "data/keep.txt"))).uid).toBe(65534);
    expect(await readdir(join(rootfs!, "data/replaced"))).toEqual(["new.txt"]);
    expect(existsSync(join(rootfs!, "data/gone.txt"))).toBe(false);
  });

  it("refuses an unpinned reference", async () => {
    const t = await f.cache();
    expect((await failure(t.cache.acquire(f.pushed["node"]!.reference))).code).toBe("InvalidReference");
  });
});

describe("ImageCache: hostile layers", () => {
  const kinds: HostileKind[] = ["dotdot", "symlink-out", "symlink-relative-out", "hardlink-out", "device"];
  it.each(kinds)("refuses a layer with %s entries, leaves nothing in the cache and writes nothing outside", async (kind) => {
    await rm(`/tmp/nimbus-escaped-${kind}`, { force: true });
    const image = await f.images.push(await f.images.hostile(kind), { registry: f.open, repository: `hostile/${kind}`, tag: "v1" });
    const t = await f.cache();
    const err = await failure(t.cache.acquire(`${f.open.host}/hostile/${kind}@${image.digest}`));
    expect(err.code).toBe("InvalidImage");
    console.log(`${kind}: ${err.message}`);
    expect(await readdir(t.dir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    for (const name of ["dotdot", "absolute", "symlink", "relative"]) expect(existsSync(`/tmp/nimbus-escaped-${name}`)).toBe(false);
  });
});

describe("ImageCache: absolute entry names", () => {
  it("reads a leading '/' as the image's root, as Docker does: the entry lands inside it, nothing outside", async () => {
    await rm("/tmp/nimbus-escaped-absolute", { force: true });
    const image = await f.images.push(await f.images.hostile("absolute"), { registry: f.open, repository: "hostile/absolute", tag: "v1" });
    const rooted = await f.images.push(
      await f.images.custom("rooted", [[{ path: "/", dir: true }, { path: "/srv", dir: true }, { path: "/srv/hello", content: "hello\n" }]]),
      { registry: f.open, repository: "team/rooted", tag: "v1" },
    );
    const t = await f.cache();
    const absolute = await t.cache.acquire(`${f.open.host}/hostile/absolute@${image.digest}`);
    expect(await readFile(join(absolute.rootfs, "tmp/nimbus-escaped-absolute"), "utf8")).toBe("escaped\n");
    expect(existsSync("/tmp/nimbus-escaped-absolute")).toBe(false);
    const root = await t.cache.acquire(`${f.open.host}/team/rooted@${rooted.digest}`);
    expect(await readFile(join(root.rootfs, "srv/hello"), "utf8")).toBe("hello\n");
  });
});

describe("ImageCache: limits", () => {
  it("refuses an image over maxImageBytes before downloading any layer", async () => {
    const t = await f.cache({ maxImageBytes: 1024 * 1024 });
    const before = blobGets(f.open, "team/node");
    const err = await failure(t.cache.acquire(f.pinned("node")));
    expect(err.code).toBe("TooLarge");
    console.log(`TooLarge: ${err.message}`);
    expect(blobGets(f.open, "team/node")).toBe(before);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it("says CacheFull when the budget cannot hold the image", async () => {
    const t = await f.cache({ maxBytes: 64 * 1024 });
    const err = await failure(t.cache.acquire(f.pinned("node")));
    expect(err.code).toBe("CacheFull");
    console.log(`CacheFull before download: ${err.message}`);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it("evicts the least recently used image no instance uses, and never one in use", async () => {
    const probe = await f.cache();
    const size = (await probe.cache.acquire(f.pinned("lru-a"))).sizeBytes;
    const t = await f.cache({ maxBytes: Math.floor(size * 2.5) });
    const a = await t.cache.acquire(f.pinned("lru-a")); // in use throughout
    const b = await t.cache.acquire(f.pinned("lru-b"));
    t.cache.release(b.digest);
    const c = await t.cache.acquire(f.pinned("lru-c")); // needs room: b (idle) goes, a (in use, older) stays
    const held = t.cache.list().map((i: CachedImage) => i.digest);
    expect(held.sort()).toEqual([a.digest, c.digest].sort());
    expect(existsSync(join(t.dir, b.digest.slice(7)))).toBe(false);
    expect(existsSync(a.rootfs)).toBe(true);
    console.log(`LRU: each marker image takes ${size} bytes, budget ${Math.floor(size * 2.5)}: evicted lru-b, kept lru-a (in use) and lru-c`);

    // With a and c both in use, a fourth image cannot fit: CacheFull, and nothing in use is touched.
    const err = await failure(t.cache.acquire(f.pinned("lru-b")));
    expect(err.code).toBe("CacheFull");
    expect(existsSync(a.rootfs) && existsSync(c.rootfs)).toBe(true);
    t.cache.release(a.digest);
    await t.cache.acquire(f.pinned("lru-b"));
    expect(t.cache.list().map((i) => i.digest).sort()).toEqual([b.digest, c.digest].sort());
    expect(await leftovers(t.dir)).toEqual([]);
  });
});
