import { describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import { formatReference, parseImageReference, pinnedReference, skopeoReference } from "./reference.js";

const HEX = "a".repeat(64);

function rejects(ref: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseImageReference(ref);
  } catch (err) {
    caught = err;
  }
  expect(caught, ref).toBeInstanceOf(ImageError);
  expect((caught as ImageError).code).toBe("InvalidReference");
  expect((caught as ImageError).message).toMatch(message);
}

describe("parseImageReference", () => {
  it.each([
    ["node", "docker.io/library/node:latest"],
    ["node:20", "docker.io/library/node:20"],
    ["library/node:20-alpine", "docker.io/library/node:20-alpine"],
    ["bitnami/redis", "docker.io/bitnami/redis:latest"],
    ["docker.io/node", "docker.io/library/node:latest"],
    ["index.docker.io/team/app:v1", "docker.io/team/app:v1"],
    ["registry.cn-hangzhou.aliyuncs.com/ns/app:1.0.0", "registry.cn-hangzhou.aliyuncs.com/ns/app:1.0.0"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"],
    ["127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"],
    ["[::1]:5000/team/app:v2", "[::1]:5000/team/app:v2"],
    ["[fe80::1%eth0]/app", "[fe80::1%eth0]/app:latest"],
    ["Example.COM/app", "Example.COM/app:latest"],
    ["a.b/x__y.z-w---v/q:_T.a-g", "a.b/x__y.z-w---v/q:_T.a-g"],
    [`ghcr.io/team/app@sha256:${HEX}`, `ghcr.io/team/app@sha256:${HEX}`],
    [`ghcr.io/team/app:v1@sha256:${HEX}`, `ghcr.io/team/app:v1@sha256:${HEX}`],
    [`node@sha256:${HEX}`, `docker.io/library/node@sha256:${HEX}`],
  ])("%s → %s", (input, normalized) => {
    const parsed = parseImageReference(input);
    expect(formatReference(parsed)).toBe(normalized);
    expect(parseImageReference(normalized)).toEqual(parsed);
  });

  it("keeps a digest without inventing a tag", () => {
    expect(parseImageReference(`r.io/a@sha256:${HEX}`)).toEqual({ registry: "r.io", repository: "a", digest: `sha256:${HEX}` });
  });

  it.each([
    ["", /empty/],
    [" node", /whitespace/],
    ["no de", /whitespace/],
    ["https://r.io/app", /without a scheme/],
    ["docker://r.io/app", /without a scheme/],
    ["Node", /must be lowercase/],
    ["r.io/Team/app", /must be lowercase/],
    ["r.io/", /repository name is missing/],
    [":tag", /repository name is missing/],
    ["r.io//app", /empty component/],
    ["r.io/app/", /empty component/],
    ["r.io/-app", /repository component '-app'/],
    ["r.io/app_", /repository component 'app_'/],
    ["r.io/a...b", /repository component 'a...b'/],
    ["app:", /tag ''/],
    ["app:.hidden", /tag '.hidden'/],
    ["app:-x", /tag '-x'/],
    [`app:${"t".repeat(129)}`, /tag 't+'/],
    ["app:a/b", /registry port .a./],
    ["app@sha256:abc", /64 lowercase hex/],
    [`app@sha256:${"A".repeat(64)}`, /64 lowercase hex/],
    [`app@sha512:${"a".repeat(128)}`, /only sha256/],
    ["app@", /only sha256/],
    ["r.io:0/app", /port '0'/],
    ["r.io:99999/app", /port '99999'/],
    ["r.io:x/app", /port 'x'/],
    ["-r.io/app", /not a host name/],
    ["r_x.io/app", /not a host name/],
    ["[::1/app", /not a bracketed IPv6/],
    [`r.io/${"a".repeat(251)}`, /longer than 255/],
  ])("refuses %j", (input, message) => rejects(input, message));

  it("accepts a name of exactly 255 characters", () => {
    const ref = `r.io/${"a".repeat(250)}`;
    expect(parseImageReference(ref).repository).toHaveLength(250);
  });
});

describe("reference forms", () => {
  it("pins to registry/repository@digest and hands skopeo a digest before a tag", () => {
    const ref = parseImageReference(`127.0.0.1:5000/team/app:v1`);
    expect(pinnedReference(ref, `sha256:${HEX}`)).toBe(`127.0.0.1:5000/team/app@sha256:${HEX}`);
    expect(skopeoReference(ref)).toBe("docker://127.0.0.1:5000/team/app:v1");
    expect(skopeoReference(ref, `sha256:${HEX}`)).toBe(`docker://127.0.0.1:5000/team/app@sha256:${HEX}`);
    expect(skopeoReference(parseImageReference(`r.io/a:v1@sha256:${HEX}`))).toBe(`docker://r.io/a@sha256:${HEX}`);
  });
});
