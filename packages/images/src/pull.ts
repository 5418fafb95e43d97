import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageError } from "./errors.js";
import { checkLayers } from "./layers.js";
import { MediaTypes, parseImageConfig, parseManifest, sha256Digest, type Descriptor, type ImageConfig } from "./manifest.js";
import { formatPlatform, normalizePlatform, selectPlatform } from "./platform.js";
import { pinnedReference, skopeoReference } from "./reference.js";
import { skopeoAccessFlags, skopeoError } from "./registry.js";
import { Deadline, fetchManifest } from "./resolve.js";
import { diskUsage, prepareRootfs } from "./rootfs.js";
import { runTool } from "./tools.js";
import type { ImageReference, Platform, RegistryAccess } from "./types.js";

/** umoci unpack gets the registry timeout plus this long per byte of layers (at least 8 MiB/s). */
const UNPACK_MIN_BYTES_PER_MS = (8 * 1024 * 1024) / 1000;

export interface PullOptions {
  access: RegistryAccess;
  platform: Platform;
  maxImageBytes: number;
  /** An empty directory of the cache's to work in; the root filesystem ends up in `<staging>/rootfs`. */
  staging: string;
  /** Called with the image's layer bytes (as the registry sizes them) before anything is downloaded; throws to stop. */
  reserve: (bytes: number) => Promise<void>;
  /** Called as the pull moves on (for logs). */
  onPhase?: (phase: PullPhase, fields: Record<string, unknown>) => void;
}

export type PullPhase = "manifest" | "download" | "check" | "unpack" | "prepare";

/** A pulled image in its staging directory. */
export interface PulledImage {
  manifestDigest: string;
  platform: Platform;
  config: ImageConfig;
  /** What the registry says the config and layers weigh (compressed). */
  downloadBytes: number;
  /** The root filesystem's bytes on disk. */
  sizeBytes: number;
}

/**
 * Pulls an image pinned by digest into `staging`: picks this node's manifest, refuses an image over
 * `maxImageBytes` before downloading a byte of it, copies it with `skopeo copy --dest-decompress`
 * (skopeo checks every blob against its digest), checks each uncompressed layer against the
 * config's diff_ids and for paths out of the root, unpacks it with `umoci unpack` into an OCI
 * layout written here, and readies the root for the sandbox. Nothing outside `staging` is touched.
 */
export async function pullImage(ref: ImageReference & { digest: string }, options: PullOptions): Promise<PulledImage> {
  const { access, staging } = options;
  const what = `image ${pinnedReference(ref, ref.digest)}`;
  const deadline = new Deadline(access.timeoutMs);
  options.onPhase?.("manifest", {});
  const top = await fetchManifest(ref, access, deadline);
  let image = top;
  let platform: Platform | undefined;
  if (top.manifest.kind === "index") {
    const chosen = selectPlatform(top.manifest.manifests, options.platform);
    platform = chosen.platform;
    image = await fetchManifest(ref, access, deadline, chosen.digest);
  }
  if (image.manifest.kind !== "image") throw new ImageError("InvalidImage", `${what}: an index inside an index is not supported`);
  const { config: configDescriptor, layers } = image.manifest;

  const downloadBytes = configDescriptor.size + layers.reduce((sum, l) => sum + l.size, 0);
  if (downloadBytes > options.maxImageBytes) {
    throw new ImageError(
      "TooLarge",
      `${what}: its layers take ${downloadBytes} bytes (${layers.length} layers, compressed), over this node's limit of ${options.maxImageBytes} bytes (NIMBUS_MAX_IMAGE_BYTES)`,
    );
  }
  await options.reserve(downloadBytes);

  const download = join(staging, "download");
  await mkdir(download, { recursive: true });
  options.onPhase?.("download", { manifestDigest: image.digest, bytes: downloadBytes, layers: layers.length });
  const copy = await runTool(
    "skopeo",
    ["copy", "--quiet", "--dest-decompress", ...skopeoAccessFlags(ref.registry, access, "src"), skopeoReference(ref, image.digest), `dir:${download}`],
    { timeoutMs: access.timeoutMs, progress: () => bytesIn(download) },
  );
  if (copy.timedOut) throw new ImageError("Unavailable", `${what}: the download made no progress for ${access.timeoutMs} ms (skopeo was stopped)`);
  if (copy.code !== 0) throw skopeoError(copy, what, access.timeoutMs);

  options.onPhase?.("check", {});
  const config = await readDownloaded(download, image.digest, configDescriptor, layers.length, what);
  const wanted = normalizePlatform(platform ?? options.platform);
  const has = normalizePlatform(config.platform);
  if (has.os !== wanted.os || has.architecture !== wanted.architecture) {
    if (platform) throw new ImageError("InvalidImage", `${what}: its ${formatPlatform(platform)} entry is an image for ${formatPlatform(config.platform)}`);
    throw new ImageError("NoMatchingPlatform", `${what} is for ${formatPlatform(config.platform)}, not ${formatPlatform(wanted)}`);
  }
  await checkLayers(config.diffIds.map((diffId) => ({ path: join(download, diffId.slice("sha256:".length)), diffId })));

  options.onPhase?.("unpack", {});
  const layout = await writeLayout(staging, download, configDescriptor, config.diffIds);
  const bundle = join(staging, "bundle");
  const layerBytes = await bytesIn(join(layout, "blobs", "sha256"));
  const rootless = process.getuid?.() !== 0;
  const unpack = await runTool("umoci", ["unpack", ...(rootless ? ["--rootless"] : []), "--image", `${layout}:image`, bundle], {
    timeoutMs: access.timeoutMs + layerBytes / UNPACK_MIN_BYTES_PER_MS,
  });
  if (unpack.code !== 0 || unpack.timedOut) {
    const why = unpack.timedOut ? "took too long" : unpack.stderr.trim().split("\n").at(-1) || `exited with ${unpack.code ?? unpack.signal}`;
    throw new ImageError("InvalidImage", `${what}: umoci could not unpack it: ${why}`);
  }

  options.onPhase?.("prepare", {});
  const rootfs = join(staging, "rootfs");
  await rename(join(bundle, "rootfs"), rootfs);
  await Promise.all([rm(bundle, { recursive: true, force: true }), rm(layout, { recursive: true, force: true }), rm(download, { recursive: true, force: true })]);
  await prepareRootfs(rootfs);
  return { manifestDigest: image.digest, platform: has, config, downloadBytes, sizeBytes: await diskUsage(rootfs) };
}

/** Bytes in the files directly inside `dir` (skopeo's dir: destination is flat; it writes blobs to temp files there). */
async function bytesIn(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [])) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

/**
 * Reads what `skopeo copy` wrote and checks it against what was verified from the registry: the
 * config blob is the one the manifest names (by digest), and the uncompressed layers are named by
 * the config's diff_ids, in order.
 */
async function readDownloaded(download: string, manifestDigest: string, configDescriptor: Descriptor, layerCount: number, what: string): Promise<ImageConfig> {
  const written = parseManifest(await readFile(join(download, "manifest.json")), `${what}: the copied manifest`);
  if (written.kind !== "image" || written.config.digest !== configDescriptor.digest) {
    throw new ImageError("InvalidImage", `${what}: skopeo wrote a manifest for another config than ${manifestDigest} names`);
  }
  const configBytes = await readFile(join(download, configDescriptor.digest.slice("sha256:".length)));
  if (sha256Digest(configBytes) !== configDescriptor.digest) throw new ImageError("InvalidImage", `${what}: its config blob does not match its digest`);
  const config = parseImageConfig(configBytes, `${what}: its config`);
  const copied = written.layers.map((l) => l.digest);
  if (copied.length !== layerCount || copied.some((digest, i) => digest !== config.diffIds[i])) {
    throw new ImageError("InvalidImage", `${what}: its layers do not match the diff_ids of its config (${copied.length} layers, ${config.diffIds.length} diff_ids)`);
  }
  return config;
}

/** An OCI layout over the downloaded blobs (moved, not copied), with one manifest of uncompressed layers tagged `image`. */
async function writeLayout(staging: string, download: string, config: Descriptor, diffIds: string[]): Promise<string> {
  const layout = join(staging, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const layers = [];
  for (const diffId of new Set([config.digest, ...diffIds])) {
    const hex = diffId.slice("sha256:".length);
    await rename(join(download, hex), join(blobs, hex));
  }
  for (const diffId of diffIds) layers.push({ mediaType: MediaTypes.ociLayerTar, digest: diffId, size: (await stat(join(blobs, diffId.slice(7)))).size });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: config.digest, size: config.size },
      layers,
    }),
  );
  const manifestDigest = sha256Digest(manifest);
  await writeFile(join(blobs, manifestDigest.slice(7)), manifest);
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: MediaTypes.ociManifest, digest: manifestDigest, size: manifest.length, annotations: { "org.opencontainers.image.ref.name": "image" } }] };
  await writeFile(join(layout, "index.json"), JSON.stringify(index));
  return layout;
}
