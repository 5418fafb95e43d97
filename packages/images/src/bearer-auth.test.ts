import { readFile, rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@nimbus/telemetry";
import { RegistryServer, TestImages, writeAuthFile, type PushedImage, type TokenRequest, type TokenServer } from "@nimbus/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageCache } from "./cache.js";
import { failure } from "./cache-fixtures.js";
import { formatPlatform, hostPlatform } from "./platform.js";
import { resolveImage } from "./resolve.js";
import type { RegistryAccess } from "./types.js";

// Bearer-token auth (Distribution's token flow, as Docker Hub, Harbor and GitLab registries use it)
// against the real thing: Debian's docker-registry with `auth: token`, its token server (the test's
// own, node:http, ES256 JWTs whose certificate is the registry's rootcertbundle), and skopeo doing
// the 401 → GET realm?service&scope with basic credentials → Authorization: Bearer dance. Nimbus
// only hands skopeo the auth file; these tests show that is enough, and that it fails as it should.

const WRITER = { user: "nimbus", password: "token-writer-password" };
const READER = { user: "reader", password: "token-reader-password", actions: ["pull"] };

let dir: string;
let registry: RegistryServer;
let tokens: TokenServer;
let images: TestImages;
let marker: PushedImage;
let multi: PushedImage;
let caches = 0;
const files: Record<"right" | "wrong" | "reader", string> = { right: "", wrong: "", reader: "" };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-bearer-"));
  [registry, images] = await Promise.all([RegistryServer.start({ dir: join(dir, "registry"), token: { accounts: [WRITER, READER] } }), TestImages.open(dir)]);
  tokens = registry.tokenServer!;
  marker = await images.push(await images.marker("private", "behind a token"), { registry, repository: "team/private", tag: "v1" });
  multi = await images.push(await images.multiArch(), { registry, repository: "team/multi", tag: "v1" });
  files.right = await writeAuthFile(join(dir, "right.json"), [registry]);
  files.wrong = await writeAuthFile(join(dir, "wrong.json"), [{ host: registry.host, credentials: `${WRITER.user}:not-the-password` }]);
  files.reader = await writeAuthFile(join(dir, "reader.json"), [{ host: registry.host, credentials: `${READER.user}:${READER.password}` }]);
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

const access = (authFile?: string): RegistryAccess => ({ insecureRegistries: [], timeoutMs: 20_000, ...(authFile ? { authFile } : {}) });

/** The token requests `action` caused. */
async function tokenRequests(action: () => Promise<unknown>): Promise<TokenRequest[]> {
  const before = tokens.requests.length;
  await action();
  return tokens.requests.slice(before);
}

async function cache(authFile?: string): Promise<ImageCache> {
  const cache = new ImageCache({
    dir: join(dir, "caches", String(caches++)),
    maxBytes: 1024 * 1024 * 1024,
    maxImageBytes: 512 * 1024 * 1024,
    access: access(authFile),
    platform: hostPlatform(),
    logger: createLogger({ service: "test", level: "error" }), // the refused pulls' warnings are what the tests expect
  });
  await cache.init();
  return cache;
}

const pinned = (image: PushedImage): string => `${image.reference.slice(0, image.reference.lastIndexOf(":"))}@${image.digest}`;
const anonymous = (scopes: string[]) => ({ user: undefined, status: 200, scopes, access: [] });
const pull = (repository: string) => ({ user: WRITER.user, status: 200, scopes: [`repository:${repository}:pull`], access: [{ type: "repository", name: repository, actions: ["pull"] }] });

describe("resolveImage through bearer-token auth (skopeo inspect --raw)", () => {
  it("without credentials is Unauthorized: the token server hands out a token granting nothing, the registry refuses it", async () => {
    let err: Error | undefined;
    const seen = await tokenRequests(async () => (err = await failure(resolveImage(marker.reference, access()))));
    expect(err).toMatchObject({ code: "Unauthorized" });
    expect(err!.message).toMatch(/errors: denied: requested access to the resource is denied; unauthorized: authentication required$/);
    console.log(`no credentials: ${err!.message} (${seen.length} token requests)`);
    // skopeo asks anonymously (as Docker does), and once more with the scope the registry's refusal named.
    expect(seen).toEqual([anonymous(["repository:team/private:pull"]), anonymous(["repository:team/private:pull", "repository:team/private:pull"])]);
  });

  it("with a wrong password is Unauthorized: the token server refuses it", async () => {
    let err: Error | undefined;
    const seen = await tokenRequests(async () => (err = await failure(resolveImage(marker.reference, access(files.wrong)))));
    expect(err).toMatchObject({ code: "Unauthorized" });
    expect(err!.message).toMatch(/invalid username\/password/);
    console.log(`wrong password: ${err!.message} (${seen.length} token requests)`);
    expect(seen).toEqual([{ user: WRITER.user, status: 401, scopes: ["repository:team/private:pull"] }]);
  });

  it("with the right password in the auth file resolves, each skopeo run getting one pull token for the repository", async () => {
    const seen = await tokenRequests(async () => {
      const resolved = await resolveImage(marker.reference, access(files.right));
      expect(resolved).toMatchObject({ digest: marker.digest, pinned: pinned(marker) });
      expect(resolved.platforms.map(formatPlatform)).toEqual([formatPlatform({ os: "linux", architecture: hostPlatform().architecture })]);
    });
    console.log(`resolve (manifest, then config): ${seen.length} token requests`);
    // Two skopeo runs (inspect --raw, inspect --config --raw); a token lives in one process.
    expect(seen).toEqual([pull("team/private"), pull("team/private")]);
  });

  it("works as well with tokens naming their key by kid (a key in the rootcertbundle) instead of carrying it (x5c)", async () => {
    tokens.keyHeader = "kid";
    try {
      const seen = await tokenRequests(async () => expect((await resolveImage(marker.reference, access(files.right))).digest).toBe(marker.digest));
      expect(seen).toEqual([pull("team/private"), pull("team/private")]);
    } finally {
      tokens.keyHeader = "x5c";
    }
  });
});

describe("ImageCache.acquire through bearer-token auth (skopeo copy + umoci)", () => {
  it("is Unauthorized without credentials and with a wrong password, and leaves nothing behind", async () => {
    for (const authFile of [undefined, files.wrong]) {
      const c = await cache(authFile);
      const seen = await tokenRequests(async () => expect((await failure(c.acquire(pinned(marker)))).code).toBe("Unauthorized"));
      // Refused at the first skopeo run (the manifest), before any download.
      expect(seen).toEqual(
        authFile
          ? [{ user: WRITER.user, status: 401, scopes: ["repository:team/private:pull"] }]
          : [anonymous(["repository:team/private:pull"]), anonymous(["repository:team/private:pull", "repository:team/private:pull"])],
      );
      expect(c.list()).toEqual([]);
    }
  });

  it("pulls and unpacks with the right password, a pull-only token serving manifest, config and layers", async () => {
    const c = await cache(files.right);
    const before = registry.requests.length;
    const seen = await tokenRequests(async () => {
      const image = await c.acquire(pinned(marker));
      expect(await readFile(join(image.rootfs, "etc/marker"), "utf8")).toBe("behind a token\n");
    });
    const blobs = registry.requests.slice(before).filter((r) => r.method === "GET" && r.uri.startsWith("/v2/team/private/blobs/") && r.status === 200);
    console.log(`acquire: ${seen.length} token requests, ${blobs.length} blob GETs with the bearer token`);
    // One token per skopeo run (inspect --raw of the manifest, then copy): the copy's token serves its config and layers.
    expect(blobs.length).toBe(2);
    expect(seen).toEqual([pull("team/private"), pull("team/private")]);
  });

  it("pulls this node's image out of a multi-platform index", async () => {
    const c = await cache(files.right);
    const seen = await tokenRequests(async () => {
      const image = await c.acquire(pinned(multi));
      expect((await readFile(join(image.rootfs, "etc/marker"), "utf8")).trim()).toBe(formatPlatform(hostPlatform()));
    });
    console.log(`acquire from an index: ${seen.length} token requests`);
    // The index, this node's manifest, then the copy: three skopeo runs, a token each.
    expect(seen).toEqual([pull("team/multi"), pull("team/multi"), pull("team/multi")]);
  });

  it("pulls as an account that may only pull", async () => {
    const c = await cache(files.reader);
    const seen = await tokenRequests(async () => expect((await c.acquire(pinned(marker))).digest).toBe(marker.digest));
    expect(seen).toHaveLength(2);
    for (const r of seen) expect(r).toMatchObject({ user: READER.user, status: 200, access: [{ type: "repository", name: "team/private", actions: ["pull"] }] });
  });
});

describe("pushing through bearer-token auth (skopeo copy --dest-creds, the tests' own setup)", () => {
  it("pushes with a pull,push token; without credentials, or as a pull-only account, the push is refused", async () => {
    const tag = await images.marker("pushed", "pushed through a token");
    const seen = await tokenRequests(async () => {
      const pushed = await images.push(tag, { registry, repository: "team/pushed", tag: "v1" });
      expect((await resolveImage(pushed.reference, access(files.right))).digest).toBe(pushed.digest);
    });
    const pushTokens = seen.filter((r) => r.scopes.some((s) => s.endsWith(":pull,push")));
    console.log(`push: ${pushTokens.length} pull,push token request(s); scopes asked: ${JSON.stringify(pushTokens.map((r) => r.scopes))}`);
    expect(pushTokens.length).toBeGreaterThan(0);
    for (const r of pushTokens) {
      expect(r.scopes).toContain("repository:team/pushed:pull,push");
      expect(r.access).toContainEqual({ type: "repository", name: "team/pushed", actions: ["pull", "push"] });
    }

    const anonymous = await tokenRequests(async () => {
      await expect(images.push(tag, { registry: { host: registry.host }, repository: "team/anonymous", tag: "v1" })).rejects.toThrow(/denied: requested access to the resource is denied/);
    });
    expect(anonymous.length).toBeGreaterThan(0);
    expect(anonymous.every((r) => r.user === undefined && r.access?.length === 0)).toBe(true);

    const reader = await tokenRequests(async () => {
      await expect(
        images.push(tag, { registry: { host: registry.host, credentials: `${READER.user}:${READER.password}` }, repository: "team/read-only", tag: "v1" }),
      ).rejects.toThrow(/denied: requested access to the resource is denied/);
    });
    expect(reader.length).toBeGreaterThan(0);
    for (const r of reader) expect(r.access?.every((a) => !a.actions.includes("push"))).toBe(true);
    expect(registry.requests.some((r) => r.method === "PUT" && r.uri.startsWith("/v2/team/read-only/manifests/"))).toBe(false);
  });
});
