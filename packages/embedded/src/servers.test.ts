import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsServer } from "./nats-server.js";
import { ManagedProcess } from "./process.js";
import { RedisServer } from "./redis-server.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-embedded-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("nats-server", () => {
  it("requires its token, and keeps JetStream data across SIGKILL and restart on the same port", async () => {
    const server = await NatsServer.start({ dir: join(dir, "nats"), token: "t0ken" });
    try {
      const hostPort = `127.0.0.1:${server.port}`;
      await expect(connect({ servers: hostPort, maxReconnectAttempts: 0 })).rejects.toThrow();
      let nc = await connect({ servers: hostPort, token: "t0ken" });
      expect(nc.info?.max_payload).toBe(8 * 1024 * 1024);
      await (await new Kvm(nc).create("kept")).put("k", "v");
      await nc.close();

      await server.kill();
      expect(server.process.running).toBe(false);
      await server.restart();
      nc = await connect({ servers: hostPort, token: "t0ken" });
      expect((await (await new Kvm(nc).open("kept")).get("k"))?.string()).toBe("v");
      await nc.close();
    } finally {
      await server.stop();
    }
  });
});

describe("redis-server", () => {
  it("requires its password and keeps acknowledged writes across SIGKILL (AOF, noeviction)", async () => {
    const server = await RedisServer.start({ dir: join(dir, "redis"), password: "pw" });
    const clients: Redis[] = [];
    const client = (url = server.url) => {
      const c = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
      c.on("error", () => undefined);
      clients.push(c);
      return c;
    };
    try {
      await expect(client(`redis://127.0.0.1:${server.port}`).ping()).rejects.toThrow(/NOAUTH|Authentication/i);
      const redis = client();
      expect(await redis.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      await redis.set("job", "acknowledged");
      await new Promise((r) => setTimeout(r, 1_200)); // appendfsync everysec
      await server.kill();
      await server.restart();
      expect(await client().get("job")).toBe("acknowledged");
    } finally {
      for (const c of clients) c.disconnect();
      await server.stop();
    }
  });

  it("can be frozen and thawed", async () => {
    const server = await RedisServer.start({ dir: join(dir, "redis-pause") });
    const redis = new Redis(server.url, { commandTimeout: 300, maxRetriesPerRequest: 0 });
    redis.on("error", () => undefined);
    try {
      expect(await redis.ping()).toBe("PONG");
      server.pause();
      await expect(redis.ping()).rejects.toThrow();
      server.resume();
      await expect(redis.ping()).resolves.toBe("PONG");
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});

describe("managed processes", () => {
  it("escalate to SIGKILL when SIGTERM is ignored", async () => {
    const proc = new ManagedProcess({
      name: "stubborn",
      command: process.execPath,
      args: ["-e", "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"],
    });
    proc.start();
    await new Promise((r) => setTimeout(r, 300));
    const status = await proc.stop(300);
    expect(status.signal).toBe("SIGKILL");
    expect(proc.recentOutput()).toContain("up");
  });
});
