import { TestCluster, makeZip } from "@nimbus/testkit";
import { authorization } from "@nimbus/sdk";
import { execFileSync } from "node:child_process";
const c = await TestCluster.start({ services: [], env: { NIMBUS_LOG_LEVEL: "warn" } });
const prof = ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"];
await c.startService("gateway", {}, prof);
await c.startService("invoker", {}, prof);
try {
  const client = c.client();
  await client.createService("b");
  const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
  await client.createFunction("b", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 100, code: { zipFile: zip.toString("base64") } });
  const path = "/2016-08-15/services/b/functions/noop/invocations";
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(c.credentials.accessKeyId, c.credentials.accessKeySecret, { method: "POST", path, headers });
  (await import("node:fs")).writeFileSync("/tmp/post.lua", `wrk.method = "POST"\nwrk.headers["Date"] = "${headers.date}"\nwrk.headers["Authorization"] = "${headers.authorization}"\n`);
  console.log(execFileSync("wrk", ["-t1", `-c${process.env.C ?? 50}`, "-d5s", "--latency", "-s", "/tmp/post.lua", `${c.endpoint()}${path}`]).toString().split("\n").filter(l => /Req|50%|99%/.test(l)).join("\n"));
} finally { await c.stop(); }
