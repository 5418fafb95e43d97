import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
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

/**
 * A TCP proxy of the test's own in front of a registry, passing what the registry sends at most at
 * `bytesPerSecond`: a pull through it takes seconds, so a fault injected "mid-download" lands
 * mid-blob however fast the machine (the registry itself serves 40 MB in a fraction of a second).
 */
export class ThrottledProxy {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number, bytesPerSecond: number): Promise<ThrottledProxy> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(upstreamPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.pipe(upstream);
      // Registry → client, in 50 ms slices of the rate.
      const slice = bytesPerSecond / 20;
      let sent = 0;
      let window = Date.now();
      upstream.on("data", (chunk: Buffer) => {
        client.write(chunk);
        sent += chunk.length;
        if (sent < slice) return;
        const wait = Math.max(0, window + 50 - Date.now());
        sent = 0;
        upstream.pause();
        setTimeout(() => {
          window = Date.now();
          upstream.resume();
        }, wait);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new ThrottledProxy(server, (server.address() as AddressInfo).port);
    for (const s of sockets) proxy.sockets.add(s);
    return proxy;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Registries (one anonymous, one with htpasswd) and the test images pushed to them, in a temp dir. */
export class CacheFixture {
  readonly pushed: Record<string, PushedImage> = {};
  private caches = 0;
  private throttled: ThrottledProxy | undefined;

  private constructor(
    readonly dir: string,
    readonly open: RegistryServer,
    readonly locked: RegistryServer,
    readonly images: TestImages,
  ) {}

  /**
   * `pinned(key)` through a proxy that serves the open registry at 10 MB/s (a 40 MB layer takes
   * about four seconds): for faults that must land in the middle of a download.
   */
  async slowPinned(key: string): Promise<string> {
    this.throttled ??= await ThrottledProxy.start(Number(this.open.host.split(":").at(-1)), 10 * 1024 * 1024);
    return this.pinned(key).replace(this.open.host, this.throttled.host);
  }

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
    await this.throttled?.stop();
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
  async pullScript(cacheDir: string, refs: string[], options: { runAs?: number } = {}): Promise<string> {
    const script = join(this.dir, `pull-child-${this.caches++}.mjs`);
    const index = new URL("../dist/index.js", import.meta.url).href;
    // Dropped once the modules are loaded: the checkout may sit where that user cannot read (mktemp -d).
    const drop = options.runAs === undefined ? "" : `process.setgroups([]); process.setgid(${options.runAs}); process.setuid(${options.runAs});\n`;
    await writeFile(
      script,
      `import { ImageCache, hostPlatform } from ${JSON.stringify(index)};
${drop}const log = (level) => (fields, msg) => console.log(JSON.stringify({ level, msg, ...fields }));
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
      // skopeo streams a blob into a temp file at the OCI layout's top (a `dir:` download for images with zstd layers).
      for (const download of [join(cacheDir, name, "layout"), join(cacheDir, name, "download")]) {
        if (!existsSync(download)) continue;
        let bytes = 0;
        for (const file of await readdir(download).catch(() => [] as string[])) {
          if (!/^(version|oci-layout|index\.json|blobs)$/.test(file)) bytes += (await stat(join(download, file)).catch(() => ({ size: 0 }))).size; // skopeo writes these first
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
