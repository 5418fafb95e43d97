import { errors, NimbusError } from "@nimbus/protocol";

/** The OCI name of this host's architecture (Node's `process.arch` names differ). */
export function hostArchitecture(arch: string = process.arch): string {
  const oci: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  return oci[arch] ?? arch;
}

/** True when an image offering `platforms` can run here (an image that names none is given the benefit of the doubt). */
export function offersHostPlatform(platforms: readonly { os: string; architecture: string }[], arch = hostArchitecture()): boolean {
  return platforms.length === 0 || platforms.some((p) => p.os === "linux" && p.architecture === arch);
}

/**
 * FC's answer to an image that could not be resolved, from the ImageError's code (read as data, as
 * any error crossing a module boundary is): what the caller must fix is 400 InvalidArgument naming
 * the image and the cause; a registry that cannot be reached is 503 ServiceUnavailable (retryable);
 * nothing is ever a 500.
 */
export function imageFailure(image: string, err: unknown): NimbusError {
  const code = typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : undefined;
  const cause = err instanceof Error ? err.message : String(err);
  const invalid = (what: string) => new NimbusError("InvalidArgument", `customContainerConfig.image: ${what}: ${cause}`, { cause: err });
  switch (code) {
    case "InvalidReference":
      return invalid(`'${image}' is not a valid image reference`);
    case "NotFound":
      return invalid(`image '${image}' does not exist (no such repository, tag or digest)`);
    case "Unauthorized":
      return invalid(`the registry refused access to image '${image}' (credentials come from NIMBUS_REGISTRY_AUTH)`);
    case "NoMatchingPlatform":
      return invalid(`image '${image}' has no linux/${hostArchitecture()} variant`);
    case "TooLarge":
    case "InvalidImage":
      return invalid(`image '${image}' cannot be used`);
    case "Unavailable":
      return errors.unavailable(`the registry of image '${image}' could not be reached; retry: ${cause}`, err);
    default:
      return errors.unavailable(`image '${image}' could not be resolved; retry: ${cause}`, err);
  }
}
