import { describe, expect, it } from "vitest";
import { useCluster } from "../helpers/cluster.js";
import { deploy, eventually, processesMatching } from "../helpers/functions.js";

const ctx = useCluster({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });

// A hostile function reports what it managed to do; every attempt must fail or stay inside its sandbox.
const PROBE = `
const fs = require("fs");
const net = require("net");
const attempt = (fn) => { try { return fn(); } catch (e) { return "DENIED:" + (e.code || e.message); } };
const connect = (port) => new Promise((resolve) => {
  const s = net.connect(port, "127.0.0.1");
  s.once("connect", () => { s.destroy(); resolve("CONNECTED"); });
  s.once("error", (e) => resolve("DENIED:" + e.code));
});
exports.handler = async (event) => {
  const { natsPort, redisPort, otherCode } = JSON.parse(event);
  return {
    shadow: attempt(() => fs.readFileSync("/etc/shadow", "utf8")),
    initEnviron: attempt(() => fs.readFileSync("/proc/1/environ", "utf8")),
    otherCode: attempt(() => fs.readdirSync(otherCode)),
    writeCode: attempt(() => fs.writeFileSync("/code/x", "x")),
    writeEtc: attempt(() => fs.writeFileSync("/etc/x", "x")),
    writeTmp: attempt(() => { fs.writeFileSync("/tmp/x", "x"); return "OK"; }),
    nats: await connect(natsPort),
    redis: await connect(redisPort),
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
    // Contained either way: most spawns fail at the pids limit, or the memory limit ends the instance.
    if (res.headers["x-fc-error-type"]) expect(res.data.errorMessage).toMatch(/memory limit|Process exited unexpectedly/);
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
