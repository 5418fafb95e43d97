/**
 * Why an image could not be resolved or pulled. Crosses processes as its code (the gateway maps it
 * to FC's errors at create time, the invoker to a function's start failure at run time).
 */
export type ImageErrorCode =
  /** The reference does not parse (FC: InvalidArgument). */
  | "InvalidReference"
  /** The repository, tag or digest does not exist. */
  | "NotFound"
  /** The registry refused the credentials, or asked for some and there were none. */
  | "Unauthorized"
  /** The registry could not be reached or answered with a server error, or too slowly. */
  | "Unavailable"
  /** The image has no manifest for this node's OS and architecture. */
  | "NoMatchingPlatform"
  /** The image's layers add up to more than NIMBUS_MAX_IMAGE_BYTES. */
  | "TooLarge"
  /** The node's image cache cannot make room (NIMBUS_IMAGE_CACHE_BYTES, every image in use). */
  | "CacheFull"
  /** A layer is malformed or writes outside the image's root (`../`, absolute paths, links out). */
  | "InvalidImage";

/** An image operation that failed, with a stable code and a message a user can act on. */
export class ImageError extends Error {
  override readonly name = "ImageError";

  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }

  /** Worth retrying later (the registry may come back). */
  get retryable(): boolean {
    return this.code === "Unavailable";
  }
}
