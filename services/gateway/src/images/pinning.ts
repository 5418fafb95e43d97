import type { RegistryAccess, ResolvedImage } from "@nimbus/images";
import type { ResolvedImageRecord } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";
import { imageFailure, offersHostPlatform } from "./errors.js";

/** Turns the image reference a function names into the digest its instances run. */
export interface ImagePinning {
  /** Throws InvalidArgument when the reference does not parse (no registry call). */
  check(image: string): void;
  /** What the reference names now, pinned by digest; FC's errors when it cannot be resolved. */
  pin(image: string): Promise<ResolvedImageRecord>;
}

/** @nimbus/images' reference parser and registry resolver (both throw ImageErrors). */
export interface ImageRegistryClient {
  parse(image: string): unknown;
  resolve(image: string, access: RegistryAccess): Promise<ResolvedImage>;
}

/** Pinning against real registries, with the gateway's credentials and insecure-registry list. */
export class RegistryPinning implements ImagePinning {
  constructor(
    private readonly client: ImageRegistryClient,
    private readonly access: RegistryAccess,
    private readonly logger: Logger,
  ) {}

  check(image: string): void {
    try {
      this.client.parse(image);
    } catch (err) {
      throw imageFailure(image, err);
    }
  }

  async pin(image: string): Promise<ResolvedImageRecord> {
    let resolved;
    try {
      resolved = await this.client.resolve(image, this.access);
    } catch (err) {
      const failure = imageFailure(image, err);
      this.logger.info({ image, code: failure.code, err }, "image not resolved");
      throw failure;
    }
    if (!offersHostPlatform(resolved.platforms)) {
      const offered = resolved.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`).join(", ");
      throw imageFailure(image, Object.assign(new Error(`it offers ${offered}`), { code: "NoMatchingPlatform" }));
    }
    this.logger.info({ image, pinned: resolved.pinned }, "image resolved");
    return { reference: resolved.reference, digest: resolved.digest, pinned: resolved.pinned };
  }
}
