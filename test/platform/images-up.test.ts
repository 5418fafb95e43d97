import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryServer, TestImages } from "@nimbus/testkit";
import { exited, freePorts, sdk, startUp, type Up } from "./launch.js";

// Issue 12's "done when", as a user has it: `npm start` (nimbus up) as it runs on this machine, a
// registry of their own on loopback, and FC's own SDK.
let dir: string;
let up: Up;
let registry: RegistryServer;
let images: TestImages;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-images-up-"));
  await chmod(dir, 0o755);
  registry = await RegistryServer.start({ dir: join(dir, "registry") });
  images = await TestImages.open(join(dir, "test-images"));
  await images.node();
  await images.python();
  up = await startUp(join(dir, "home"), await freePorts());
}, 180_000);

afterAll(async () => {
  up?.child.kill("SIGTERM");
  if (up) await exited(up.child);
  await registry?.stop();
  if (!process.env["NIMBUS_TEST_KEEP"]) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("container images on npm start, through @alicloud/fc2", () => {
  it("answers event invocations and HTTP-trigger requests from an image, and a version keeps the digest it pinned after the tag moves", async () => {
    const fc = sdk(up, { timeout: 120_000 });
    const first = await images.push("node", { registry, repository: "team/app", tag: "prod" });
    await fc.createService("shop");
    const created = await fc.createFunction("shop", {
      functionName: "app",
      runtime: "custom-container",
      caPort: 9000,
      timeout: 30,
      customContainerConfig: { image: first.reference },
    });
    expect(created.data.customContainerConfig).toMatchObject({ image: first.reference, accelerationType: "Default", webServerMode: true, resolvedImageUri: `${registry.host}/team/app@${first.digest}` });

    const event = await fc.invokeFunction("shop", "app", "from fc2");
    expect(JSON.parse(event.data.toString())).toMatchObject({ image: "node", method: "POST", path: "/invoke", body: "from fc2" });

    await fc.createTrigger("shop", "app", { triggerName: "web", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET"] } });
    const web = await fetch(`${up.printed.endpoint}/2016-08-15/proxy/shop/app/cart?items=2`);
    expect(web.status).toBe(200);
    expect(await web.json()).toMatchObject({ image: "node", method: "GET", path: "/2016-08-15/proxy/shop/app/cart?items=2" });

    await fc.publishVersion("shop", "node build");
    const moved = await images.push("python", { registry, repository: "team/app", tag: "prod" });
    await fc.updateFunction("shop", "app", { customContainerConfig: { image: first.reference } });
    const latest = await fc.invokeFunction("shop", "app", "");
    expect(JSON.parse(latest.data.toString()).image).toBe("python");
    const pinned = await fc.invokeFunction("shop", "app", "", {}, "1");
    expect(JSON.parse(pinned.data.toString()).image).toBe("node");
    expect((await fc.getFunction("shop", "app", {}, "1")).data.customContainerConfig.resolvedImageUri).toBe(`${registry.host}/team/app@${first.digest}`);
    expect((await fc.getFunction("shop", "app")).data.customContainerConfig.resolvedImageUri).toBe(`${registry.host}/team/app@${moved.digest}`);
  });
});
