import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { createLogger } from "@nimbus/telemetry";
import { startRegistry, TestImages, type PushedImage, type RegistryServer } from "@nimbus/testkit";
import { expect } from "vitest";
import { ImageCache, type ImageCacheOptions } from "./cache.js";
import { ImageError } from "./errors.js";
import { hostPlatform } from "./platform.js";

// Shared by the ImageCache suites: real registries, test images pushed to them, caches that record
// what they log, and probes of a pull in progress (its staging directory, its skopeo process).

export const exec = promisify(execFile);

/** Registries (one anonymous, one with htpasswd) and the test images pushed to them, in a temp dir. */
export class CacheFixture {
  readonly pushed: Record<string, PushedImage> = {};
  private caches = 0;

  private constructor(
    readonly dir: string,
    readonly open: RegistryServer,
    readonly locked: RegistryServer,
    readonly images: TestImages,
  ) {}

  /** Starts both registries and pushes `team/<key>:v1` for each image `build` returns. */
  static async start(build: (images: TestImages) => Promise<Record<string, { tag: string; locked?: boolean }>>): Promise<CacheFixture> {
    const dir = await mkdtemp(join(tmpdir(), "nimbus-cache-"));
    const [open, locked, images] = await Promise.all([startRegistry(join(dir, "open")), startRegistry(join(dir, "locked"), true), TestImages.open(dir)]);
    const fixture = new CacheFixture(dir, open, locked, images);
    const started = Date.now();
    for (const [key, image] of Object.entries(await build(images))) {
      fixture.pushed[key] = await images.push(image.tag, { registry: image.locked ? locked : open, repository: `team/${key}`, tag: "v1" });
    }
    console.log(`test images built and pushed in ${Date.now() - started} ms`);
    return fixture;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.open.stop(), this.locked.stop()]);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** `registry/repository@digest` of a pushed image. */
  pinned(key: string): string {
    const image = this.pushed[key];
    if (!image) throw new Error(`no pushed image ${key}`);
    return `${image.reference.slice(0, image.reference.lastIndexOf(":"))}@${image.digest}`;
  }

  /** A fresh cache in its own directory (or `dir`), initialized, logging into `messages`. */
  async cache(options: Partial<ImageCacheOptions> & { dir?: string } = {}): Promise<TestCache> {
    const messages: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean)) messages.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    });
    const cacheDir = options.dir ?? join(this.dir, "caches", String(this.caches++));
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

  /** A Node script that runs an ImageCache on `cacheDir` (the built package) and acquires `refs`, printing 'acquired <rootfs>'. */
  async pullScript(cacheDir: string, refs: string[]): Promise<string> {
    const script = join(this.dir, `pull-child-${this.caches++}.mjs`);
    const index = new URL("../dist/index.js", import.meta.url).href;
    await writeFile(
      script,
      `import { ImageCache, hostPlatform } from ${JSON.stringify(index)};
const log = (level) => (fields, msg) => console.log(JSON.stringify({ level, msg, ...fields }));
const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: () => {}, child() { return logger; } };
const cache = new ImageCache({ dir: ${JSON.stringify(cacheDir)}, maxBytes: 1e10, maxImageBytes: 1e10, platform: hostPlatform(), logger,
  access: { insecureRegistries: [], timeoutMs: 60000 } });
await cache.init();
for (const ref of ${JSON.stringify(refs)}) console.log("acquired " + (await cache.acquire(ref)).rootfs);
`,
    );
    await chmod(script, 0o644);
    return script;
  }
}

export interface TestCache {
  cache: ImageCache;
  dir: string;
  /** Messages the cache logged, in order. */
  messages: string[];
}

/** The ImageError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function failure(promise: Promise<unknown>): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

/** How many pulls a cache started. */
export const pulls = (t: TestCache): number => t.messages.filter((m) => m === "image pull started").length;

/** How many blob GETs a registry answered for a repository. */
export const blobGets = (registry: RegistryServer, repository: string): number =>
  registry.requests.filter((r) => r.method === "GET" && r.uri.startsWith(`/v2/${repository}/blobs/`)).length;

/** What is in a cache directory besides finished images (staging and trash left by a pull). */
export async function leftovers(cacheDir: string): Promise<string[]> {
  return (await readdir(cacheDir).catch(() => [])).filter((n) => n.startsWith("."));
}

/** Polls `probe` until it returns something other than undefined/false. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The staging directory of a pull in progress once skopeo has written part of a blob, and how much. */
export async function downloadStarted(cacheDir: string): Promise<{ staging: string; bytes: number }> {
  return waitFor("a pull to start writing blobs", async () => {
    for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
      if (!name.startsWith(".staging-")) continue;
      // Blobs land in the OCI layout's blob dir (a `dir:` download for images with zstd layers).
      for (const download of [join(cacheDir, name, "layout", "blobs", "sha256"), join(cacheDir, name, "download")]) {
        if (!existsSync(download)) continue;
        let bytes = 0;
        for (const file of await readdir(download).catch(() => [] as string[])) {
          if (file !== "version") bytes += (await stat(join(download, file)).catch(() => ({ size: 0 }))).size; // skopeo writes 'version' first
        }
        if (bytes > 0) return { staging: join(cacheDir, name), bytes };
      }
    }
    return undefined;
  });
}

/** Pids of live skopeo processes whose command line mentions `marker`. */
export async function skopeoPids(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (cmdline.includes("skopeo") && cmdline.includes(marker) && !/\) Z /.test(stat)) pids.push(Number(name));
  }
  return pids;
}
