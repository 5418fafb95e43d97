import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryServer } from "./registry-server.js";
import type { TokenServer } from "./token-server.js";

const WRITER = { user: "w", password: "writer-pass" };
const READER = { user: "r", password: "reader-pass", actions: ["pull"] };
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

let dir: string;
let registry: RegistryServer;
let tokens: TokenServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-token-"));
  registry = await RegistryServer.start({ dir: join(dir, "registry"), token: { accounts: [WRITER, READER] } });
  tokens = registry.tokenServer!;
});
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** GET realm?service&scope…, with basic credentials when given. */
function ask(scopes: string[], credentials?: { user: string; password: string }, service = "nimbus-test-registry"): Promise<Response> {
  const url = new URL(tokens.realm);
  url.searchParams.set("service", service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const auth = credentials ? { authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}` } : undefined;
  return fetch(url, { headers: auth ?? {} });
}

async function token(scopes: string[], credentials?: { user: string; password: string }): Promise<string> {
  const res = await ask(scopes, credentials);
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

const claims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
const header = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[0] ?? "", "base64url").toString()) as Record<string, unknown>;

/** Starts a monolithic blob upload to `repository` with a bearer token: 202 when the token grants push. */
const startUpload = (repository: string, jwt: string) => fetch(`${registry.url}/v2/${repository}/blobs/uploads/`, { method: "POST", headers: { authorization: `Bearer ${jwt}` } });
const getManifest = (repository: string, jwt?: string) =>
  fetch(`${registry.url}/v2/${repository}/manifests/v1`, { headers: { accept: MANIFEST, ...(jwt ? { authorization: `Bearer ${jwt}` } : {}) } });

describe("docker-registry with token auth and its token server", () => {
  it("challenges with Bearer naming the realm, service and scope", async () => {
    const res = await getManifest("team/app");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${tokens.realm}",service="nimbus-test-registry",scope="repository:team/app:pull"`);
    expect(registry.credentials).toBe("w:writer-pass");
  });

  it("issues ES256 tokens carrying their certificate, with Distribution's claims, granting only what was asked and allowed", async () => {
    const jwt = await token(["repository:team/app:pull"], WRITER);
    expect(header(jwt)).toMatchObject({ typ: "JWT", alg: "ES256", x5c: [expect.any(String)] });
    const c = claims(jwt);
    expect(c).toMatchObject({ iss: "nimbus-test-token-server", sub: "w", aud: "nimbus-test-registry", access: [{ type: "repository", name: "team/app", actions: ["pull"] }] });
    expect(c["exp"] as number).toBeGreaterThan(c["iat"] as number);
    expect(c["nbf"]).toBe(c["iat"]);
    // A pull token reads (the repository is empty: 404 past auth) but neither writes nor reads elsewhere.
    expect((await getManifest("team/app", jwt)).status).toBe(404);
    const push = await startUpload("team/app", jwt);
    expect(push.status).toBe(401);
    expect(push.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    expect((await getManifest("team/other", jwt)).status).toBe(401);

    const both = await token(["repository:team/app:pull,push", "registry:catalog:*"], WRITER);
    expect(claims(both)["access"]).toEqual([{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
    expect((await startUpload("team/app", both)).status).toBe(202);

    const reader = await token(["repository:team/app:pull,push"], READER);
    expect(claims(reader)["access"]).toEqual([{ type: "repository", name: "team/app", actions: ["pull"] }]);
    expect((await startUpload("team/app", reader)).status).toBe(401);
  });

  it("refuses a wrong password (401) and an unknown service (400); an anonymous token grants nothing", async () => {
    const wrong = await ask(["repository:team/app:pull"], { user: "w", password: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect((await ask(["repository:team/app:pull"], WRITER, "elsewhere")).status).toBe(400);
    const anonymous = await token(["repository:team/app:pull"]);
    expect(claims(anonymous)).toMatchObject({ sub: "", access: [] });
    expect((await getManifest("team/app", anonymous)).status).toBe(401);
    expect(tokens.requests.slice(-3)).toEqual([
      { user: "w", status: 401, scopes: ["repository:team/app:pull"] },
      { user: "w", status: 400, scopes: ["repository:team/app:pull"] },
      { user: undefined, status: 200, scopes: ["repository:team/app:pull"], access: [] },
    ]);
  });

  it("is trusted by kid (the libtrust fingerprint of a key in the root bundle) as well, and a bad signature is invalid_token", async () => {
    tokens.keyHeader = "kid";
    try {
      const jwt = await token(["repository:team/app:pull"], WRITER);
      expect(header(jwt)["kid"]).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
      expect((await getManifest("team/app", jwt)).status).toBe(404);
    } finally {
      tokens.keyHeader = "x5c";
    }
    const [head, body] = (await token(["repository:team/app:pull"], WRITER)).split(".");
    const forged = await getManifest("team/app", `${head}.${body}.${Buffer.alloc(64, 7).toString("base64url")}`);
    expect(forged.status).toBe(401);
    expect(forged.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("keeps serving across a registry SIGKILL and restart, and stops with the registry", async () => {
    await registry.kill();
    await registry.restart();
    expect((await getManifest("team/app", await token(["repository:team/app:pull"], WRITER))).status).toBe(404);
    const realm = tokens.realm;
    await registry.stop();
    await registry.stop(); // idempotent
    await expect(fetch(realm)).rejects.toThrow();
  });
});
