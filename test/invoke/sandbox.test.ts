import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually, processesMatching } from "../helpers/functions.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

// A hostile function reports what it managed to do; every attempt must fail or stay inside its sandbox.
const PROBE = `
const fs = require("fs");
const net = require("net");
const attempt = (fn) => { try { return fn(); } catch (e) { return "DENIED:" + (e.code || e.message); } };
// Reached means the server answered (NATS greets, Redis answers PING): a bare handshake is not enough.
const connect = (port, host = "127.0.0.1") => new Promise((resolve) => {
  if (!port) return resolve("SKIPPED");
  const s = net.connect(port, host);
  const done = (result) => { s.destroy(); resolve(result); };
  s.setTimeout(3000, () => done("DENIED:TIMEOUT"));
  s.once("connect", () => s.write("PING\\r\\n"));
  s.once("data", () => done("CONNECTED"));
  s.once("end", () => done("DENIED:CLOSED"));
  s.once("error", (e) => done("DENIED:" + e.code));
});
exports.handler = async (event) => {
  const { natsPort, redisPort, otherCode, outside } = JSON.parse(event);
  return {
    shadow: attempt(() => fs.readFileSync("/etc/shadow", "utf8")),
    initEnviron: attempt(() => fs.readFileSync("/proc/1/environ", "utf8")),
    otherCode: attempt(() => fs.readdirSync(otherCode)),
    writeCode: attempt(() => fs.writeFileSync("/code/x", "x")),
    writeEtc: attempt(() => fs.writeFileSync("/etc/x", "x")),
    writeTmp: attempt(() => { fs.writeFileSync("/tmp/x", "x"); return "OK"; }),
    nats: await connect(natsPort),
    redis: await connect(redisPort),
    // slirp4netns's gateway stands for the host's loopback, which it must not forward to.
    hostLoopbackNats: await connect(natsPort, "10.0.2.2"),
    hostLoopbackRedis: await connect(redisPort, "10.0.2.2"),
    outside: outside ? await connect(outside.port, outside.host) : "SKIPPED",
    resolvConf: attempt(() => fs.readFileSync("/etc/resolv.conf", "utf8")),
    uid: process.getuid(),
    env: Object.keys(process.env).filter((k) => k.startsWith("NIMBUS")),
  };
};`;

describe("a hostile function", () => {
  it("cannot read secrets, other code or the platform's environment, write outside /tmp, or reach NATS and Redis", async () => {
    await deploy(ctx.cluster, "sbx", "other", { "index.js": "exports.handler = (e, c, cb) => cb(null, 'other');" });
    await ctx.fc.invokeFunction("sbx", "other", "");
    await deploy(ctx.cluster, "sbx", "probe", { "index.js": PROBE });
    const natsPort = Number(new URL(ctx.cluster.nats.url).port);
    const redisPort = ctx.cluster.redis?.port ?? 6379;
    const otherCode = `${ctx.cluster.dir}/invoker`;
    const res = await ctx.fc.invokeFunction("sbx", "probe", JSON.stringify({ natsPort, redisPort, otherCode }));
    const r = JSON.parse(res.data);
    expect(r.shadow).toMatch(/^DENIED/);
    expect(r.otherCode).toMatch(/^DENIED/);
    expect(r.writeCode).toMatch(/^DENIED/);
    expect(r.writeEtc).toMatch(/^DENIED/);
    expect(r.writeTmp).toBe("OK");
    expect(r.nats).toMatch(/^DENIED/);
    expect(r.redis).toMatch(/^DENIED/);
    expect(r.uid).not.toBe(0);
    expect(r.env).toEqual([]);
    expect(String(r.initEnviron)).not.toContain(ctx.cluster.credentials.accessKeySecret);
    expect(String(r.initEnviron)).not.toContain("NIMBUS_");
    expect(r.hostLoopbackNats).toMatch(/^DENIED/);
    expect(r.hostLoopbackRedis).toMatch(/^DENIED/);
  });

  // slirp4netns needs root here (the invoker joins the sandbox's network namespace); npm test installs it.
  it.skipIf(process.getuid?.() !== 0)("reaches the network beyond the host's loopback with internetAccess (FC's default), and nothing without it", async () => {
    // A server on this machine's own address stands for "the internet" (the tests need none).
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    const server = createServer((socket) => socket.end("hello from outside\n"));
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    try {
      const outside = address ? { host: address, port: (server.address() as { port: number }).port } : undefined;
      const natsPort = Number(new URL(ctx.cluster.nats.url).port);
      const redisPort = ctx.cluster.redis?.port ?? 6379;
      const event = JSON.stringify({ natsPort, redisPort, otherCode: "/nonexistent", outside });

      await ctx.fc.createService("sbx_online", {});
      await deploy(ctx.cluster, "sbx_online", "probe", { "index.js": PROBE });
      const online = JSON.parse((await ctx.fc.invokeFunction("sbx_online", "probe", event)).data);
      if (outside) expect(online.outside).toBe("CONNECTED");
      expect(online.resolvConf).toBe("nameserver 10.0.2.3\n");
      for (const key of ["nats", "redis", "hostLoopbackNats", "hostLoopbackRedis"]) expect(online[key], key).toMatch(/^DENIED/);

      await ctx.fc.createService("sbx_offline", { internetAccess: false });
      await deploy(ctx.cluster, "sbx_offline", "probe", { "index.js": PROBE });
      const offline = JSON.parse((await ctx.fc.invokeFunction("sbx_offline", "probe", event)).data);
      if (outside) expect(offline.outside).toMatch(/^DENIED/);
      for (const key of ["nats", "redis", "hostLoopbackNats", "hostLoopbackRedis"]) expect(offline[key], key).toMatch(/^DENIED/);

      // Turning it off applies to the next instance: the warm ones are retired.
      await ctx.fc.updateService("sbx_online", { internetAccess: false });
      await eventually(async () => {
        const again = JSON.parse((await ctx.fc.invokeFunction("sbx_online", "probe", event)).data);
        if (outside) expect(again.outside).toMatch(/^DENIED/);
        else expect(again.resolvConf).toMatch(/^DENIED|^(?!nameserver 10\.0\.2\.3)/);
      }, "instances without a network after the change");
    } finally {
      server.close();
    }
  });

  it("cannot fork-bomb its way out", async () => {
    await deploy(
      ctx.cluster,
      "sbx",
      "forkbomb",
      {
        "index.js": `exports.handler = (e, c, cb) => {
          const { spawn } = require("child_process"); let failed = 0;
          for (let i = 0; i < 2000; i++) { try { spawn("/bin/sleep", ["60"]).on("error", () => failed++); } catch { failed++; } }
          setTimeout(() => cb(null, String(failed)), 1000);
        };`,
      },
      { timeout: 10 },
    );
    const res = await ctx.fc.invokeFunction("sbx", "forkbomb", "");
    // Contained either way: most spawns fail at the pids limit, or the memory limit ends the instance
    // (or, on a slow host, spawning them outlasts the function's timeout, which ends it too).
    if (res.headers["x-fc-error-type"]) expect(res.data.errorMessage).toMatch(/memory limit|Process exited unexpectedly|timed out after 10 seconds/);
    else expect(Number(res.data)).toBeGreaterThan(1000);
    expect((await ctx.fc.invokeFunction("sbx", "other", "")).data).toBe("other");
    await ctx.fc.updateFunction("sbx", "forkbomb", { description: "retire" });
    await eventually(async () => {
      await ctx.fc.updateFunction("sbx", "forkbomb", { environmentVariables: { R: String(Date.now()) } });
      const left = await processesMatching("/bin/sleep 60");
      if (left.length) throw new Error(`${left.length} left`);
    }, "the bomb's processes to be gone with its instance", 15_000);
  });
});
