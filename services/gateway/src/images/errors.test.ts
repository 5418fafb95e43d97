import { describe, expect, it } from "vitest";
import { imageFailure } from "./errors.js";

const IMAGE = "reg.local/app:v1";
const failure = (code: string | undefined, message: string) => imageFailure(IMAGE, Object.assign(new Error(message), code ? { code } : {}));

describe("image errors as FC errors", () => {
  it.each(["InvalidReference", "NotFound", "Unauthorized", "NoMatchingPlatform", "TooLarge", "InvalidImage"])(
    "%s is 400 InvalidArgument naming the field, the image and the cause",
    (code) => {
      const err = failure(code, "the registry said so");
      expect(err).toMatchObject({ code: "InvalidArgument", status: 400, retryable: false });
      expect(err.message).toMatch(/^customContainerConfig\.image: image 'reg\.local\/app:v1': the registry said so/);
    },
  );

  it("does not name the image twice when the cause names it already", () => {
    expect(failure("NotFound", `image ${IMAGE}: not found in the registry`).message).toBe(`customContainerConfig.image: image ${IMAGE}: not found in the registry`);
  });

  it("points at the gateway's credentials when the registry refuses access", () => {
    expect(failure("Unauthorized", "unauthorized").message).toContain("NIMBUS_REGISTRY_AUTH");
  });

  it("a registry that cannot be reached is 503, retryable; so is anything unexpected, never a 500", () => {
    for (const code of ["Unavailable", "CacheFull", undefined]) {
      const err = failure(code, "connection refused");
      expect(err).toMatchObject({ code: "ServiceUnavailable", status: 503, retryable: true });
      expect(err.message).toContain(IMAGE);
      expect(err.message).toContain("connection refused");
    }
    expect(imageFailure(IMAGE, "not even an Error")).toMatchObject({ code: "ServiceUnavailable", message: expect.stringContaining("not even an Error") });
  });
});
