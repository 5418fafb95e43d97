import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@nimbus/telemetry";
import { z } from "zod";
import { ImageError } from "./errors.js";
import { pullImage } from "./pull.js";
import { formatReference, parseImageReference } from "./reference.js";
import type { CachedImage, ImageRunConfig, Platform, RegistryAccess, UnpackedImage } from "./types.js";

export interface ImageCacheOptions {
  /** The node's cache directory; one cache (one invoker) per directory. */
  dir: string;
  /** Unpacked images are evicted (least recently used first, never one in use) to stay within this (NIMBUS_IMAGE_CACHE_BYTES). */
  maxBytes: number;
  /** An image whose layers weigh more is refused before it is downloaded (NIMBUS_MAX_IMAGE_BYTES). */
  maxImageBytes: number;
  access: RegistryAccess;
  /** This node's platform (hostPlatform()). */
  platform: Platform;
  logger: Logger;
  /** Called when an image has been pulled and is in the cache (the invoker announces it). */
  onPulled?: (image: CachedImage) => void;
}

const STAGING = ".staging-";
const TRASH = ".trash-";
const META = "meta.json";
/** An image's last use is saved at most this often (LRU order after a restart is approximate by as much). */
const SAVE_LAST_USE_MS = 60_000;

const metaSchema = z.object({
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  references: z.array(z.string()),
  manifestDigest: z.string(),
  config: z.object({ entrypoint: z.array(z.string()), cmd: z.array(z.string()), env: z.array(z.string()), workingDir: z.string(), user: z.string() }),
  sizeBytes: z.number().int().nonnegative(),
  lastUsed: z.string(),
});
type Meta = z.infer<typeof metaSchema>;

interface Entry {
  meta: Meta;
  lastUsed: number;
  inUse: number;
  /** The last use meta.json holds. */
  savedLastUse: number;
  /** meta.json is being written, or has a change to save (a new reference). */
  saving?: boolean;
  unsaved?: boolean;
}

/**
 * The images of one invoker node, unpacked by digest under `dir/<hex>` and shared by every
 * function and version that runs them. Concurrent acquires of one image pull it once. A pull
 * works in `dir/.staging-*` and appears under its final name by one rename, with its meta.json
 * inside, so an image interrupted at any point (even by SIGKILL) is never used: `init()` removes
 * what is left and the next acquire pulls again. Images no instance uses are evicted, least
 * recently used first, to keep within `maxBytes`.
 */
export class ImageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly reserved = new Map<string, number>();
  /** Images being removed (renamed to trash, then deleted), by digest hex. */
  private readonly evicting = new Map<string, Promise<void>>();

  constructor(private readonly options: ImageCacheOptions) {}

  /** Creates the directory, removes what an interrupted pull or eviction left, and indexes the images already there. */
  async init(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    await chmod(this.options.dir, 0o755); // instances run as another uid and must reach their root under it
    for (const name of await readdir(this.options.dir)) {
      const path = join(this.options.dir, name);
      if (name.startsWith(STAGING) || name.startsWith(TRASH)) {
        this.options.logger.info({ path }, "removing an interrupted image pull");
        await rm(path, { recursive: true, force: true });
        continue;
      }
      const meta = await readMeta(path);
      if (!meta || meta.digest !== `sha256:${name}`) {
        this.options.logger.warn({ path }, "removing an image directory without a valid meta.json");
        await rm(path, { recursive: true, force: true });
        continue;
      }
      const lastUsed = Date.parse(meta.lastUsed) || 0;
      this.entries.set(name, { meta, lastUsed, inUse: 0, savedLastUse: lastUsed });
    }
  }

  /**
   * The image `pinnedRef` (`registry/repository@sha256:…`) unpacked and ready, pulling it first if
   * this node does not have it; it counts as in use (never evicted) until release().
   */
  async acquire(pinnedRef: string): Promise<UnpackedImage> {
    const entry = await this.ensure(pinnedRef, true);
    this.touch(entry);
    return this.unpacked(entry);
  }

  /** One instance stopped using the image. */
  release(digest: string): void {
    const entry = this.entries.get(hexOf(digest));
    if (!entry) return;
    entry.inUse = Math.max(0, entry.inUse - 1);
    entry.lastUsed = Date.now();
  }

  /**
   * Pulls the image in the background (FC's accelerationType Default) without marking it in use.
   * Never rejects: a failure is logged and resolves undefined.
   */
  async prepull(pinnedRef: string): Promise<CachedImage | undefined> {
    try {
      const entry = await this.ensure(pinnedRef, false);
      this.touch(entry);
      return this.describe(entry);
    } catch (err) {
      this.options.logger.warn({ image: pinnedRef, err, code: (err as ImageError).code }, "image pre-pull failed");
      return undefined;
    }
  }

  /** What the cache holds (for `nimbus images`). */
  list(): CachedImage[] {
    return [...this.entries.values()].map((e) => this.describe(e));
  }

  /** The image's entry, pulled if needed (one pull per digest at a time); counted in use at once when `use`. */
  private async ensure(pinnedRef: string, use: boolean): Promise<Entry> {
    const ref = parseImageReference(pinnedRef);
    if (ref.digest === undefined) {
      throw new ImageError("InvalidReference", `image reference '${pinnedRef}' is not pinned: nodes pull by digest (registry/repository@sha256:…)`);
    }
    const digest = ref.digest;
    const reference = formatReference({ registry: ref.registry, repository: ref.repository, digest });
    const hex = hexOf(digest);
    for (let attempt = 1; ; attempt++) {
      let entry = this.entries.get(hex);
      if (!entry) {
        let pending = this.inflight.get(hex);
        if (!pending) {
          pending = this.pull({ ...ref, digest }, reference).finally(() => this.inflight.delete(hex));
          this.inflight.set(hex, pending);
        }
        entry = await pending;
      }
      // Another pull may have evicted it while this one waited its turn; it is only ours once counted.
      if (this.entries.get(hex) === entry) {
        if (use) entry.inUse++;
        if (!entry.meta.references.includes(reference)) {
          entry.meta.references.push(reference);
          entry.unsaved = true;
        }
        return entry;
      }
      if (attempt >= 3) throw new ImageError("CacheFull", `image ${reference} was evicted again before it could be used: the image cache (NIMBUS_IMAGE_CACHE_BYTES) is too small for the images in demand`);
    }
  }

  private async pull(ref: Parameters<typeof pullImage>[0], reference: string): Promise<Entry> {
    const hex = hexOf(ref.digest);
    const staging = join(this.options.dir, `${STAGING}${hex}-${randomBytes(4).toString("hex")}`);
    const started = Date.now();
    const log = this.options.logger.child({ image: reference });
    log.info({ digest: ref.digest }, "image pull started");
    await mkdir(staging, { mode: 0o700 });
    try {
      const pulled = await pullImage(ref, {
        access: this.options.access,
        platform: this.options.platform,
        maxImageBytes: this.options.maxImageBytes,
        staging,
        reserve: (bytes) => this.reserve(staging, bytes, reference),
        onPhase: (phase, fields) => log.debug({ phase, ...fields }, "image pull phase"),
      });
      this.reserved.delete(staging);
      await this.makeRoom(pulled.sizeBytes, reference, staging);
      const meta: Meta = {
        digest: ref.digest,
        references: [reference],
        manifestDigest: pulled.manifestDigest,
        config: pulled.config.run,
        sizeBytes: pulled.sizeBytes,
        lastUsed: new Date().toISOString(),
      };
      await writeFile(join(staging, META), JSON.stringify(meta, null, 2));
      await chmod(staging, 0o755);
      const final = join(this.options.dir, hex);
      await this.evicting.get(hex); // an earlier copy of this image on its way out must be gone first
      await rm(final, { recursive: true, force: true }); // not indexed, so nothing uses it (a crash between rename and index)
      await rename(staging, final);
      const entry: Entry = { meta, lastUsed: Date.now(), inUse: 0, savedLastUse: Date.now() };
      this.reserved.delete(staging);
      this.entries.set(hex, entry);
      log.info({ digest: ref.digest, manifestDigest: pulled.manifestDigest, downloadBytes: pulled.downloadBytes, sizeBytes: pulled.sizeBytes, ms: Date.now() - started }, "image pulled");
      this.options.onPulled?.(this.describe(entry));
      return entry;
    } catch (err) {
      log.warn({ digest: ref.digest, err, code: (err as ImageError).code, ms: Date.now() - started }, "image pull failed");
      throw err;
    } finally {
      this.reserved.delete(staging);
      await rm(staging, { recursive: true, force: true }).catch((err: unknown) => log.error({ err, staging }, "could not remove an image staging directory"));
    }
  }

  /** Holds room for a pull in progress (its download size) so that concurrent pulls do not both count on the same free bytes. */
  private async reserve(staging: string, bytes: number, reference: string): Promise<void> {
    await this.makeRoom(bytes, reference, staging);
  }

  /**
   * Evicts least recently used images no instance uses until `bytes` more fit and reserves them
   * for `holder` (a staging directory), or throws CacheFull (evicting nothing). Choosing and
   * reserving happen before any await, so concurrent pulls never count on the same bytes. Evicted
   * images leave the index at once; their directories are renamed out of the way (`.trash-*`,
   * removed by init() if we die first) before being deleted.
   */
  private async makeRoom(bytes: number, reference: string, holder: string): Promise<void> {
    let room = this.options.maxBytes - this.used();
    if (room >= bytes) {
      this.reserved.set(holder, bytes);
      return;
    }
    const idle = [...this.entries.entries()].filter(([, e]) => e.inUse === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    const victims: [string, Entry][] = [];
    for (const candidate of idle) {
      if (room >= bytes) break;
      victims.push(candidate);
      room += candidate[1].meta.sizeBytes;
    }
    if (room < bytes) {
      const inUse = [...this.entries.values()].filter((e) => e.inUse > 0).reduce((sum, e) => sum + e.meta.sizeBytes, 0);
      const pulling = [...this.reserved.values()].reduce((sum, b) => sum + b, 0);
      throw new ImageError(
        "CacheFull",
        `the image cache cannot make room for ${reference} (${bytes} bytes): its budget is ${this.options.maxBytes} bytes (NIMBUS_IMAGE_CACHE_BYTES), of which ${inUse} bytes are images in use and ${pulling} bytes pulls in progress`,
      );
    }
    this.reserved.set(holder, bytes);
    for (const [hex, entry] of victims) {
      this.entries.delete(hex);
      this.options.logger.info({ digest: entry.meta.digest, sizeBytes: entry.meta.sizeBytes, lastUsed: new Date(entry.lastUsed).toISOString() }, "image evicted");
      const trash = join(this.options.dir, `${TRASH}${hex}-${randomBytes(4).toString("hex")}`);
      const removal = rename(join(this.options.dir, hex), trash)
        .then(() => rm(trash, { recursive: true, force: true }))
        .finally(() => this.evicting.delete(hex));
      this.evicting.set(hex, removal.catch((err: unknown) => this.options.logger.error({ err, digest: entry.meta.digest, trash }, "could not remove an evicted image")));
    }
    await Promise.all(victims.map(([hex]) => this.evicting.get(hex)));
  }

  private used(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.meta.sizeBytes;
    for (const bytes of this.reserved.values()) total += bytes;
    return total;
  }

  /**
   * Marks an image used now. Its meta.json is rewritten (one writer at a time) when it gained a
   * reference or its saved last use is over SAVE_LAST_USE_MS old, not on every cold start: a best
   * effort, LRU order after a restart is approximate.
   */
  private touch(entry: Entry): void {
    entry.lastUsed = Date.now();
    if (entry.unsaved || entry.lastUsed - entry.savedLastUse >= SAVE_LAST_USE_MS) this.save(entry);
  }

  private save(entry: Entry): void {
    if (entry.saving) return;
    entry.saving = true;
    entry.unsaved = false;
    const lastUsed = entry.lastUsed;
    entry.meta.lastUsed = new Date(lastUsed).toISOString();
    const dir = join(this.options.dir, hexOf(entry.meta.digest));
    const tmp = join(dir, `${META}.${randomBytes(4).toString("hex")}`);
    void writeFile(tmp, JSON.stringify(entry.meta, null, 2))
      .then(() => rename(tmp, join(dir, META)))
      .then(() => (entry.savedLastUse = lastUsed))
      .catch((err: unknown) => this.options.logger.warn({ err, digest: entry.meta.digest }, "could not save an image's last use"))
      .finally(() => {
        entry.saving = false;
        if (entry.unsaved) this.save(entry); // a reference added meanwhile
      });
  }

  private unpacked(entry: Entry): UnpackedImage {
    const config: ImageRunConfig = entry.meta.config;
    return {
      digest: entry.meta.digest,
      manifestDigest: entry.meta.manifestDigest,
      rootfs: join(this.options.dir, hexOf(entry.meta.digest), "rootfs"),
      config,
      sizeBytes: entry.meta.sizeBytes,
    };
  }

  private describe(entry: Entry): CachedImage {
    return {
      digest: entry.meta.digest,
      references: [...entry.meta.references],
      sizeBytes: entry.meta.sizeBytes,
      lastUsed: new Date(entry.lastUsed).toISOString(),
      inUse: entry.inUse,
    };
  }
}

function hexOf(digest: string): string {
  return digest.startsWith("sha256:") ? digest.slice("sha256:".length) : digest;
}

async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    const parsed = metaSchema.safeParse(JSON.parse(await readFile(join(dir, META), "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
