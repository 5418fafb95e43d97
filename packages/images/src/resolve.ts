import { ImageError } from "./errors.js";
import { parseImageConfig, parseManifest, sha256Digest, type ImageConfig, type ParsedManifest } from "./manifest.js";
import { formatReference, parseImageReference, pinnedReference, skopeoReference } from "./reference.js";
import { skopeo, skopeoAccessFlags } from "./registry.js";
import type { ImageReference, RegistryAccess, ResolvedImage } from "./types.js";

/** Manifests and configs are small; anything bigger is not one (OCI suggests registries cap manifests at 4 MB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest or index as fetched: its exact bytes, their digest, and what they say. */
export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  manifest: ParsedManifest;
}

/** A point in time every registry call of one operation must finish by (Unavailable otherwise). */
export class Deadline {
  private readonly at: number;

  constructor(readonly timeoutMs: number) {
    this.at = Date.now() + timeoutMs;
  }

  /** Milliseconds left (at least 1, so a call past the deadline times out at once rather than never). */
  remaining(): number {
    return Math.max(1, this.at - Date.now());
  }
}

/**
 * Fetches the manifest (or index) `digest` or, without one, the reference's tag names, with
 * `skopeo inspect --raw`, and checks that a digest asked for is the digest of the bytes received.
 */
export async function fetchManifest(ref: ImageReference, access: RegistryAccess, deadline: Deadline, digest = ref.digest): Promise<FetchedManifest> {
  const target = skopeoReference(ref, digest);
  const what = `image ${digest === undefined ? formatReference(ref) : pinnedReference(ref, digest)}`;
  const bytes = await skopeo(["inspect", "--raw", ...skopeoAccessFlags(ref.registry, access, "inspect"), target], what, {
    timeoutMs: deadline.remaining(),
    maxStdoutBytes: MAX_MANIFEST_BYTES,
  });
  const actual = sha256Digest(bytes);
  if (digest !== undefined && actual !== digest) {
    throw new ImageError("InvalidImage", `${what}: the registry answered a manifest whose digest is ${actual}`);
  }
  return { bytes, digest: actual, manifest: parseManifest(bytes, `${what}: its manifest`) };
}

/** Fetches an image's config blob (`skopeo inspect --config --raw`, by manifest digest) and checks its digest. */
export async function fetchConfig(
  ref: ImageReference,
  access: RegistryAccess,
  deadline: Deadline,
  manifestDigest: string,
  configDigest: string,
): Promise<ImageConfig> {
  const what = `image ${pinnedReference(ref, manifestDigest)}`;
  const bytes = await skopeo(
    ["inspect", "--config", "--raw", ...skopeoAccessFlags(ref.registry, access, "inspect"), skopeoReference(ref, manifestDigest)],
    what,
    { timeoutMs: deadline.remaining(), maxStdoutBytes: MAX_MANIFEST_BYTES },
  );
  if (sha256Digest(bytes) !== configDigest) {
    throw new ImageError("InvalidImage", `${what}: its config blob does not match its digest ${configDigest}`);
  }
  return parseImageConfig(bytes, `${what}: its config`);
}

/**
 * Resolves a reference against its registry (`skopeo inspect --raw`): the digest of what it names
 * now (the sha256 of the manifest or index bytes), the pinned `registry/repository@digest` every
 * node pulls, and the platforms offered (an index's entries, or a plain manifest's config). The
 * whole resolution finishes within `access.timeoutMs` or fails as Unavailable.
 */
export async function resolveImage(reference: string | ImageReference, access: RegistryAccess): Promise<ResolvedImage> {
  const ref = typeof reference === "string" ? parseImageReference(reference) : reference;
  const deadline = new Deadline(access.timeoutMs);
  const fetched = await fetchManifest(ref, access, deadline);
  const platforms =
    fetched.manifest.kind === "index"
      ? fetched.manifest.manifests.map((m) => m.platform)
      : [(await fetchConfig(ref, access, deadline, fetched.digest, fetched.manifest.config.digest)).platform];
  return { reference: formatReference(ref), digest: fetched.digest, pinned: pinnedReference(ref, fetched.digest), platforms };
}
