import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TestImages, type TestCluster } from "@nimbus/testkit";
import { fcClient } from "../helpers/fc.js";
import { eventually, processesMatching } from "../helpers/functions.js";
import { invokerDir } from "../helpers/instances.js";
import { withCluster } from "../helpers/nats.js";

// What an invoker does with images it must not or cannot run, and with a pull it was killed in the
// middle of (RELIABILITY #25): clear errors, nothing half-unpacked used, the next start pulls again.

async function imageFunction(cluster: TestCluster, name: string, image: string, spec: Record<string, unknown> = {}): Promise<void> {
  const client = cluster.client();
  await client.createService("limits").catch(() => undefined);
  await client.createFunction("limits", { functionName: name, runtime: "custom-container", timeout: 10, customContainerConfig: { image, accelerationType: "None" }, ...spec });
}

async function functionLog(cluster: TestCluster, fn: string): Promise<string[]> {
  return (await cluster.client().getFunctionLogs("limits", fn, { limit: "100" })).data.logs.map((l) => l.message);
}

describe("images an invoker will not run", () => {
  it("fails the start of an image over NIMBUS_MAX_IMAGE_BYTES or with a layer that escapes its root, saying why in the function's log", async () => {
    await withCluster(
      { services: ["gateway", "invoker", "log-collector"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_MAX_IMAGE_BYTES: String(2 * 1024 * 1024) } },
      async (cluster) => {
        const registry = cluster.registry;
        if (!registry) throw new Error("no registry");
        const images = await TestImages.open(join(cluster.dir, "test-images"));
        const fc = fcClient(cluster);
        const big = await images.push(await images.node(), { registry, repository: "apps/big", tag: "v1" });
        await imageFunction(cluster, "big", big.reference);
        const tooBig = await fc.invokeFunction("limits", "big", "");
        expect(tooBig.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
        expect(tooBig.data.errorMessage).toMatch(/cannot run: .*over this node.s limit of 2097152 bytes \(NIMBUS_MAX_IMAGE_BYTES\)/);
        await eventually(async () => {
          if (!(await functionLog(cluster, "big")).some((m) => /the instance failed to start: .*cannot run/.test(m))) throw new Error("not logged yet");
        }, "the reason is in the function's log");

        const hostile = await images.push(await images.hostile("symlink-out"), { registry, repository: "apps/hostile", tag: "v1" });
        await imageFunction(cluster, "hostile", hostile.reference);
        const refused = await fc.invokeFunction("limits", "hostile", "");
        expect(refused.data.errorMessage).toMatch(/outside the image's root/);
        // Nothing of either was kept.
        expect((await readdir(join(invokerDir(cluster), "images"))).filter((n) => !n.startsWith("."))).toEqual([]);
      },
    );
  });

  it("answers 429 when the node's image cache has no room for the image, and nothing is kept", async () => {
    await withCluster(
      { services: ["gateway", "invoker"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_IMAGE_CACHE_BYTES: String(1024 * 1024) } },
      async (cluster) => {
        const registry = cluster.registry;
        if (!registry) throw new Error("no registry");
        const images = await TestImages.open(join(cluster.dir, "test-images"));
        const pushed = await images.push(await images.node(), { registry, repository: "apps/node", tag: "v1" });
        await imageFunction(cluster, "crowded", pushed.reference);
        const err = await fcClient(cluster)
          .invokeFunction("limits", "crowded", "")
          .then(
            () => undefined,
            (e: { code?: string; message?: string }) => e,
          );
        expect(err).toMatchObject({ code: "ResourceExhausted" });
        expect(err?.message).toMatch(/no room on this node for image/);
        expect((await readdir(join(invokerDir(cluster), "images"))).filter((n) => !n.startsWith("."))).toEqual([]);
      },
    );
  });
});

describe("an invoker SIGKILLed in the middle of a pull (RELIABILITY #25)", () => {
  it("leaves nothing half-unpacked that is ever used: its next start cleans up, pulls again and runs the image", async () => {
    await withCluster({ services: ["gateway", "invoker"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn" } }, async (cluster) => {
      const registry = cluster.registry;
      if (!registry) throw new Error("no registry");
      const images = await TestImages.open(join(cluster.dir, "test-images"));
      // The Node server over 96 MB that does not compress: a pull long enough to be caught in the middle.
      const tag = await images.node("heavy-data", [[{ path: "data", dir: true }, { path: "data/blob", content: randomBytes(96 * 1024 * 1024) }]]);
      const pushed = await images.push(tag, { registry, repository: "apps/heavy", tag: "v1" });
      await imageFunction(cluster, "heavy", pushed.reference, { timeout: 60 });
      const fc = fcClient(cluster);
      const invoker = cluster.service("invoker");
      const dir = invokerDir(cluster);

      const first = fc.invokeFunction("limits", "heavy", "").catch((err: unknown) => err);
      await eventually(async () => {
        if ((await processesMatching(join(dir, "images"))).filter((p) => /skopeo|umoci/.test(p)).length === 0) throw new Error("no pull running yet");
      }, "a pull is running", 60_000);
      await invoker.process.kill();
      const staged = (await readdir(join(dir, "images"))).filter((n) => n.startsWith("."));
      console.log(`killed mid-pull: left behind ${JSON.stringify(staged)}`);
      expect(staged.length).toBeGreaterThan(0);
      await first;
      // No tool of the killed pull lives on.
      await eventually(async () => {
        const left = (await processesMatching(join(dir, "images"))).filter((p) => /skopeo|umoci/.test(p));
        if (left.length > 0) throw new Error(`${left.length} pull tools live on`);
      }, "the pull's tools died with the invoker");

      await invoker.start();
      expect((await readdir(join(dir, "images"))).filter((n) => n.startsWith("."))).toEqual([]);
      const res = await eventually(async () => fc.invokeFunction("limits", "heavy", ""), "the function runs after the restart", 60_000);
      expect(JSON.parse(res.data.toString())).toMatchObject({ image: "node", marker: "heavy-data" });
    });
  });
});
