import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryServer } from "./registry-server.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-registry-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Uploads a blob with the registry API's monolithic upload (POST, then PUT with the digest). */
async function uploadBlob(server: RegistryServer, repository: string, content: Buffer, auth: string): Promise<string> {
  const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
  const started = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: "POST", headers: { authorization: auth } });
  expect(started.status).toBe(202);
  const location = new URL(started.headers.get("location") ?? "", server.url);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: content, headers: { authorization: auth, "content-type": "application/octet-stream" } });
  expect(put.status).toBe(201);
  return digest;
}

describe("docker-registry", () => {
  it("requires its htpasswd account, logs every request, and keeps blobs across SIGKILL and restart on the same port", async () => {
    const server = await RegistryServer.start({ dir: join(dir, "auth"), htpasswd: { user: "u", password: "p4ss" } });
    const auth = `Basic ${Buffer.from("u:p4ss").toString("base64")}`;
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      expect(server.credentials).toBe("u:p4ss");
      expect((await fetch(`${server.url}/v2/`)).status).toBe(401);
      expect((await fetch(`${server.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from("u:wrong").toString("base64")}` } })).status).toBe(401);
      expect((await fetch(`${server.url}/v2/`, { headers: { authorization: auth } })).status).toBe(200);

      const digest = await uploadBlob(server, "team/app", Buffer.from("layer bytes"), auth);
      await server.kill();
      expect(server.process.running).toBe(false);
      await server.restart();
      const blob = await fetch(`${server.url}/v2/team/app/blobs/${digest}`, { headers: { authorization: auth } });
      expect(await blob.text()).toBe("layer bytes");
      expect(server.requests).toContainEqual({ method: "GET", uri: `/v2/team/app/blobs/${digest}`, status: 200 });
    } finally {
      await server.stop();
    }
  });

  it("answers anonymously without htpasswd, and can be frozen and thawed", async () => {
    const server = await RegistryServer.start({ dir: join(dir, "anon") });
    try {
      expect(server.credentials).toBeUndefined();
      expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
      server.pause();
      await expect(fetch(`${server.url}/v2/`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
      server.resume();
      expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
