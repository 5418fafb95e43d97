import { lstat, readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import { ImageError, type UnpackedImage } from "@nimbus/images";
import { errors, NimbusError, type EffectiveFunction } from "@nimbus/protocol";
import type { CodeCache } from "../code/cache.js";
import { ImageRejectedError, type ImageAccounts } from "./image-spec.js";

/** What an instance runs from, held (never evicted from its cache) until release(). */
export type InstanceSource =
  | { kind: "code"; codeDir: string; optDir: string | undefined; release(): void }
  | { kind: "image"; image: UnpackedImage; accounts: ImageAccounts; release(): void };

export interface SourceDeps {
  codeCache: CodeCache;
  /** The `/opt` of a function with layers (its layer ARNs, in order); release() it when the instance is gone. */
  layers: { acquire(arns: readonly string[]): Promise<string>; release(dir: string): void };
  /** This node's container images (pulled on first use). */
  images: { acquire(pinned: string): Promise<UnpackedImage>; release(digest: string): void };
}


/** Each account file is read up to this size (an image's /etc/passwd is small). */
const MAX_ACCOUNTS_BYTES = 1024 * 1024;

/**
 * Acquires what an instance of `fn` starts from: its code package and layers, or its container
 * image (pulled if this node does not have it). An image that cannot be pulled because the registry
 * is unreachable is the platform's ServiceUnavailable (retry later); one the cache has no room for,
 * ResourceExhausted; any other image failure an ImageRejectedError.
 */
export async function acquireSource(fn: EffectiveFunction, deps: SourceDeps): Promise<InstanceSource> {
  const container = fn.container;
  if (container) {
    let image: UnpackedImage;
    try {
      image = await deps.images.acquire(container.pinned);
    } catch (err) {
      throw imageFailure(container.pinned, err);
    }
    try {
      return { kind: "image", image, accounts: await readAccounts(image.rootfs), release: () => deps.images.release(image.digest) };
    } catch (err) {
      deps.images.release(image.digest);
      throw err;
    }
  }
  const codeDir = await deps.codeCache.acquire(fn.record.codeSha256);
  let optDir: string | undefined;
  try {
    if (fn.record.layers?.length) optDir = await deps.layers.acquire(fn.record.layers);
  } catch (err) {
    deps.codeCache.release(fn.record.codeSha256);
    throw err;
  }
  return {
    kind: "code",
    codeDir,
    optDir,
    release: () => {
      deps.codeCache.release(fn.record.codeSha256);
      if (optDir) deps.layers.release(optDir);
    },
  };
}

function imageFailure(pinned: string, err: unknown): Error {
  if (!(err instanceof ImageError)) return err as Error;
  if (err.code === "Unavailable") return errors.unavailable(`cannot pull image ${pinned} now: ${err.message}; retry`, err);
  if (err.code === "CacheFull") return new NimbusError("ResourceExhausted", `no room on this node for image ${pinned}: ${err.message}; retry later`, { cause: err });
  return new ImageRejectedError(`the image ${pinned} cannot run: ${err.message}`, { cause: err });
}

/**
 * The image's own /etc/passwd and /etc/group, for resolving its user. Read as files of the image:
 * anything reached through a link (which would resolve on this host, not in the image) counts as
 * no file.
 */
async function readAccounts(rootfs: string): Promise<ImageAccounts> {
  const root = await realpath(rootfs);
  const read = async (name: string): Promise<string> => {
    const path = join(root, "etc", name);
    const real = await realpath(path).catch(() => undefined);
    if (real !== path) return "";
    const stat = await lstat(path).catch(() => undefined);
    if (!stat?.isFile() || stat.size > MAX_ACCOUNTS_BYTES) return "";
    return readFile(path, "utf8");
  };
  return { passwd: await read("passwd"), group: await read("group") };
}
