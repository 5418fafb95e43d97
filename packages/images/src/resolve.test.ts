import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startRegistry, TestImages, writeAuthFile, type PushedImage, type RegistryServer } from "@nimbus/testkit";
import { ImageError } from "./errors.js";
import { formatPlatform, hostPlatform, selectPlatform } from "./platform.js";
import { resolveImage } from "./resolve.js";
import type { RegistryAccess } from "./types.js";

let dir: string;
let open: RegistryServer; // anonymous pulls
let locked: RegistryServer; // htpasswd
let images: TestImages;
const pushed: Record<string, PushedImage> = {};
const access = (extra: Partial<RegistryAccess> = {}): RegistryAccess => ({ insecureRegistries: [], timeoutMs: 15_000, ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-resolve-"));
  [open, locked, images] = await Promise.all([startRegistry(join(dir, "open")), startRegistry(join(dir, "locked"), true), TestImages.open(dir)]);
  pushed["marker"] = await images.push(await images.marker("marker"), { registry: open, repository: "team/marker", tag: "v1" });
  pushed["docker"] = await images.push(await images.marker("marker"), { registry: open, repository: "team/docker", tag: "v1", format: "v2s2" });
  pushed["multi"] = await images.push(await images.multiArch(), { registry: open, repository: "team/multi", tag: "v1" });
  pushed["dockerList"] = await images.push(await images.multiArch(), { registry: open, repository: "team/docker-list", tag: "v1", format: "v2s2" });
  pushed["foreign"] = await images.push((await images.foreignOnly()).tag, { registry: open, repository: "team/foreign", tag: "v1" });
  pushed["private"] = await images.push(await images.marker("marker"), { registry: locked, repository: "team/private", tag: "v1" });
});
afterAll(async () => {
  await Promise.allSettled([open?.stop(), locked?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

describe("resolveImage against a real registry (skopeo inspect --raw)", () => {
  it("resolves a tag to the digest of the manifest bytes, pinned, with the image's platform (OCI and Docker schema 2)", async () => {
    for (const key of ["marker", "docker"]) {
      const image = pushed[key]!;
      const resolved = await resolveImage(image.reference, access());
      expect(resolved.reference).toBe(image.reference);
      expect(resolved.digest).toBe(image.digest);
      expect(resolved.pinned).toBe(`${image.reference.replace(/:v1$/, "")}@${image.digest}`);
      expect(resolved.platforms).toEqual([{ os: "linux", architecture: hostPlatform().architecture }]);
    }
  });

  it("resolves a digest to itself", async () => {
    const image = pushed["marker"]!;
    const pinned = `${image.reference.replace(/:v1$/, "")}@${image.digest}`;
    const resolved = await resolveImage(pinned, access());
    expect(resolved).toMatchObject({ reference: pinned, digest: image.digest, pinned });
  });

  it("lists an index's platforms and picks this node's; an index without it is NoMatchingPlatform naming what it offers", async () => {
    for (const key of ["multi", "dockerList"]) {
      const multi = await resolveImage(pushed[key]!.reference, access());
      expect(multi.digest).toBe(pushed[key]!.digest);
      expect(multi.platforms.map(formatPlatform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
      const chosen = selectPlatform(multi, hostPlatform());
      expect(chosen.architecture).toBe(hostPlatform().architecture);
    }

    const foreign = await resolveImage(pushed["foreign"]!.reference, access());
    const err = (() => {
      try {
        selectPlatform(foreign, hostPlatform());
      } catch (e) {
        return e as ImageError;
      }
      throw new Error("selected a platform the index does not offer");
    })();
    expect(err.code).toBe("NoMatchingPlatform");
    console.log(`NoMatchingPlatform: ${err.message}`);
    for (const p of foreign.platforms) expect(err.message).toContain(formatPlatform(p));
  });

  it("needs the right credentials where the registry asks for them", async () => {
    const reference = pushed["private"]!.reference;
    const none = await failure(resolveImage(reference, access()));
    expect(none.code).toBe("Unauthorized");
    expect(none.message).toMatch(/authentication required/);

    const wrongFile = await writeAuthFile(join(dir, "wrong.json"), [{ host: locked.host, credentials: "nimbus:not-the-password" }]);
    const wrong = await failure(resolveImage(reference, access({ authFile: wrongFile })));
    expect(wrong.code).toBe("Unauthorized");
    console.log(`wrong password: ${wrong.message}`);

    const rightFile = await writeAuthFile(join(dir, "right.json"), [locked, { host: open.host }]);
    expect((await resolveImage(reference, access({ authFile: rightFile }))).digest).toBe(pushed["private"]!.digest);
    // The same auth file serves a registry it has no entry for anonymously.
    expect((await resolveImage(pushed["marker"]!.reference, access({ authFile: rightFile }))).digest).toBe(pushed["marker"]!.digest);
  });

  it("says NotFound for a missing tag and a missing repository, in the registry's words", async () => {
    const tag = await failure(resolveImage(`${open.host}/team/marker:missing`, access()));
    expect(tag.code).toBe("NotFound");
    expect(tag.message).toMatch(/manifest unknown/);
    const repo = await failure(resolveImage(`${open.host}/team/nothing-here:v1`, access()));
    expect(repo.code).toBe("NotFound");
    console.log(`missing tag: ${tag.message}\nmissing repository: ${repo.message}`);
  });

  it("fails Unavailable at once when nothing listens, and at timeoutMs when the registry is frozen", async () => {
    const port = await freePort();
    let started = Date.now();
    const down = await failure(resolveImage(`127.0.0.1:${port}/team/marker:v1`, access({ timeoutMs: 10_000 })));
    expect(down.code).toBe("Unavailable");
    expect(down.message).toMatch(/connection refused/);
    console.log(`registry down: Unavailable after ${Date.now() - started} ms (timeout 10000 ms): ${down.message}`);

    open.pause();
    try {
      started = Date.now();
      const frozen = await failure(resolveImage(pushed["marker"]!.reference, access({ timeoutMs: 1_500 })));
      expect(frozen.code).toBe("Unavailable");
      expect(frozen.retryable).toBe(true);
      // What was left of its 1,500 ms when skopeo started (a millisecond may have gone by).
      expect(frozen.message, frozen.message).toMatch(/did not answer within 1(4\d\d|500) ms/);
      console.log(`registry frozen (SIGSTOP): Unavailable after ${Date.now() - started} ms (timeoutMs 1500)`);
    } finally {
      open.resume();
    }
    expect((await resolveImage(pushed["marker"]!.reference, access())).digest).toBe(pushed["marker"]!.digest);
  });

  it("refuses an invalid reference before asking any registry", async () => {
    const before = open.requests.length;
    const err = await failure(resolveImage(`${open.host}/Team/Marker:v1`, access()));
    expect(err.code).toBe("InvalidReference");
    expect(open.requests.length).toBe(before);
  });
});
