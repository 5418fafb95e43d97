import { describe, expect, it } from "vitest";
import { hostArchitecture, imageFailure, offersHostPlatform } from "./errors.js";

const failure = (code: string | undefined, message = "the registry said so") =>
  imageFailure("reg.local/app:v1", Object.assign(new Error(message), code ? { code } : {}));

describe("image errors as FC errors", () => {
  it.each([
    ["InvalidReference", "'reg.local/app:v1' is not a valid image reference"],
    ["NotFound", "image 'reg.local/app:v1' does not exist"],
    ["Unauthorized", "the registry refused access to image 'reg.local/app:v1'"],
    ["NoMatchingPlatform", `image 'reg.local/app:v1' has no linux/${hostArchitecture()} variant`],
    ["TooLarge", "image 'reg.local/app:v1' cannot be used"],
    ["InvalidImage", "image 'reg.local/app:v1' cannot be used"],
  ])("%s is 400 InvalidArgument naming the image and the cause", (code, message) => {
    const err = failure(code);
    expect(err).toMatchObject({ code: "InvalidArgument", status: 400, retryable: false });
    expect(err.message).toContain(`customContainerConfig.image: ${message}`);
    expect(err.message).toContain("the registry said so");
  });

  it("a registry that cannot be reached is 503, retryable; so is anything unexpected, never a 500", () => {
    for (const code of ["Unavailable", "CacheFull", undefined]) {
      const err = failure(code, "connection refused");
      expect(err).toMatchObject({ code: "ServiceUnavailable", status: 503, retryable: true });
      expect(err.message).toContain("reg.local/app:v1");
      expect(err.message).toContain("connection refused");
    }
  });
});

describe("platforms", () => {
  it("names architectures as OCI does", () => {
    expect(hostArchitecture("x64")).toBe("amd64");
    expect(hostArchitecture("arm64")).toBe("arm64");
  });

  it("an image runs here when it offers linux on this architecture, or names no platform", () => {
    expect(offersHostPlatform([{ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm64" }], "arm64")).toBe(true);
    expect(offersHostPlatform([{ os: "linux", architecture: "amd64" }], "arm64")).toBe(false);
    expect(offersHostPlatform([{ os: "windows", architecture: "arm64" }], "arm64")).toBe(false);
    expect(offersHostPlatform([], "arm64")).toBe(true);
  });
});
