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
  const what = `image ${pinnedReference(ref, ref.digest)}`;
  options.onPhase?.("manifest", {});
  const { image, platform } = await chooseManifest(ref, options, what);
  const downloadBytes = image.config.size + image.layers.reduce((sum, l) => sum + l.size, 0);
  if (downloadBytes > options.maxImageBytes) {
    throw new ImageError(
      "TooLarge",
      `${what}: its layers take ${downloadBytes} bytes (${image.layers.length} layers, compressed), over this node's limit of ${options.maxImageBytes} bytes (NIMBUS_MAX_IMAGE_BYTES)`,
    );
  }
  await options.reserve(downloadBytes);

  options.onPhase?.("download", { manifestDigest: image.digest, bytes: downloadBytes, layers: image.layers.length });
  const download = await copyImage(ref, image.digest, options, what);

  options.onPhase?.("check", {});
  const config = await readDownloaded(download, image.digest, image.config, image.layers.length, what);
  const has = normalizePlatform(config.platform);
  const wanted = normalizePlatform(platform ?? options.platform);
  if (has.os !== wanted.os || has.architecture !== wanted.architecture) {
    if (platform) throw new ImageError("InvalidImage", `${what}: its ${formatPlatform(platform)} entry is an image for ${formatPlatform(config.platform)}`);
    throw new ImageError("NoMatchingPlatform", `${what} is for ${formatPlatform(config.platform)}, not ${formatPlatform(wanted)}`);
  }
  await checkLayers(config.diffIds.map((diffId) => ({ path: join(download, diffId.slice("sha256:".length)), diffId })));

  options.onPhase?.("unpack", {});
  const rootfs = await unpack(options.staging, download, image.config, config.diffIds, options.access.timeoutMs, what);
  options.onPhase?.("prepare", {});
  await prepareRootfs(rootfs);
  return { manifestDigest: image.digest, platform: has, config, downloadBytes, sizeBytes: await diskUsage(rootfs) };
}

/** The image manifest to pull: the reference's own, or this node's entry of its index (and that entry's platform). */
async function chooseManifest(
  ref: ImageReference & { digest: string },
  options: PullOptions,
  what: string,
): Promise<{ image: { digest: string; config: Descriptor; layers: Descriptor[] }; platform?: Platform }> {
  const deadline = new Deadline(options.access.timeoutMs);
  const top = await fetchManifest(ref, options.access, deadline);
  if (top.manifest.kind === "image") return { image: { digest: top.digest, ...top.manifest } };
  const chosen = selectPlatform(top.manifest.manifests, options.platform);
  const entry = await fetchManifest(ref, options.access, deadline, chosen.digest);
  if (entry.manifest.kind !== "image") throw new ImageError("InvalidImage", `${what}: an index inside an index is not supported`);
  return { image: { digest: entry.digest, ...entry.manifest }, platform: chosen.platform };
}

/**
 * `skopeo copy --dest-decompress` of one manifest (by its digest) into `<staging>/download`, a
 * flat `dir:` layout of plain tars named by their diff_ids. Stopped once no bytes have arrived for
 * the registry timeout, so a large image is not cut off while a stalled one is.
 */
async function copyImage(ref: ImageReference, manifestDigest: string, options: PullOptions, what: string): Promise<string> {
  const download = join(options.staging, "download");
  await mkdir(download, { recursive: true });
  const { access } = options;
  const copy = await runTool(
    "skopeo",
    ["copy", "--quiet", "--dest-decompress", ...skopeoAccessFlags(ref.registry, access, "src"), skopeoReference(ref, manifestDigest), `dir:${download}`],
    { timeoutMs: access.timeoutMs, progress: () => bytesIn(download) },
  );
  if (copy.timedOut) throw new ImageError("Unavailable", `${what}: the download made no progress for ${access.timeoutMs} ms (skopeo was stopped)`);
  if (copy.code !== 0) throw skopeoError(copy, what, access.timeoutMs);
  return download;
}

/** `umoci unpack` (rootless unless we are root) of the checked layers; returns `<staging>/rootfs` and removes everything else. */
async function unpack(staging: string, download: string, config: Descriptor, diffIds: string[], timeoutMs: number, what: string): Promise<string> {
  const layout = await writeLayout(staging, download, config, diffIds);
  const bundle = join(staging, "bundle");
  const layerBytes = await bytesIn(join(layout, "blobs", "sha256"));
  const rootless = process.getuid?.() !== 0;
  const result = await runTool("umoci", ["unpack", ...(rootless ? ["--rootless"] : []), "--image", `${layout}:image`, bundle], {
    timeoutMs: timeoutMs + layerBytes / UNPACK_MIN_BYTES_PER_MS,
  });
  if (result.timedOut) throw new ImageError("Unavailable", `${what}: umoci did not finish unpacking ${layerBytes} bytes of layers in time (a slow or busy disk)`);
  if (result.code !== 0) {
    const said = result.stderr.trim().split("\n").at(-1)?.replace(/^\W+/, "") || `exited with ${result.code ?? result.signal}`;
    throw new ImageError("InvalidImage", `${what}: umoci could not unpack it: ${said}`);
  }
  const rootfs = join(staging, "rootfs");
  await rename(join(bundle, "rootfs"), rootfs);
  await Promise.all([bundle, layout, download].map((path) => rm(path, { recursive: true, force: true })));
  return rootfs;
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
