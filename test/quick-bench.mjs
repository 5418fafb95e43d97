import { TestCluster, makeZip } from "@nimbus/testkit";
import { authorization } from "@nimbus/sdk";
import { execFileSync } from "node:child_process";
const c = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  const client = c.client();
  await client.createService("b");
  const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
  await client.createFunction("b", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: Number(process.env.CONC ?? 1), code: { zipFile: zip.toString("base64") } });
  const path = "/2016-08-15/services/b/functions/noop/invocations";
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(c.credentials.accessKeyId, c.credentials.accessKeySecret, { method: "POST", path, headers });
  const lua = `wrk.method = "POST"\nwrk.headers["Date"] = "${headers.date}"\nwrk.headers["Authorization"] = "${headers.authorization}"\n`;
  (await import("node:fs")).writeFileSync("/tmp/post.lua", lua);
  for (const conns of [1, 50]) {
    console.log(execFileSync("wrk", ["-t1", `-c${conns}`, "-d5s", "--latency", "-s", "/tmp/post.lua", `${c.endpoint()}${path}`]).toString().split("\n").filter(l => /Req|Latency|50%|99%|Non-2xx|requests/.test(l)).join("\n"));
  }
  console.log((await client.listInstances("b", "noop")).data.instances.length, "instances");
} finally { await c.stop(); }
