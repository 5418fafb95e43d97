import { createHash } from "node:crypto";
import { z } from "zod";
import { ImageError } from "./errors.js";
import type { PlatformManifest } from "./platform.js";
import type { ImageRunConfig, Platform } from "./types.js";

/** Media types of what a registry may answer for a reference (OCI and Docker schema 2). */
export const MediaTypes = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

const SCHEMA1 = /^application\/vnd\.docker\.distribution\.manifest\.v1\+(?:prettyjws|json)$/;
const DIGEST = z.string().regex(/^sha256:[a-f0-9]{64}$/, "a sha256 digest");

const platformSchema = z.object({
  os: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().optional(),
});

const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: DIGEST,
  size: z.number().int().nonnegative(),
  platform: platformSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
});

const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
});

const nullableStrings = z.array(z.string()).nullish().transform((v) => v ?? []);

const imageConfigSchema = z.object({
  os: z.string().min(1),
  architecture: z.string().min(1),
  variant: z.string().optional(),
  config: z
    .object({
      Entrypoint: nullableStrings,
      Cmd: nullableStrings,
      Env: nullableStrings,
      WorkingDir: z.string().nullish(),
      User: z.string().nullish(),
    })
    .nullish(),
  rootfs: z.object({ type: z.literal("layers"), diff_ids: z.array(DIGEST) }),
});

export type Descriptor = z.infer<typeof descriptorSchema>;

/** A registry's answer for a reference: an index (manifest list) or one image manifest. */
export type ParsedManifest =
  | { kind: "index"; mediaType: string; manifests: PlatformManifest[] }
  | { kind: "image"; mediaType: string; config: Descriptor; layers: Descriptor[] };

/** An image config blob, the parts Nimbus uses. */
export interface ImageConfig {
  platform: Platform;
  run: ImageRunConfig;
  diffIds: string[];
}

/** `sha256:<hex>` of some bytes (a manifest's digest is that of its exact bytes). */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function invalid(where: string, why: string, cause?: unknown): ImageError {
  return new ImageError("InvalidImage", `${where}: ${why}`, cause === undefined ? undefined : { cause });
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw invalid(where, "is not JSON", err);
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

/**
 * Parses a manifest or index as the registry sent it (Docker schema 2 or OCI). Attestation
 * manifests in an index (BuildKit's `unknown/unknown` entries) are left out; schema 1 is refused.
 */
export function parseManifest(bytes: Uint8Array, where: string): ParsedManifest {
  const json = parseJson(bytes, where) as { mediaType?: unknown; manifests?: unknown; schemaVersion?: unknown };
  const mediaType = typeof json?.mediaType === "string" ? json.mediaType : undefined;
  if ((mediaType !== undefined && SCHEMA1.test(mediaType)) || json?.schemaVersion === 1) {
    throw invalid(where, "is a Docker schema 1 manifest, which is not supported (push it again with a current client)");
  }
  if (json?.manifests !== undefined || mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerList) {
    const parsed = indexSchema.safeParse(json);
    if (!parsed.success) throw invalid(where, `is not a valid image index: ${issues(parsed.error)}`);
    const manifests = parsed.data.manifests
      .filter((m) => m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest")
      .map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, platform: m.platform ?? { os: "unknown", architecture: "unknown" } }));
    return { kind: "index", mediaType: mediaType ?? MediaTypes.ociIndex, manifests };
  }
  const parsed = imageManifestSchema.safeParse(json);
  if (!parsed.success) throw invalid(where, `is not a valid image manifest: ${issues(parsed.error)}`);
  return { kind: "image", mediaType: mediaType ?? MediaTypes.ociManifest, config: parsed.data.config, layers: parsed.data.layers };
}

/** Parses an image config blob (OCI or Docker; they agree on these fields). */
export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  const parsed = imageConfigSchema.safeParse(parseJson(bytes, where));
  if (!parsed.success) throw invalid(where, `is not a valid image config: ${issues(parsed.error)}`);
  const { os, architecture, variant, config, rootfs } = parsed.data;
  return {
    platform: { os, architecture, ...(variant ? { variant } : {}) },
    run: {
      entrypoint: config?.Entrypoint ?? [],
      cmd: config?.Cmd ?? [],
      env: config?.Env ?? [],
      workingDir: config?.WorkingDir ?? "",
      user: config?.User ?? "",
    },
    diffIds: rootfs.diff_ids,
  };
}
