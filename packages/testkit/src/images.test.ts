import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RegistryServer } from "@nimbus/embedded";
import { startRegistry } from "./cluster.js";
import { hostTestPlatform } from "./images.js";
import { formatTestPlatform, TestImages } from "./test-images.js";

const exec = promisify(execFile);

let dir: string;
let registry: RegistryServer;
let images: TestImages;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-test-images-"));
  registry = await startRegistry(join(dir, "registry"), true);
  images = await TestImages.open(dir);
});
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function inspect(reference: string, raw = false): Promise<Record<string, unknown>> {
  const args = ["inspect", "--tls-verify=false", "--creds", registry.credentials ?? "", ...(raw ? ["--raw"] : []), `docker://${reference}`];
  return JSON.parse((await exec("skopeo", args)).stdout) as Record<string, unknown>;
}

describe("test images (umoci + skopeo, no Docker engine)", () => {
  it("builds the Node.js server image from this host's node and its libraries, and pushes it with credentials", async () => {
    const started = Date.now();
    const pushed = await images.push(await images.node(), { registry, repository: "test/node", tag: "v1" });
    console.log(`node image built and pushed in ${Date.now() - started} ms`);
    expect(pushed.reference).toBe(`${registry.host}/test/node:v1`);
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const info = await inspect(pushed.reference);
    expect(info["Architecture"]).toBe(hostTestPlatform().architecture);
    expect(info["Env"]).toContain("IMAGE_MARKER=node-image");
    const config = await inspect(pushed.reference, true);
    console.log("node image manifest", JSON.stringify(config).slice(0, 300));

    const again = Date.now();
    await images.node();
    console.log(`second node() on the same layout: ${Date.now() - again} ms (cached)`);
  });

  it("builds the Python http.server image, the layered image and pushes them as Docker schema 2 too", async () => {
    const python = await images.push(await images.python(), { registry, repository: "test/python", tag: "v1", format: "v2s2" });
    const manifest = await inspect(python.reference, true);
    expect(manifest["mediaType"]).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const layered = await images.push(await images.layered(), { registry, repository: "test/layered", tag: "v1" });
    expect(((await inspect(layered.reference, true))["layers"] as unknown[]).length).toBe(3);
  });

  it("pushes multi-platform indexes whose digest is the index the registry stores", async () => {
    const multi = await images.push(await images.multiArch(), { registry, repository: "test/multi", tag: "v1" });
    const index = await inspect(multi.reference, true);
    const platforms = (index["manifests"] as { platform: { os: string; architecture: string; variant?: string } }[]).map((m) => formatTestPlatform(m.platform));
    expect(platforms).toEqual(["linux/amd64", "linux/arm64/v8"]);

    const foreign = await images.foreignOnly();
    const pushed = await images.push(foreign.tag, { registry, repository: "test/foreign", tag: "v1" });
    const offered = ((await inspect(pushed.reference, true))["manifests"] as { platform: { architecture: string } }[]).map((m) => m.platform.architecture);
    expect(offered).not.toContain(hostTestPlatform().architecture);
    expect(offered).toHaveLength(2);
  });
});
