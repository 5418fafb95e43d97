import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createNaming, decodeImageMessage, encodeImageMessage, ImagePrepull, instanceClass, type FunctionRecord } from "@nimbus/protocol";
import { openControlPlane } from "@nimbus/store";
import { nodeHandlerZip, startRegistry, TestImages, type RegistryServer } from "@nimbus/testkit";
import { useCluster } from "../helpers/cluster.js";
import { expectFcError, fcClient, uniqueName } from "../helpers/fc.js";
import { eventually } from "../helpers/functions.js";
import { controlPlaneContents } from "../helpers/inspect.js";
import { Collector, connectNats } from "../helpers/nats.js";

// A real registry beside the cluster; the gateway gives up on a registry after 3 s (a frozen one included).
const ctx = useCluster({ registry: true, env: { NIMBUS_REGISTRY_TIMEOUT_MS: "3000" } });
const naming = createNaming();
let service: string;
let images: TestImages;
let one: { reference: string; digest: string };
let two: { reference: string; digest: string };

function registry(): RegistryServer {
  const r = ctx.cluster.registry;
  if (!r) throw new Error("the cluster has no registry");
  return r;
}

/** Pushes a built test image to the cluster's registry as `repository:tag`. */
function push(tag: string, repository: string, as: string) {
  return images.push(tag, { registry: registry(), repository, tag: as });
}

/** `registry/repository@sha256:…` of a pushed reference. */
function pinned(reference: string, digest: string): string {
  return `${reference.slice(0, reference.lastIndexOf(":"))}@${digest}`;
}

/** The function records the control plane holds, straight from NATS KV (LATEST and a version's). */
async function storedRecords(svc: string, fn: string, versionId: string): Promise<{ latest: FunctionRecord; version: FunctionRecord }> {
  const nc = await connectNats(ctx.cluster);
  try {
    const cp = await openControlPlane(nc, { naming });
    const latest = await cp.functions.get(naming.kvKeys.function(svc, fn));
    const version = await cp.versionFunctions.get(naming.kvKeys.versionFunction(svc, versionId, fn));
    if (!latest || !version) throw new Error("records missing");
    return { latest: latest.value, version: version.value };
  } finally {
    await nc.close();
  }
}

/** Asserts a refused create left nothing behind: no record, in the gateway's view or in KV. */
async function expectNotStored(svc: string, fn: string): Promise<void> {
  await expectFcError(ctx.fc.getFunction(svc, fn), "FunctionNotFound");
  expect((await controlPlaneContents(ctx.cluster)).functions).not.toContain(naming.kvKeys.function(svc, fn));
}

const create = (fn: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ctx.fc.createFunction(service, { functionName: fn, runtime: "custom-container", customContainerConfig: config, ...extra });

beforeAll(async () => {
  service = uniqueName("img");
  await ctx.fc.createService(service);
  images = await TestImages.open(join(ctx.cluster.dir, "images"));
  await images.marker("one", "one");
  await images.marker("two", "two");
  one = await push("one", "team/app", "v1");
  two = await push("two", "team/other", "v1");
}, 180_000);

describe("custom-container functions through @alicloud/fc2", () => {
  it("creates an image function with FC's defaults, pinned to the digest its tag names", async () => {
    const res = await create("defaults", { image: one.reference });
    const expected = {
      functionName: "defaults",
      runtime: "custom-container",
      handler: "index.handler",
      caPort: 9000,
      timeout: 3,
      memorySize: 128,
      instanceConcurrency: 1,
      layers: [],
      codeSize: 0,
      codeChecksum: "",
      customContainerConfig: {
        image: one.reference,
        command: "",
        args: "",
        accelerationType: "Default",
        accelerationInfo: { status: "Preparing" },
        instanceID: "",
        webServerMode: true,
        resolvedImageUri: pinned(one.reference, one.digest),
      },
    };
    expect(res.data).toMatchObject(expected);
    expect(res.data.customRuntimeConfig).toBeUndefined();
    expect((await ctx.fc.getFunction(service, "defaults")).data).toEqual(res.data);
    const listed = (await ctx.fc.listFunctions(service)).data.functions.find((f: { functionName: string }) => f.functionName === "defaults");
    expect(listed).toEqual(res.data);
    await expectFcError(ctx.fc.getFunctionCode(service, "defaults"), "CodeNotFound", `runs the image '${one.reference}'`);
  });

  it("stores every customContainerConfig field as given", async () => {
    const config = { image: one.reference, command: '["/bin/sh", "-c"]', args: '["exec /app/server --port 8080"]', accelerationType: "None", instanceID: "cri-test", webServerMode: false };
    const res = await create("full", config, { caPort: 8080, handler: "not-used", initializer: "init", memorySize: 256 });
    expect(res.data).toMatchObject({ caPort: 8080, handler: "not-used", initializer: "init", memorySize: 256, customContainerConfig: { ...config, resolvedImageUri: pinned(one.reference, one.digest) } });
    expect((await ctx.fc.getFunction(service, "full")).data).toEqual(res.data);
  });

  it("deletes an image function", async () => {
    await create("doomed", { image: one.reference });
    await ctx.fc.deleteFunction(service, "doomed");
    await expectNotStored(service, "doomed");
  });

  it.each([
    ["a reference that does not parse", { customContainerConfig: { image: "Team/UPPER/App:v1" } }, "customContainerConfig.image: image reference 'Team/UPPER/App:v1' is invalid"],
    ["a reference with spaces", { customContainerConfig: { image: "team/app v1" } }, "customContainerConfig.image: must be an image reference"],
    ["no image", { customContainerConfig: { command: '["/srv"]' } }, "customContainerConfig.image: is required"],
    ["no customContainerConfig", { customContainerConfig: undefined }, "customContainerConfig: is required"],
    ["command that is not a JSON array", { customContainerConfig: { image: "IMAGE", command: "/srv --port 9000" } }, "customContainerConfig.command: must be a JSON array of strings"],
    ["args with a number", { customContainerConfig: { image: "IMAGE", args: '["--port", 9000]' } }, "customContainerConfig.args: must be a JSON array of strings; entry 1 is number"],
    ["an unknown accelerationType", { customContainerConfig: { image: "IMAGE", accelerationType: "Turbo" } }, "customContainerConfig.accelerationType: is set to an invalid value"],
    ["code with custom-container", { customContainerConfig: { image: "IMAGE" }, code: { zipFile: "CODE" } }, "code: is not allowed with runtime custom-container"],
    ["customContainerConfig on nodejs20", { runtime: "nodejs20", handler: "index.handler", code: { zipFile: "CODE" }, customContainerConfig: { image: "IMAGE" } }, "customContainerConfig: is only allowed with runtime custom-container"],
  ])("refuses %s with InvalidArgument and stores nothing", async (_label, body, message) => {
    const fn = uniqueName("bad");
    const zipFile = await nodeHandlerZip();
    const filled = JSON.parse(JSON.stringify(body).replaceAll('"IMAGE"', JSON.stringify(one.reference)).replaceAll('"CODE"', JSON.stringify(zipFile))) as Record<string, unknown>;
    await expectFcError(ctx.fc.createFunction(service, { functionName: fn, runtime: "custom-container", ...filled }), "InvalidArgument", message);
    await expectNotStored(service, fn);
  });

  it.each([
    ["a repository that does not exist", () => `${registry().host}/team/nothing-here:v1`],
    ["a tag that does not exist", () => `${registry().host}/team/app:v404`],
    ["a digest that does not exist", () => `${registry().host}/team/app@sha256:${"0".repeat(64)}`],
  ])("refuses %s with InvalidArgument naming the image, and stores nothing", async (_label, image) => {
    const fn = uniqueName("missing");
    const err = await expectFcError(create(fn, { image: image() }), "InvalidArgument", `customContainerConfig.image: image ${image()}`);
    expect(err.message).toContain("not found");
    await expectNotStored(service, fn);
  });

  it("refuses an image from a registry that wants credentials the gateway does not have", async () => {
    const guarded = await startRegistry(join(ctx.cluster.dir, "guarded"), true);
    try {
      const { reference } = await images.push("one", { registry: guarded, repository: "team/private", tag: "v1" });
      const fn = uniqueName("auth");
      const err = await expectFcError(create(fn, { image: reference }), "InvalidArgument", `customContainerConfig.image: image ${reference}`);
      expect(err.message).toContain("NIMBUS_REGISTRY_AUTH");
      await expectNotStored(service, fn);
    } finally {
      await guarded.stop();
    }
  });

  it("refuses an image with no variant for this host's platform", async () => {
    const { tag, platforms } = await images.foreignOnly();
    const { reference } = await push(tag, "team/foreign", "v1");
    const fn = uniqueName("platform");
    const err = await expectFcError(create(fn, { image: reference }), "InvalidArgument", `customContainerConfig.image: image ${reference} has no manifest for linux/`);
    for (const p of platforms) expect(err.message).toContain(`${p.os}/${p.architecture}`);
    await expectNotStored(service, fn);
  });

  it("updates without the image keep the pinned digest (see the registry-down test: they need no registry)", async () => {
    const fn = uniqueName("keep");
    await create(fn, { image: one.reference, command: '["/a"]' });
    const res = await ctx.fc.updateFunction(service, fn, { memorySize: 512, customContainerConfig: { args: '["-v"]', webServerMode: false } });
    expect(res.data).toMatchObject({
      memorySize: 512,
      customContainerConfig: { image: one.reference, command: '["/a"]', args: '["-v"]', webServerMode: false, resolvedImageUri: pinned(one.reference, one.digest) },
    });
  });

  it("refuses updates that do not fit an image function, or make a code function an image one", async () => {
    const fn = uniqueName("rules");
    await create(fn, { image: one.reference });
    const zipFile = await nodeHandlerZip();
    await expectFcError(ctx.fc.updateFunction(service, fn, { code: { zipFile } }), "InvalidArgument", "code: is not allowed with runtime custom-container");
    await expectFcError(ctx.fc.updateFunction(service, fn, { runtime: "nodejs20" }), "InvalidArgument", "cannot change from 'custom-container' to 'nodejs20'");
    await expectFcError(ctx.fc.updateFunction(service, fn, { customContainerConfig: { command: "not json" } }), "InvalidArgument", "customContainerConfig.command");
    const codeFn = uniqueName("code");
    await ctx.fc.createFunction(service, { functionName: codeFn, runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    await expectFcError(
      ctx.fc.updateFunction(service, codeFn, { runtime: "custom-container", customContainerConfig: { image: one.reference } }),
      "InvalidArgument",
      "cannot change from 'nodejs20' to 'custom-container'",
    );
    await expectFcError(ctx.fc.updateFunction(service, codeFn, { customContainerConfig: { image: one.reference } }), "InvalidArgument", "customContainerConfig: is only allowed");
    expect((await ctx.fc.getFunction(service, fn)).data.customContainerConfig.resolvedImageUri).toBe(pinned(one.reference, one.digest));
  });

  it("a version keeps the digest it was published with; LATEST follows the tag when the update re-sends it", async () => {
    const svc = uniqueName("ver");
    await ctx.fc.createService(svc);
    const tagged = await push("one", "team/moving", "stable");
    await ctx.fc.createFunction(svc, { functionName: "app", runtime: "custom-container", customContainerConfig: { image: tagged.reference } });
    expect((await ctx.fc.publishVersion(svc)).data.versionId).toBe("1");

    const moved = await push("two", "team/moving", "stable");
    expect(moved.digest).not.toBe(tagged.digest);
    // Without re-sending the image, LATEST stays where it was.
    await ctx.fc.updateFunction(svc, "app", { description: "still old" });
    expect((await ctx.fc.getFunction(svc, "app")).data.customContainerConfig.resolvedImageUri).toBe(pinned(tagged.reference, tagged.digest));

    const updated = await ctx.fc.updateFunction(svc, "app", { customContainerConfig: { image: tagged.reference } });
    expect(updated.data.customContainerConfig).toMatchObject({ image: tagged.reference, resolvedImageUri: pinned(tagged.reference, moved.digest) });
    expect((await ctx.fc.getFunction(svc, "app", {}, "LATEST")).data.customContainerConfig.resolvedImageUri).toBe(pinned(tagged.reference, moved.digest));
    const v1 = await ctx.fc.getFunction(svc, "app", {}, "1");
    expect(v1.data.customContainerConfig).toMatchObject({ image: tagged.reference, resolvedImageUri: pinned(tagged.reference, tagged.digest) });

    // Instances of LATEST and of version 1 are of different classes: the moved tag means new instances.
    const { latest, version } = await storedRecords(svc, "app", "1");
    expect(latest.resolvedImage?.digest).toBe(moved.digest);
    expect(version.resolvedImage?.digest).toBe(tagged.digest);
    expect({ ...latest, resolvedImage: version.resolvedImage, description: version.description, lastModifiedTime: version.lastModifiedTime }).toEqual(version);
    expect(instanceClass(latest, "1")).not.toBe(instanceClass(version, "1"));
    // A new version pins the new digest; version 1 still has the old one.
    expect((await ctx.fc.publishVersion(svc)).data.versionId).toBe("2");
    expect((await ctx.fc.getFunction(svc, "app", {}, "2")).data.customContainerConfig.resolvedImageUri).toBe(pinned(tagged.reference, moved.digest));
    expect((await ctx.fc.getFunction(svc, "app", {}, "1")).data.customContainerConfig.resolvedImageUri).toBe(pinned(tagged.reference, tagged.digest));
  });

  it("asks the invokers to pre-pull after a create or an update that resolved an image with accelerationType Default", async () => {
    const nc = await connectNats(ctx.cluster);
    try {
      const prepulls = new Collector(nc, naming.subjects.imagesPrepull);
      await nc.flush();
      // None asks for nothing, so the first request seen is the Default function's.
      await create(uniqueName("none"), { image: two.reference, accelerationType: "None" });
      await create(uniqueName("dflt"), { image: one.reference });
      const [first] = await prepulls.waitFor(1);
      expect(decodeImageMessage(ImagePrepull, first?.data ?? new Uint8Array())).toEqual({ pinned: pinned(one.reference, one.digest), digest: one.digest });

      const fn = uniqueName("upd");
      await create(fn, { image: two.reference, accelerationType: "None" });
      await ctx.fc.updateFunction(service, fn, { customContainerConfig: { accelerationType: "Default" } });
      const second = (await prepulls.waitFor(2))[1];
      expect(decodeImageMessage(ImagePrepull, second?.data ?? new Uint8Array())).toEqual({ pinned: pinned(two.reference, two.digest), digest: two.digest });
    } finally {
      await nc.close();
    }
  });

  it("reports accelerationInfo Ready once an invoker holds the digest: from the invokers' answers when a gateway starts, and from pull events", async () => {
    await images.marker("listed", "listed");
    await images.marker("pulled", "pulled");
    const listed = await push("listed", "team/listed", "v1");
    const pulled = await push("pulled", "team/pulled", "v1");
    const [fnListed, fnPulled] = [uniqueName("listed"), uniqueName("pulled")];
    await create(fnListed, { image: listed.reference });
    await create(fnPulled, { image: pulled.reference });
    const nc = await connectNats(ctx.cluster);
    try {
      // An invoker node's side of the exchange: what its cache holds, when asked.
      const cached = { digest: listed.digest, references: [listed.reference], sizeBytes: 1, lastUsed: new Date().toISOString(), inUse: 0 };
      nc.subscribe(naming.subjects.imagesList, {
        callback: (_err, msg) => {
          msg.respond(encodeImageMessage({ node: "invoker-test", images: [cached] }));
        },
      });
      await nc.flush();
      await ctx.cluster.startService("gateway");
      const later = fcClient(ctx.cluster, 1);
      await eventually(async () => {
        expect((await later.getFunction(service, fnListed)).data.customContainerConfig.accelerationInfo).toEqual({ status: "Ready" });
      }, "a gateway started later learns what the invokers hold");

      expect((await ctx.fc.getFunction(service, fnPulled)).data.customContainerConfig.accelerationInfo).toEqual({ status: "Preparing" });
      nc.publish(naming.subjects.imagesPulled, encodeImageMessage({ digest: pulled.digest, node: "invoker-test" }));
      for (const fc of [ctx.fc, later]) {
        await eventually(async () => {
          expect((await fc.getFunction(service, fnPulled)).data.customContainerConfig.accelerationInfo).toEqual({ status: "Ready" });
        }, "every gateway hears of a pull");
      }
    } finally {
      await nc.close();
    }
  });

  it("answers 503 while the registry is down or frozen, stores nothing, and works again once it is back", async () => {
    const fn = uniqueName("down");
    const existing = uniqueName("kept");
    await create(existing, { image: one.reference });
    await registry().kill();
    try {
      await expectFcError(create(fn, { image: one.reference }), "ServiceUnavailable", `image ${one.reference}`);
      await expectNotStored(service, fn);
      await expectFcError(ctx.fc.updateFunction(service, existing, { customContainerConfig: { image: two.reference } }), "ServiceUnavailable");
      expect((await ctx.fc.getFunction(service, existing)).data.customContainerConfig).toMatchObject({ image: one.reference, resolvedImageUri: pinned(one.reference, one.digest) });
      // An update that does not send the image needs no registry.
      const kept = await ctx.fc.updateFunction(service, existing, { timeout: 30, customContainerConfig: { command: '["/srv"]' } });
      expect(kept.data).toMatchObject({ timeout: 30, customContainerConfig: { command: '["/srv"]', resolvedImageUri: pinned(one.reference, one.digest) } });
    } finally {
      await registry().restart();
    }
    registry().pause();
    try {
      await expectFcError(create(fn, { image: one.reference }), "ServiceUnavailable", one.reference);
      await expectNotStored(service, fn);
    } finally {
      registry().resume();
    }
    expect((await create(fn, { image: one.reference })).data.customContainerConfig.resolvedImageUri).toBe(pinned(one.reference, one.digest));
  });
});
