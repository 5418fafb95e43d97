import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageError } from "./errors.js";
import { checkLayers, type LayerFile } from "./layers.js";
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
 * `maxImageBytes` before downloading a byte of it, copies it with `skopeo copy` (which checks every
 * blob against its digest) into an OCI layout, and then at once unpacks it with `umoci raw unpack`
 * while every layer is checked (its uncompressed content against the config's diff_id, its entries
 * for paths out of the root): the unpacked root is kept only when every check passed. The staging
 * directory is its owner's alone until the cache opens it, so nothing a hostile layer put there is
 * reachable meanwhile. Layers stay compressed as served (gzip), except zstd ones, which umoci 0.4
 * cannot read: skopeo decompresses those. Nothing outside `staging` is touched.
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
  const compressions = image.layers.map((layer) => layerCompression(layer.mediaType, what));
  await options.reserve(downloadBytes);

  options.onPhase?.("download", { manifestDigest: image.digest, bytes: downloadBytes, layers: image.layers.length });
  const decompress = compressions.includes("zstd");
  const layout = decompress ? await copyDecompressed(ref, image, options, what) : await copyLayout(ref, image.digest, options, what);

  options.onPhase?.("check", {});
  const { config, layers } = await readLayout(layout, image.config, image.layers.length, what);
  const has = normalizePlatform(config.platform);
  const wanted = normalizePlatform(platform ?? options.platform);
  if (has.os !== wanted.os || has.architecture !== wanted.architecture) {
    if (platform) throw new ImageError("InvalidImage", `${what}: its ${formatPlatform(platform)} entry is an image for ${formatPlatform(config.platform)}`);
    throw new ImageError("NoMatchingPlatform", `${what} is for ${formatPlatform(config.platform)}, not ${formatPlatform(wanted)}`);
  }
  const files = config.diffIds.map((diffId, i) => ({
    path: join(layout, "blobs", "sha256", (layers[i] as Descriptor).digest.slice("sha256:".length)),
    diffId,
    compression: decompress ? ("none" as const) : (compressions[i] === "gzip" ? ("gzip" as const) : ("none" as const)),
  }));

  options.onPhase?.("unpack", {});
  const rootfs = await unpackChecked(options.staging, layout, files, options.access.timeoutMs, what);
  options.onPhase?.("prepare", {});
  await prepareRootfs(rootfs);
  await rm(layout, { recursive: true, force: true });
  return { manifestDigest: image.digest, platform: has, config, downloadBytes, sizeBytes: await diskUsage(rootfs) };
}

/** How a layer is compressed, from its media type (Docker's and OCI's). */
function layerCompression(mediaType: string, what: string): "gzip" | "zstd" | "none" {
  if (/tar\.gzip$|tar\+gzip$/.test(mediaType)) return "gzip";
  if (/tar\+zstd$/.test(mediaType)) return "zstd";
  if (/\.tar$/.test(mediaType)) return "none";
  throw new ImageError("InvalidImage", `${what}: a layer of media type '${mediaType}' is not one this node can unpack (tar, tar+gzip, tar+zstd)`);
}

/**
 * Unpacks the layout's image into `<staging>/rootfs` with `umoci raw unpack` (rootless unless we
 * are root) while the layers are checked alongside; a failed check stops umoci and fails the pull.
 */
async function unpackChecked(staging: string, layout: string, files: LayerFile[], timeoutMs: number, what: string): Promise<string> {
  const rootfs = join(staging, "rootfs");
  const layerBytes = await bytesIn(join(layout, "blobs", "sha256"));
  const rootless = process.getuid?.() !== 0;
  const stop = new AbortController();
  const unpacking = runTool("umoci", ["raw", "unpack", ...(rootless ? ["--rootless"] : []), "--image", `${layout}:image`, rootfs], {
    timeoutMs: timeoutMs + layerBytes / UNPACK_MIN_BYTES_PER_MS,
    signal: stop.signal,
  });
  try {
    await checkLayers(files);
  } catch (err) {
    stop.abort();
    await unpacking;
    throw err;
  }
  const result = await unpacking;
  if (result.timedOut) throw new ImageError("Unavailable", `${what}: umoci did not finish unpacking ${layerBytes} bytes of layers in time (a slow or busy disk)`);
  if (result.code !== 0) {
    const said = result.stderr.trim().split("\n").at(-1)?.replace(/^\W+/, "") || `exited with ${result.code ?? result.signal}`;
    throw new ImageError("InvalidImage", `${what}: umoci could not unpack it: ${said}`);
  }
  return rootfs;
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
 * `skopeo copy` of one manifest (by its digest) into an OCI layout at `<staging>/layout`, tagged
 * `image`, its layers as the registry serves them. Stopped once no bytes have arrived for the
 * registry timeout, so a large image is not cut off while a stalled one is.
 */
async function copyLayout(ref: ImageReference, manifestDigest: string, options: PullOptions, what: string): Promise<string> {
  const layout = join(options.staging, "layout");
  const { access } = options;
  const copy = await runTool("skopeo", ["copy", "--quiet", ...skopeoAccessFlags(ref.registry, access, "src"), skopeoReference(ref, manifestDigest), `oci:${layout}:image`], {
    timeoutMs: access.timeoutMs,
    // skopeo streams each blob into a temp file at the layout's top, then moves it under blobs/.
    progress: async () => (await bytesIn(layout)) + (await bytesIn(join(layout, "blobs", "sha256"))),
  });
  if (copy.timedOut) throw new ImageError("Unavailable", `${what}: the download made no progress for ${access.timeoutMs} ms (skopeo was stopped)`);
  if (copy.code !== 0) throw skopeoError(copy, what, access.timeoutMs);
  return layout;
}

/**
 * For an image with zstd layers (which umoci 0.4 cannot read): `skopeo copy --dest-decompress`
 * into a flat `dir:` of plain tars named by their diff_ids, then an OCI layout over them (moved, not
 * copied) with one manifest of uncompressed layers tagged `image`.
 */
async function copyDecompressed(ref: ImageReference, image: { digest: string; config: Descriptor }, options: PullOptions, what: string): Promise<string> {
  const download = join(options.staging, "download");
  await mkdir(download, { recursive: true });
  const { access } = options;
  const copy = await runTool(
    "skopeo",
    ["copy", "--quiet", "--dest-decompress", ...skopeoAccessFlags(ref.registry, access, "src"), skopeoReference(ref, image.digest), `dir:${download}`],
    { timeoutMs: access.timeoutMs, progress: () => bytesIn(download) },
  );
  if (copy.timedOut) throw new ImageError("Unavailable", `${what}: the download made no progress for ${access.timeoutMs} ms (skopeo was stopped)`);
  if (copy.code !== 0) throw skopeoError(copy, what, access.timeoutMs);
  const written = parseManifest(await readFile(join(download, "manifest.json")), `${what}: the copied manifest`);
  if (written.kind !== "image") throw new ImageError("InvalidImage", `${what}: skopeo wrote an index where a manifest was expected`);
  const layout = await writeLayout(options.staging, download, image.config, written.layers.map((l) => l.digest));
  await rm(download, { recursive: true, force: true });
  return layout;
}

/** Bytes in the files directly inside `dir` (where skopeo writes blobs, to temp files first). */
async function bytesIn(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [])) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

/**
 * Reads the image from the layout skopeo wrote and checks it against what was verified from the
 * registry: its config blob is the one the manifest names (by digest, and hashed again here), and
 * it has as many layers as the config has diff_ids.
 */
async function readLayout(layout: string, configDescriptor: Descriptor, layerCount: number, what: string): Promise<{ config: ImageConfig; layers: Descriptor[] }> {
  const blob = (digest: string) => join(layout, "blobs", "sha256", digest.slice("sha256:".length));
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests?: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests?.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "image");
  if (!entry) throw new ImageError("InvalidImage", `${what}: skopeo wrote no image to its layout`);
  const manifestBytes = await readFile(blob(entry.digest));
  if (sha256Digest(manifestBytes) !== entry.digest) throw new ImageError("InvalidImage", `${what}: the copied manifest does not match its digest`);
  const written = parseManifest(manifestBytes, `${what}: the copied manifest`);
  if (written.kind !== "image" || written.config.digest !== configDescriptor.digest) {
    throw new ImageError("InvalidImage", `${what}: skopeo wrote a manifest for another config than the registry's manifest names`);
  }
  const configBytes = await readFile(blob(configDescriptor.digest));
  if (sha256Digest(configBytes) !== configDescriptor.digest) throw new ImageError("InvalidImage", `${what}: its config blob does not match its digest`);
  const config = parseImageConfig(configBytes, `${what}: its config`);
  if (written.layers.length !== layerCount || config.diffIds.length !== layerCount) {
    throw new ImageError("InvalidImage", `${what}: its layers do not match the diff_ids of its config (${written.layers.length} layers, ${config.diffIds.length} diff_ids)`);
  }
  return { config, layers: written.layers };
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
