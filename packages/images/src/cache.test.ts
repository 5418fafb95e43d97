import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { createLogger } from "@nimbus/telemetry";
import { LAYERED_EXPECTED, startRegistry, TestImages, writeAuthFile, type HostileKind, type PushedImage, type RegistryServer } from "@nimbus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageCache, type ImageCacheOptions } from "./cache.js";
import { ImageError } from "./errors.js";
import { formatPlatform, hostPlatform } from "./platform.js";
import { MOUNT_DIRS, MOUNT_FILES } from "./rootfs.js";
import type { CachedImage } from "./types.js";

const exec = promisify(execFile);

let dir: string;
let open: RegistryServer;
let locked: RegistryServer;
let images: TestImages;
const pushed: Record<string, PushedImage> = {};

/** `registry/repository@digest` of a pushed image. */
const pinned = (key: string): string => {
  const image = pushed[key];
  if (!image) throw new Error(`no pushed image ${key}`);
  return `${image.reference.slice(0, image.reference.lastIndexOf(":"))}@${image.digest}`;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-cache-"));
  [open, locked, images] = await Promise.all([startRegistry(join(dir, "open")), startRegistry(join(dir, "locked"), true), TestImages.open(dir)]);
  const started = Date.now();
  const push = async (key: string, tag: string, registry = open) => {
    pushed[key] = await images.push(tag, { registry, repository: `team/${key}`, tag: "v1" });
  };
  await push("node", await images.node());
  await push("python", await images.python());
  await push("layered", await images.layered());
  await push("multi", await images.multiArch());
  await push("foreign", (await images.foreignOnly()).tag);
  await push("private", await images.marker("private", "private"), locked);
  for (const name of ["a", "b", "c"]) await push(`lru-${name}`, await images.marker(`lru-${name}`, `lru ${name}`));
  console.log(`test images built and pushed in ${Date.now() - started} ms`);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([open?.stop(), locked?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

interface TestCache {
  cache: ImageCache;
  dir: string;
  /** Messages the cache logged, in order. */
  messages: string[];
}

let caches = 0;
async function newCache(options: Partial<ImageCacheOptions> & { dir?: string } = {}): Promise<TestCache> {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) messages.push((JSON.parse(line) as { msg: string }).msg);
      done();
    },
  });
  const cacheDir = options.dir ?? join(dir, "caches", String(caches++));
  const cache = new ImageCache({
    dir: cacheDir,
    maxBytes: 10 * 1024 * 1024 * 1024,
    maxImageBytes: 2 * 1024 * 1024 * 1024,
    access: { insecureRegistries: [], timeoutMs: 20_000 },
    platform: hostPlatform(),
    logger: createLogger({ service: "test", destination: sink, level: "debug" }),
    ...options,
  });
  await cache.init();
  return { cache, dir: cacheDir, messages };
}

async function failure(promise: Promise<unknown>): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

const pulls = (t: TestCache) => t.messages.filter((m) => m === "image pull started").length;
const blobGets = (registry: RegistryServer, repository: string) =>
  registry.requests.filter((r) => r.method === "GET" && r.uri.startsWith(`/v2/${repository}/blobs/`)).length;

/** What is in a cache directory besides finished images (staging and trash left by a pull). */
async function leftovers(cacheDir: string): Promise<string[]> {
  return (await readdir(cacheDir).catch(() => [])).filter((n) => n.startsWith("."));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The staging directory of a pull in progress once skopeo has written part of a blob, and how much. */
async function downloadStarted(cacheDir: string): Promise<{ staging: string; bytes: number }> {
  return waitFor("a pull to start writing blobs", async () => {
    for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
      const download = join(cacheDir, name, "download");
      if (!name.startsWith(".staging-") || !existsSync(download)) continue;
      let bytes = 0;
      for (const file of await readdir(download).catch(() => [] as string[])) {
        if (file !== "version") bytes += (await stat(join(download, file)).catch(() => ({ size: 0 }))).size; // skopeo writes 'version' first
      }
      if (bytes > 0) return { staging: join(cacheDir, name), bytes };
    }
    return undefined;
  });
}

/** Pids of live skopeo processes whose command line mentions `marker`. */
async function skopeoPids(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (cmdline.includes("skopeo") && cmdline.includes(marker) && !/\) Z /.test(stat)) pids.push(Number(name));
  }
  return pids;
}

describe("ImageCache: pulling and unpacking real images", () => {
  it("pulls the Node.js image anonymously into a rootfs with its config, mount points and meta.json, and it runs", async () => {
    const t = await newCache();
    const started = Date.now();
    const image = await t.cache.acquire(pinned("node"));
    console.log(`node image: pulled and unpacked in ${Date.now() - started} ms, ${image.sizeBytes} bytes on disk`);
    expect(image.digest).toBe(pushed["node"]!.digest);
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
    expect(meta).toMatchObject({ digest: image.digest, references: [pinned("node")], manifestDigest: image.manifestDigest, sizeBytes: image.sizeBytes });
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

  it("pulls the Python image (Docker's layout of a trimmed stdlib) and its interpreter imports http.server", async () => {
    const t = await newCache();
    const image = await t.cache.acquire(pinned("python"));
    expect(image.config.entrypoint).toEqual(["/usr/bin/python3", "-S", "-u", "/app/server.py"]);
    if (process.getuid?.() === 0) {
      const { stdout } = await exec("chroot", [image.rootfs, "/usr/bin/python3", "-S", "-c", "import http.server, json; print('ok')"]);
      expect(stdout.trim()).toBe("ok");
    }
  });

  it("applies whiteouts and an opaque directory as the layers say", async () => {
    const t = await newCache();
    const image = await t.cache.acquire(pinned("layered"));
    for (const [path, content] of Object.entries(LAYERED_EXPECTED.present)) expect(await readFile(join(image.rootfs, path), "utf8"), path).toBe(content);
    for (const path of LAYERED_EXPECTED.absent) expect(existsSync(join(image.rootfs, path)), path).toBe(false);
    expect(await readdir(join(image.rootfs, "data/replaced"))).toEqual(["new.txt"]);
    expect((await readdir(join(image.rootfs, "data"))).filter((n) => n.startsWith(".wh."))).toEqual([]);
  });

  it("unpacks this node's platform from an index, and refuses an index without it", async () => {
    const t = await newCache();
    const image = await t.cache.acquire(pinned("multi"));
    const marker = (await readFile(join(image.rootfs, "etc/marker"), "utf8")).trim();
    expect(marker).toBe(formatPlatform(hostPlatform()));
    expect(image.manifestDigest).not.toBe(image.digest);
    const err = await failure(t.cache.acquire(pinned("foreign")));
    expect(err.code).toBe("NoMatchingPlatform");
    console.log(`foreign-only index: ${err.message}`);
  });

  it("pulls from a registry with htpasswd only with the right credentials", async () => {
    const without = await newCache();
    expect((await failure(without.cache.acquire(pinned("private")))).code).toBe("Unauthorized");
    expect(await leftovers(without.dir)).toEqual([]);
    const wrong = await newCache({ access: { insecureRegistries: [], timeoutMs: 20_000, authFile: await writeAuthFile(join(dir, "wrong.json"), [{ host: locked.host, credentials: "nimbus:nope" }]) } });
    expect((await failure(wrong.cache.acquire(pinned("private")))).code).toBe("Unauthorized");
    const right = await newCache({ access: { insecureRegistries: [], timeoutMs: 20_000, authFile: await writeAuthFile(join(dir, "right.json"), [locked]) } });
    const image = await right.cache.acquire(pinned("private"));
    expect(await readFile(join(image.rootfs, "etc/marker"), "utf8")).toBe("private\n");
  });

  it("refuses an unpinned reference", async () => {
    const t = await newCache();
    expect((await failure(t.cache.acquire(pushed["node"]!.reference))).code).toBe("InvalidReference");
  });
});

describe("ImageCache: hostile layers", () => {
  const kinds: HostileKind[] = ["dotdot", "absolute", "symlink-out", "symlink-relative-out", "hardlink-out"];
  it.each(kinds)("refuses a layer with %s entries, leaves nothing in the cache and writes nothing outside", async (kind) => {
    await rm(`/tmp/nimbus-escaped-${kind}`, { force: true });
    const image = await images.push(await images.hostile(kind), { registry: open, repository: `hostile/${kind}`, tag: "v1" });
    const t = await newCache();
    const err = await failure(t.cache.acquire(`${open.host}/hostile/${kind}@${image.digest}`));
    expect(err.code).toBe("InvalidImage");
    console.log(`${kind}: ${err.message}`);
    expect(await readdir(t.dir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    for (const name of ["dotdot", "absolute", "symlink", "relative"]) expect(existsSync(`/tmp/nimbus-escaped-${name}`)).toBe(false);
  });
});

describe("ImageCache: limits", () => {
  it("refuses an image over maxImageBytes before downloading any layer", async () => {
    const t = await newCache({ maxImageBytes: 1024 * 1024 });
    const before = blobGets(open, "team/node");
    const err = await failure(t.cache.acquire(pinned("node")));
    expect(err.code).toBe("TooLarge");
    console.log(`TooLarge: ${err.message}`);
    expect(blobGets(open, "team/node")).toBe(before);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it("says CacheFull when the budget cannot hold the image", async () => {
    const t = await newCache({ maxBytes: 64 * 1024 });
    const err = await failure(t.cache.acquire(pinned("node")));
    expect(err.code).toBe("CacheFull");
    console.log(`CacheFull before download: ${err.message}`);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it("evicts the least recently used image no instance uses, and never one in use", async () => {
    const probe = await newCache();
    const size = (await probe.cache.acquire(pinned("lru-a"))).sizeBytes;
    const t = await newCache({ maxBytes: Math.floor(size * 2.5) });
    const a = await t.cache.acquire(pinned("lru-a")); // in use throughout
    const b = await t.cache.acquire(pinned("lru-b"));
    t.cache.release(b.digest);
    const c = await t.cache.acquire(pinned("lru-c")); // needs room: b (idle) goes, a (in use, older) stays
    const held = t.cache.list().map((i: CachedImage) => i.digest);
    expect(held.sort()).toEqual([a.digest, c.digest].sort());
    expect(existsSync(join(t.dir, b.digest.slice(7)))).toBe(false);
    expect(existsSync(a.rootfs)).toBe(true);
    console.log(`LRU: each marker image takes ${size} bytes, budget ${Math.floor(size * 2.5)}: evicted lru-b, kept lru-a (in use) and lru-c`);

    // With a and c both in use, a fourth image cannot fit: CacheFull, and nothing in use is touched.
    const err = await failure(t.cache.acquire(pinned("lru-b")));
    expect(err.code).toBe("CacheFull");
    expect(existsSync(a.rootfs) && existsSync(c.rootfs)).toBe(true);
    t.cache.release(a.digest);
    await t.cache.acquire(pinned("lru-b"));
    expect(t.cache.list().map((i) => i.digest).sort()).toEqual([b.digest, c.digest].sort());
    expect(await leftovers(t.dir)).toEqual([]);
  });
});

describe("ImageCache: concurrency and restarts", () => {
  it("coalesces concurrent acquires of one image into one pull", async () => {
    const t = await newCache();
    const before = blobGets(open, "team/layered");
    const acquired = await Promise.all(Array.from({ length: 5 }, () => t.cache.acquire(pinned("layered"))));
    expect(new Set(acquired.map((i) => i.rootfs)).size).toBe(1);
    expect(pulls(t)).toBe(1);
    const layerGets = blobGets(open, "team/layered") - before;
    console.log(`5 concurrent acquires: ${pulls(t)} pull, ${layerGets} blob GETs (3 layers + config)`);
    expect(layerGets).toBeLessThanOrEqual(5);
    expect(t.cache.list()[0]?.inUse).toBe(5);
  });

  it("keeps what it pulled across a restart (init indexes it) and pulls nothing again", async () => {
    const first = await newCache();
    const image = await first.cache.acquire(pinned("layered"));
    const second = await newCache({ dir: first.dir });
    expect(second.cache.list()).toEqual([expect.objectContaining({ digest: image.digest, inUse: 0, references: [pinned("layered")] })]);
    expect((await second.cache.acquire(pinned("layered"))).rootfs).toBe(image.rootfs);
    expect(pulls(second)).toBe(0);
  });

  it("prepulls in the background without marking the image in use", async () => {
    const pulled: CachedImage[] = [];
    const t = await newCache({ onPulled: (i) => pulled.push(i) });
    const cached = await t.cache.prepull(pinned("lru-a"));
    expect(cached).toMatchObject({ digest: pushed["lru-a"]!.digest, inUse: 0 });
    expect(pulled.map((i) => i.digest)).toEqual([pushed["lru-a"]!.digest]);
    expect(await t.cache.prepull(`${open.host}/team/nothing@sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(t.messages).toContain("image pre-pull failed");
  });

  it("fails a pull whose skopeo is killed mid-download, leaves nothing usable, and the next acquire pulls again", async () => {
    const t = await newCache();
    const acquiring = t.cache.acquire(pinned("node"));
    const { staging, bytes } = await downloadStarted(t.dir);
    open.pause(); // hold the download where it is
    console.log(`skopeo had written ${bytes} bytes when the registry was frozen`);
    try {
      const [pid] = await waitFor("skopeo copy to run", async () => {
        const pids = await skopeoPids(staging);
        return pids.length > 0 ? pids : undefined;
      });
      process.kill(pid!, "SIGKILL");
      const err = await failure(acquiring);
      expect(err.code).toBe("Unavailable");
      console.log(`skopeo killed mid-download: ${err.message}`);
    } finally {
      open.resume();
    }
    expect(await leftovers(t.dir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    const image = await t.cache.acquire(pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(pulls(t)).toBe(2);
  });

  it("fails Unavailable when the registry freezes mid-download, after timeoutMs without progress", async () => {
    const t = await newCache({ access: { insecureRegistries: [], timeoutMs: 2_000 } });
    const acquiring = t.cache.acquire(pinned("node"));
    const { bytes } = await downloadStarted(t.dir);
    open.pause();
    const started = Date.now();
    console.log(`skopeo had written ${bytes} bytes when the registry was frozen`);
    try {
      const err = await failure(acquiring);
      expect(err.code).toBe("Unavailable");
      expect(err.message).toMatch(/no progress for 2000 ms/);
      console.log(`registry frozen mid-download: Unavailable ${Date.now() - started} ms after the freeze (timeoutMs 2000)`);
    } finally {
      open.resume();
    }
    expect(await leftovers(t.dir)).toEqual([]);
    expect(existsSync(join((await t.cache.acquire(pinned("node"))).rootfs, "app/server.js"))).toBe(true);
  });

  it("pulls again and succeeds after the registry restarts mid-pull", async () => {
    const t = await newCache();
    const acquiring = t.cache.acquire(pinned("node"));
    const { bytes } = await downloadStarted(t.dir);
    open.pause(); // stop the transfer where it is, then kill: the registry dies mid-blob
    await open.kill();
    console.log(`skopeo had written ${bytes} bytes when the registry was killed`);
    const outcome = await acquiring.then(
      () => "the pull finished before the registry died",
      (e: ImageError) => `${e.code}: ${e.message}`,
    );
    console.log(`registry killed mid-pull: ${outcome}`);
    expect(outcome).toMatch(/^Unavailable/);
    await open.restart();
    const image = await t.cache.acquire(pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(await leftovers(t.dir)).toEqual([]);
  });

  it("after a SIGKILL of the process pulling, leaves nothing usable; init() cleans up and the next acquire pulls", async () => {
    const cacheDir = join(dir, "caches", "killed");
    const script = join(dir, "pull-child.mjs");
    const index = new URL("../dist/index.js", import.meta.url).href;
    await import("node:fs/promises").then((fs) =>
      fs.writeFile(
        script,
        `import { ImageCache, hostPlatform } from ${JSON.stringify(index)};
const log = (level) => (fields, msg) => console.log(JSON.stringify({ level, msg, ...fields }));
const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: () => {}, child() { return logger; } };
const cache = new ImageCache({ dir: ${JSON.stringify(cacheDir)}, maxBytes: 1e10, maxImageBytes: 1e10, platform: hostPlatform(), logger,
  access: { insecureRegistries: [], timeoutMs: 60000 } });
await cache.init();
await cache.acquire(${JSON.stringify(pinned("node"))});
console.log("acquired");
`,
      ),
    );
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise((r) => child.once("exit", r));
    const { staging, bytes } = await downloadStarted(cacheDir);
    open.pause();
    console.log(`the child's skopeo had written ${bytes} bytes when the registry was frozen and the child killed`);
    try {
      await waitFor("the child's skopeo copy", async () => ((await skopeoPids(staging)).length > 0 ? true : undefined));
      child.kill("SIGKILL");
      await exited;
      // skopeo dies with it (setpriv --pdeathsig), so nothing keeps writing into the cache.
      await waitFor("the orphaned skopeo to die", async () => ((await skopeoPids(staging)).length === 0 ? true : undefined), 10_000);
    } finally {
      open.resume();
    }
    expect(output).not.toContain("acquired");
    const left = await leftovers(cacheDir);
    console.log(`after SIGKILL mid-pull, the cache dir holds: ${left.join(", ")}`);
    expect(left.length).toBe(1);

    const t = await newCache({ dir: cacheDir });
    expect(await leftovers(cacheDir)).toEqual([]);
    expect(t.cache.list()).toEqual([]);
    const image = await t.cache.acquire(pinned("node"));
    expect(existsSync(join(image.rootfs, "usr/local/bin/node"))).toBe(true);
    expect(pulls(t)).toBe(1);
  });
});
