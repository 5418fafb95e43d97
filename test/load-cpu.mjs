import { TestCluster, makeZip } from "@nimbus/testkit";
import { authorization } from "@nimbus/sdk";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
const c = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  const client = c.client();
  await client.createService("b");
  const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
  await client.createFunction("b", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 100, code: { zipFile: zip.toString("base64") } });
  await client.invokeFunction("b", "noop", "");
  const inst = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((p) => { try { return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("runtime.cjs"); } catch { return false; } });
  const procs = { gateway: c.service("gateway").process.pid, invoker: c.service("invoker").process.pid, nats: c.nats.process.pid, redis: c.redis.process.pid, ...Object.fromEntries(inst.map((p, i) => [`instance${i}`, Number(p)])) };
  const one = (pid) => { const stat = readFileSync(`/proc/${pid}/stat`, "utf8"); const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); return (Number(f[11]) + Number(f[12])) / 100; };
  const path = "/2016-08-15/services/b/functions/noop/invocations";
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(c.credentials.accessKeyId, c.credentials.accessKeySecret, { method: "POST", path, headers });
  writeFileSync("/tmp/post.lua", `wrk.method = "POST"\nwrk.headers["Date"] = "${headers.date}"\nwrk.headers["Authorization"] = "${headers.authorization}"\n`);
  execFileSync("wrk", ["-t1", "-c50", "-d2s", "-s", "/tmp/post.lua", `${c.endpoint()}${path}`]);
  const before = {}; for (const [k, p] of Object.entries(procs)) before[k] = one(p);
  const out = execFileSync("wrk", ["-t1", "-c50", "-d5s", "-s", "/tmp/post.lua", `${c.endpoint()}${path}`]).toString();
  const n = Number(/(\d+) requests in/.exec(out)[1]);
  console.log(n, "requests", /Requests\/sec:\s+[\d.]+/.exec(out)[0]);
  for (const [k, p] of Object.entries(procs)) console.log(k, ((one(p) - before[k]) * 1e6 / n).toFixed(1), "µs/req");
} finally { await c.stop(); }
