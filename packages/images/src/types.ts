/** A parsed image reference (the Docker/OCI distribution grammar, normalized as Docker does). */
export interface ImageReference {
  /** Registry host[:port]; `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path, e.g. `library/node`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` */
  digest?: string;
}

/** An OS/architecture pair as OCI indexes name them (`linux/amd64`, `linux/arm64/v8`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** How registries are reached: credentials, which may be plain HTTP, how long to wait. */
export interface RegistryAccess {
  /** A Docker-style auth file (`{"auths": {"host": {"auth": base64(user:pass)}}}`), NIMBUS_REGISTRY_AUTH. */
  authFile?: string;
  /** Registries (host[:port]) that may be plain http (NIMBUS_INSECURE_REGISTRIES); loopback ones always may. */
  insecureRegistries: readonly string[];
  /** The longest one registry operation may take before it fails as Unavailable. */
  timeoutMs: number;
}

/** A reference resolved against its registry: what exactly it names now. */
export interface ResolvedImage {
  /** The reference as given, normalized (`registry/repository:tag`). */
  reference: string;
  /** The digest of what the tag names now: a manifest, or an index / manifest list. */
  digest: string;
  /** The digest-pinned reference every node pulls (`registry/repository@sha256:…`). */
  pinned: string;
  /** The platforms an index offers (one entry for a plain manifest). */
  platforms: Platform[];
}

/** What an image's configuration says about how to run it. */
export interface ImageRunConfig {
  entrypoint: string[];
  cmd: string[];
  /** `KEY=value` strings, as the image config has them. */
  env: string[];
  workingDir: string;
  /** The image's `User` (`uid[:gid]` or a name), "" when it says nothing. */
  user: string;
}

/** An image unpacked in a node's cache, ready to be an instance's root. */
export interface UnpackedImage {
  /** The pinned digest it was pulled by (the index or manifest digest). */
  digest: string;
  /** The digest of the platform manifest actually unpacked. */
  manifestDigest: string;
  /** Its root filesystem on this host (read-only for instances); mount points for the sandbox exist. */
  rootfs: string;
  config: ImageRunConfig;
  sizeBytes: number;
}

/** One entry of a node's image cache, for `nimbus images`. */
export interface CachedImage {
  digest: string;
  /** The references it was pulled for. */
  references: string[];
  sizeBytes: number;
  lastUsed: string;
  /** Instances running from it now. */
  inUse: number;
}
