import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNaming, type ServiceRecord } from "@nimbus/protocol";
import { NatsServer } from "@nimbus/testkit";
import { openControlPlane, type ControlPlane } from "./control-plane.js";

const naming = createNaming("storetest");
let dir: string;
let server: NatsServer;
let nc: NatsConnection;
let other: NatsConnection;
let cp: ControlPlane;

const service = (name: string, description = ""): ServiceRecord => ({
  serviceName: name,
  serviceId: `id-${name}`,
  description,
  tags: {},
  createdTime: "2026-01-01T00:00:00Z",
  lastModifiedTime: "2026-01-01T00:00:00Z",
});

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-store-"));
  server = await NatsServer.start({ dir });
  const opts = { servers: server.url.replace("nats://", ""), maxReconnectAttempts: -1, reconnectTimeWait: 100 };
  nc = await connect(opts);
  other = await connect(opts);
  cp = await openControlPlane(nc, { naming });
});

afterAll(async () => {
  await nc?.close();
  await other?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("KV repositories", () => {
  it("create refuses an existing key; update and delete are compare-and-set", async () => {
    const rev = await cp.services.create("a", service("a"));
    expect(typeof rev).toBe("number");
    expect(await cp.services.create("a", service("a"))).toBe("exists");
    const next = await cp.services.update("a", service("a", "v2"), rev as number);
    expect(typeof next).toBe("number");
    expect(await cp.services.update("a", service("a", "stale"), rev as number)).toBe("conflict");
    expect(await cp.services.delete("a", rev as number)).toBe("conflict");
    expect((await cp.services.get("a"))?.value.description).toBe("v2");
    expect(await cp.services.delete("a", next as number)).toBe("deleted");
    expect(await cp.services.get("a")).toBeUndefined();
    expect(typeof (await cp.services.create("a", service("a")))).toBe("number");
  });

  it("lists keys by filter", async () => {
    const fn = (s: string, f: string) => ({
      serviceName: s, functionName: f, functionId: f, runtime: "nodejs20" as const, handler: "i.h",
      codeSize: 1, codeChecksum: "1", codeSha256: "x", createdTime: "t", lastModifiedTime: "t",
    });
    await cp.functions.create("s1.f1", fn("s1", "f1"));
    await cp.functions.create("s1.f2", fn("s1", "f2"));
    await cp.functions.create("s10.f1", fn("s10", "f1"));
    expect((await cp.functions.keys(naming.kvKeys.functionsOf("s1"))).sort()).toEqual(["s1.f1", "s1.f2"]);
    expect(await cp.functions.keys(naming.kvKeys.functionsOf("nope"))).toEqual([]);
  });

  it("refuses records that do not match the schema", async () => {
    const kv = cp.services.kv;
    await kv.put("broken", JSON.stringify({ serviceName: 1 }));
    await expect(cp.services.get("broken")).rejects.toThrow();
    await kv.delete("broken");
  });
});

describe("watched mirrors", () => {
  it("load what is there, follow other writers, and survive a nats-server crash", async () => {
    await cp.services.create("m1", service("m1"));
    const mirror = await cp.services.mirror();
    expect(mirror.ready).toBe(true);
    expect(mirror.get("m1")?.value.serviceName).toBe("m1");

    // Another process's write arrives through the watcher.
    const otherCp = await openControlPlane(other, { naming });
    await otherCp.services.create("m2", service("m2"));
    await eventually(() => mirror.get("m2") !== undefined, "m2 in the mirror");
    await otherCp.services.delete("m2");
    await eventually(() => mirror.get("m2") === undefined, "m2 gone from the mirror");

    // Our own writes are visible at once.
    await cp.services.create("m3", service("m3"));
    expect(mirror.get("m3")).toBeDefined();
    await cp.services.delete("m3");
    expect(mirror.get("m3")).toBeUndefined();

    await server.kill();
    await server.restart();
    // Writes fail until the client has reconnected; keep trying.
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        await otherCp.services.create("m4", service("m4"));
        break;
      } catch (err) {
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await eventually(() => mirror.get("m4") !== undefined, "m4 after the restart", 20_000);
    expect(mirror.get("m1")).toBeDefined();
    await mirror.stop();
  });

  it("is ready at once on an empty bucket", async () => {
    const empty = await openControlPlane(nc, { naming: createNaming("storetest-empty") });
    const mirror = await empty.functions.mirror();
    expect(mirror.ready).toBe(true);
    expect(mirror.size).toBe(0);
    await mirror.stop();
  });
});

describe("code store", () => {
  it("stores content-addressed packages once and streams them back", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    expect(await cp.code.put("abc", data)).toEqual({ created: true });
    const before = (await cp.code.list()).find((p) => p.sha256 === "abc");
    await new Promise((r) => setTimeout(r, 20));
    expect(await cp.code.put("abc", data)).toEqual({ created: false });
    const after = (await cp.code.list()).find((p) => p.sha256 === "abc");
    expect(after?.lastUsed.getTime()).toBeGreaterThan(before?.lastUsed.getTime() ?? Infinity);
    expect(Buffer.from((await cp.code.get("abc")) ?? []).equals(data)).toBe(true);
    const stream = await cp.code.stream("abc");
    expect(stream?.size).toBe(data.length);
    let total = 0;
    for await (const chunk of stream!.data) total += chunk.length;
    expect(total).toBe(data.length);
    await cp.code.delete("abc");
    expect(await cp.code.has("abc")).toBe(false);
    expect(await cp.code.stream("abc")).toBeUndefined();
  });
});
