import { createWriteStream } from "node:fs";
import { chmod, mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { walkZip } from "@nimbus/archive";
import type { CodeStore } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";

export interface CodeCacheOptions {
  dir: string;
  /** Unpacked packages are evicted (least recently used first) beyond this. */
  maxBytes: number;
  maxUnzippedBytes: number;
}

interface Entry {
  bytes: number;
  lastUsed: number;
  users: number;
}

/**
 * Code packages unpacked on this node's disk, one directory per SHA-256, shared by every instance
 * that runs that code. Concurrent cold starts of the same code unpack it once; unpacking goes to a
 * temporary directory renamed into place, so a crash never leaves a half-unpacked package in use.
 * Files are world-readable (instances run as another, unprivileged uid) and writable only by the
 * invoker's user; inside the sandbox the whole tree is mounted read-only anyway.
 */
export class CodeCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly store: CodeStore,
    private readonly options: CodeCacheOptions,
    private readonly logger: Logger,
  ) {}

  /** Indexes what a previous run left unpacked (it is reused). */
  async init(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    await chmod(this.options.dir, 0o755);
    for (const name of await readdir(this.options.dir)) {
      const path = join(this.options.dir, name);
      if (name.startsWith(".tmp-")) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      const info = await stat(path).catch(() => undefined);
      if (info?.isDirectory()) this.entries.set(name, { bytes: await du(path), lastUsed: info.mtimeMs, users: 0 });
    }
  }

  /** The directory holding this package unpacked, fetching and unpacking it if needed; call release() after. */
  async acquire(sha256: string): Promise<string> {
    const path = join(this.options.dir, sha256);
    let entry = this.entries.get(sha256);
    if (!entry) {
      let pending = this.inflight.get(sha256);
      if (!pending) {
        pending = this.unpack(sha256).finally(() => this.inflight.delete(sha256));
        this.inflight.set(sha256, pending);
      }
      await pending;
      entry = this.entries.get(sha256);
      if (!entry) throw new Error(`code package ${sha256} vanished from the cache`);
    }
    entry.users++;
    entry.lastUsed = Date.now();
    return path;
  }

  release(sha256: string): void {
    const entry = this.entries.get(sha256);
    if (entry) {
      entry.users = Math.max(0, entry.users - 1);
      entry.lastUsed = Date.now();
    }
  }

  private async unpack(sha256: string): Promise<string> {
    const final = join(this.options.dir, sha256);
    const started = Date.now();
    const zip = await this.store.get(sha256);
    if (!zip) throw new Error(`code package ${sha256} is not in the code store`);
    const tmp = join(this.options.dir, `.tmp-${sha256}-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      const summary = await walkZip(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength), { maxUnzippedBytes: this.options.maxUnzippedBytes, maxEntries: 100_000 }, async (entry, content) => {
        const target = join(tmp, entry.path);
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await pipeline(content, createWriteStream(target, { mode: entry.mode & 0o111 ? 0o755 : 0o644 }));
      });
      await rename(tmp, final);
      await utimes(final, new Date(), new Date());
      this.entries.set(sha256, { bytes: summary.unzippedBytes, lastUsed: Date.now(), users: 0 });
      this.logger.debug({ sha256, bytes: summary.unzippedBytes, ms: Date.now() - started }, "code unpacked");
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    await this.evict();
    return final;
  }

  /** Drops least recently used packages nobody runs until the cache is under its limit. */
  private async evict(): Promise<void> {
    let total = [...this.entries.values()].reduce((sum, e) => sum + e.bytes, 0);
    if (total <= this.options.maxBytes) return;
    const candidates = [...this.entries.entries()].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [sha, entry] of candidates) {
      if (total <= this.options.maxBytes) break;
      this.entries.delete(sha);
      total -= entry.bytes;
      await rm(join(this.options.dir, sha), { recursive: true, force: true });
    }
  }
}

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await du(path);
    else total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
