import { createHash } from "node:crypto";
import { copyFile, link, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@nimbus/telemetry";
import type { CodeCache } from "./cache.js";

interface Entry {
  users: number;
  lastUsed: number;
}

/** Merged layer directories kept when nothing uses them. */
const KEEP_UNUSED = 32;

/**
 * What an instance sees under `/opt`: its function's layers unpacked in order into one directory,
 * a later layer's files replacing an earlier one's (FC's rule). One directory per distinct list of
 * layer packages, built once (files hard-linked from the code cache where the filesystem allows)
 * and shared by every instance with that list.
 */
export class LayerCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly codeCache: CodeCache,
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  async init(): Promise<void> {
    // Directories a previous run built are rebuilt on demand (cheap, and never half-built).
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
  }

  /** The merged directory of these layer packages (SHA-256s, in order); call release() with it after. */
  async acquire(packages: readonly string[]): Promise<string> {
    const name = createHash("sha256").update(packages.join(",")).digest("hex").slice(0, 32);
    const path = join(this.dir, name);
    if (!this.entries.has(name)) {
      let pending = this.inflight.get(name);
      if (!pending) {
        pending = this.build(name, packages).finally(() => this.inflight.delete(name));
        this.inflight.set(name, pending);
      }
      await pending;
    }
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`layer directory ${name} vanished`);
    entry.users++;
    entry.lastUsed = Date.now();
    return path;
  }

  release(path: string): void {
    const entry = this.entries.get(path.slice(this.dir.length + 1));
    if (entry) {
      entry.users = Math.max(0, entry.users - 1);
      entry.lastUsed = Date.now();
    }
  }

  private async build(name: string, packages: readonly string[]): Promise<void> {
    const tmp = join(this.dir, `.tmp-${name}-${Date.now()}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      for (const sha of packages) {
        const source = await this.codeCache.acquire(sha);
        try {
          await merge(source, tmp);
        } finally {
          this.codeCache.release(sha);
        }
      }
      await rename(tmp, join(this.dir, name));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    this.entries.set(name, { users: 0, lastUsed: Date.now() });
    this.logger.debug({ name, layers: packages.length }, "layers merged");
    await this.evict();
  }

  private async evict(): Promise<void> {
    const unused = [...this.entries.entries()].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [name] of unused.slice(0, Math.max(0, unused.length - KEEP_UNUSED))) {
      this.entries.delete(name);
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }
}

/** Copies `from` into `to`, files replacing files (hard links when possible). */
async function merge(from: string, to: string): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      const existing = await stat(target).catch(() => undefined);
      if (existing && !existing.isDirectory()) await rm(target, { force: true });
      await mkdir(target, { recursive: true, mode: 0o755 });
      await merge(source, target);
    } else if (entry.isFile()) {
      await rm(target, { recursive: true, force: true });
      await link(source, target).catch(() => copyFile(source, target));
    }
  }
}
