import { NimbusError } from "@nimbus/protocol";

/**
 * FC's answer to an image that could not be resolved, from the ImageError's code (read as data, as
 * any error crossing a module boundary is): what the caller must fix is 400 InvalidArgument naming
 * the image and the cause; a registry that cannot be reached is 503 ServiceUnavailable (retryable);
 * nothing is ever a 500.
 */
export function imageFailure(image: string, err: unknown): NimbusError {
  const code = typeof err === "object" && err !== null && typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  // @nimbus/images names the image in its messages; say which one only when it does not.
  const cause = message.includes(image) ? message : `image '${image}': ${message}`;
  const invalid = (text: string) => new NimbusError("InvalidArgument", `customContainerConfig.image: ${text}`, { cause: err });
  const unavailable = (text: string) => new NimbusError("ServiceUnavailable", `${text}; retry later`, { cause: err });
  switch (code) {
    case "InvalidReference":
    case "NotFound":
    case "NoMatchingPlatform":
    case "TooLarge":
    case "InvalidImage":
      return invalid(cause);
    case "Unauthorized":
      return invalid(`${cause} (the gateway's registry credentials come from NIMBUS_REGISTRY_AUTH)`);
    case "Unavailable":
    case "CacheFull":
      return unavailable(cause);
    default:
      return unavailable(`could not resolve ${cause}`);
  }
}
