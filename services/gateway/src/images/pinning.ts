import { hostPlatform, parseImageReference, resolveImage, selectPlatform, type RegistryAccess } from "@nimbus/images";
import type { ResolvedImageRecord } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";
import { imageFailure } from "./errors.js";

/** Turns the image reference a function names into the digest its instances run. */
export interface ImagePinning {
  /** Throws InvalidArgument when the reference does not parse (no registry call). */
  check(image: string): void;
  /** What the reference names now, pinned by digest; FC's errors when it cannot be resolved or run here. */
  pin(image: string): Promise<ResolvedImageRecord>;
}

/** Pinning against real registries, with the gateway's credentials and insecure-registry list. */
export class RegistryPinning implements ImagePinning {
  constructor(
    private readonly access: RegistryAccess,
    private readonly logger: Logger,
  ) {}

  check(image: string): void {
    try {
      parseImageReference(image);
    } catch (err) {
      throw imageFailure(image, err);
    }
  }

  async pin(image: string): Promise<ResolvedImageRecord> {
    try {
      const resolved = await resolveImage(image, this.access);
      // An image with nothing for this host's platform could never start: refuse it now, not at the first call.
      selectPlatform(resolved, hostPlatform());
      this.logger.info({ image, pinned: resolved.pinned }, "image resolved");
      return { reference: resolved.reference, digest: resolved.digest, pinned: resolved.pinned };
    } catch (err) {
      const failure = imageFailure(image, err);
      this.logger.info({ image, code: failure.code, err }, "image not resolved");
      throw failure;
    }
  }
}
