import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TestImages, type PushedImage } from "@nimbus/testkit";
import type { FunctionLogLine } from "@nimbus/sdk";
import { useCluster } from "../helpers/cluster.js";
import { eventually } from "../helpers/functions.js";
import { sandboxes } from "../helpers/instances.js";
import { connectNats } from "../helpers/nats.js";
import { createNaming, decodeImageMessage, ImageListReply } from "@nimbus/protocol";
import { send } from "../helpers/http.js";

// Container images run as functions: the image's root filesystem in the same sandbox as every
// other function, its server following FC's custom-runtime contract, its output in the function's
// log — pulled from a real registry (Debian's docker-registry), built without a Docker engine.
const ctx = useCluster({ services: ["gateway", "invoker", "log-collector"], registry: true, env: { NIMBUS_LOG_LEVEL: "warn" } });

let images: TestImages;
let node: PushedImage;
let python: PushedImage;

beforeAll(async () => {
  images = await TestImages.open(join(ctx.cluster.dir, "test-images"));
  const registry = ctx.cluster.registry;
  if (!registry) throw new Error("the cluster has no registry");
  await images.node();
  await images.python();
  node = await images.push("node", { registry, repository: "apps/node", tag: "v1" });
  python = await images.push("python", { registry, repository: "apps/python", tag: "v1" });
}, 180_000);

async function createImageFunction(service: string, name: string, config: Record<string, unknown>, spec: Record<string, unknown> = {}): Promise<void> {
  const client = ctx.cluster.client();
  await client.createService(service).catch((err: { code?: string }) => {
    if (err.code !== "ServiceAlreadyExists") throw err;
  });
  await client.createFunction(service, { functionName: name, runtime: "custom-container", timeout: 10, customContainerConfig: { accelerationType: "None", ...config }, ...spec });
}

async function functionLog(service: string, fn: string): Promise<FunctionLogLine[]> {
  return (await ctx.cluster.client().getFunctionLogs(service, fn, { limit: "200" })).data.logs;
}

async function expectInLog(service: string, fn: string, pattern: RegExp): Promise<void> {
  await eventually(async () => {
    const lines = await functionLog(service, fn);
    if (!lines.some((l) => pattern.test(l.message))) throw new Error(`no line matches ${pattern}: ${JSON.stringify(lines.map((l) => l.message).slice(-10))}`);
  }, `the function's log has ${pattern}`);
}

describe("container images as functions", () => {
  it("answers event invocations from a Node.js image's server, with its output in the function's log and Tail", async () => {
    await createImageFunction("img", "node", { image: node.reference });
    const res = await ctx.fc.invokeFunction("img", "node", "hello image", { "x-fc-log-type": "Tail" });
    expect(res.headers["x-fc-error-type"]).toBeUndefined();
    expect(JSON.parse(res.data.toString())).toMatchObject({ image: "node", method: "POST", path: "/invoke", body: "hello image", requestId: res.headers["x-fc-request-id"], marker: "node-image", uid: 0 });
    expect(res.headers["x-fc-instance-id"]).toMatch(/^c-/);
    expect(Buffer.from(String(res.headers["x-fc-log-result"]), "base64").toString()).toMatch(/node image listening on 9000/);
    await expectInLog("img", "node", /node image listening on 9000/);
    // Warm: the same instance answers again.
    const again = await ctx.fc.invokeFunction("img", "node", "again");
    expect(again.headers["x-fc-instance-id"]).toBe(res.headers["x-fc-instance-id"]);
    const fn = (await ctx.fc.getFunction("img", "node")).data;
    expect(fn.customContainerConfig.resolvedImageUri).toBe(`${node.reference.replace(/:v1$/, "")}@${node.digest}`);
  });

  it("passes HTTP-trigger requests through to a Python image's server, path and query as sent", async () => {
    await createImageFunction("img", "web", { image: python.reference, webServerMode: true });
    await ctx.fc.createTrigger("img", "web", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["GET", "POST"] } });
    const res = await send(ctx.cluster, { method: "POST", path: "/2016-08-15/proxy/img/web/orders/7?expand=1", sign: false, body: "payload" });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ image: "python", method: "POST", path: "/2016-08-15/proxy/img/web/orders/7?expand=1", body: "payload" });
  });

  it("keeps running the digest a version pinned after the tag moves, while LATEST follows the tag on update", async () => {
    const registry = ctx.cluster.registry;
    if (!registry) throw new Error("no registry");
    const first = await images.push("node", { registry, repository: "apps/moving", tag: "stable" });
    await createImageFunction("pinned", "app", { image: first.reference });
    await ctx.fc.publishVersion("pinned", "node build");
    const moved = await images.push("python", { registry, repository: "apps/moving", tag: "stable" });
    expect(moved.digest).not.toBe(first.digest);
    // Until LATEST is updated with the tag, it keeps what it resolved to.
    expect(JSON.parse((await ctx.fc.invokeFunction("pinned", "app", "")).data.toString()).image).toBe("node");
    await ctx.fc.updateFunction("pinned", "app", { customContainerConfig: { image: first.reference } });
    expect(JSON.parse((await ctx.fc.invokeFunction("pinned", "app", "")).data.toString()).image).toBe("python");
    const v1 = await ctx.fc.invokeFunction("pinned", "app", "", {}, "1");
    expect(JSON.parse(v1.data.toString()).image).toBe("node");
    expect(v1.headers["x-fc-invocation-service-version"]).toBe("1");
  });

  it("pre-pulls an image when the function is created with accelerationType Default, so the first call does not download it", async () => {
    const registry = ctx.cluster.registry;
    if (!registry) throw new Error("no registry");
    const pushed = await images.push(await images.node("prepulled"), { registry, repository: "apps/prepulled", tag: "v1" });
    await createImageFunction("img", "pre", { image: pushed.reference, accelerationType: "Default" });
    await eventually(async () => {
      const status = (await ctx.fc.getFunction("img", "pre")).data.customContainerConfig.accelerationInfo.status;
      if (status !== "Ready") throw new Error(`acceleration is ${status}`);
    }, "the function's acceleration is Ready");
    // The node holds the image before any call was made.
    const nc = await connectNats(ctx.cluster);
    const reply = await nc.request(createNaming("nimbus").subjects.imagesList, new Uint8Array(0), { timeout: 5_000 });
    await nc.close();
    const cached = decodeImageMessage(ImageListReply, reply.data);
    expect(cached?.images.map((i) => i.digest)).toContain(pushed.digest);
    const res = await ctx.fc.invokeFunction("img", "pre", "");
    expect(JSON.parse(res.data.toString())).toMatchObject({ image: "node", marker: "prepulled" });
  });

  it("runs a command to completion per invocation in non-web-server mode, the event in FC_CUSTOM_CONTAINER_EVENT", async () => {
    await createImageFunction("img", "job", {
      image: node.reference,
      webServerMode: false,
      command: JSON.stringify(["/usr/local/bin/node", "-e", "console.log('job got ' + process.env.FC_CUSTOM_CONTAINER_EVENT); process.exit(process.env.FC_CUSTOM_CONTAINER_EVENT === 'fail' ? 4 : 0)"]),
    });
    const ok = await ctx.fc.invokeFunction("img", "job", "work", { "x-fc-log-type": "Tail" });
    expect(ok.headers["x-fc-error-type"]).toBeUndefined();
    expect(Buffer.from(String(ok.headers["x-fc-log-result"]), "base64").toString()).toMatch(/job got work/);
    const failed = await ctx.fc.invokeFunction("img", "job", "fail");
    expect(failed.headers["x-fc-error-type"]).toBe("UnhandledInvocationError");
    expect(failed.data.errorMessage).toMatch(/exited \(4\)/);
  });
});

describe("images that cannot start", () => {
  it("fails an entrypoint that is not in the image at once, with the reason in the function's log", async () => {
    await createImageFunction("bad", "noentry", { image: node.reference, command: JSON.stringify(["/app/missing-server"]) }, { timeout: 60 });
    const res = await ctx.fc.invokeFunction("bad", "noentry", "");
    expect(res.data.errorMessage).toMatch(/cannot start \/app\/missing-server: it does not exist/);
    await expectInLog("bad", "noentry", /the instance failed to start: .*missing-server/);
  });

  it("fails a server that never listens on caPort at the function's own deadline, and one that exits at start with its exit", async () => {
    const before = (await sandboxes(ctx.cluster)).length;
    await createImageFunction("bad", "silent", { image: node.reference, command: JSON.stringify(["/usr/local/bin/node", "-e", "console.log('warming up'); setInterval(() => {}, 1000)"]) }, { timeout: 2, initializationTimeout: 1 });
    const silent = await ctx.fc.invokeFunction("bad", "silent", "");
    expect(silent.data.errorMessage).toMatch(/cannot be started: it did not listen on port 9000 within 2 seconds/);
    await expectInLog("bad", "silent", /warming up/);
    await expectInLog("bad", "silent", /the instance failed to start: .*did not listen on port 9000/);

    await createImageFunction("bad", "quitter", { image: node.reference, command: JSON.stringify(["/usr/local/bin/node", "-e", "console.error('no config'); process.exit(3)"]) }, { timeout: 60 });
    const quitter = await ctx.fc.invokeFunction("bad", "quitter", "");
    expect(quitter.data.errorMessage).toMatch(/exited \(3\) before listening on port 9000/);
    await expectInLog("bad", "quitter", /no config/);
    await eventually(async () => {
      const now = (await sandboxes(ctx.cluster)).length;
      if (now > before) throw new Error(`${now - before} sandboxes of failed starts live on`);
    }, "no sandbox of a failed image start lives on");
  });

  it("answers 503 while the registry is down at the first pull, and runs once it is back", async () => {
    const registry = ctx.cluster.registry;
    if (!registry) throw new Error("no registry");
    // An image of its own: nothing on this node has pulled it yet.
    const pushed = await images.push(await images.node("later"), { registry, repository: "apps/later", tag: "v1" });
    await createImageFunction("img", "later", { image: pushed.reference });
    await registry.process.kill();
    const down = await ctx.fc.invokeFunction("img", "later", "").then(
      () => undefined,
      (err: { code?: string; status?: number; message?: string }) => err,
    );
    expect(down).toMatchObject({ code: "ServiceUnavailable" });
    expect(down?.message).toMatch(/cannot pull image/);
    await registry.restart();
    const res = await ctx.fc.invokeFunction("img", "later", "");
    expect(JSON.parse(res.data.toString())).toMatchObject({ image: "node", marker: "later" });
  });
});
