import { TestCluster, makeZip } from "@nimbus/testkit";
import { request, Agent } from "node:http";
import { authorization } from "@nimbus/sdk";
const c = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  const client = c.client();
  await client.createService("b");
  const zip = await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" });
  await client.createFunction("b", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", code: { zipFile: zip.toString("base64") } });
  const path = "/2016-08-15/services/b/functions/noop/invocations";
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(c.credentials.accessKeyId, c.credentials.accessKeySecret, { method: "POST", path, headers });
  const url = new URL(c.endpoint());
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const one = () => new Promise((resolve) => { const r = request({ host: url.hostname, port: url.port, path, method: "POST", headers, agent }, (res) => { res.resume(); res.on("end", resolve); }); r.end(); });
  for (let i = 0; i < 500; i++) await one();
  const t0 = performance.now(); const slow = []; const all = [];
  for (let i = 0; i < 3000; i++) { const s = performance.now(); await one(); const d = performance.now() - s; all.push(d); if (d > 3) slow.push([Math.round(s - t0), d.toFixed(1)]); }
  all.sort((a, b) => a - b);
  console.log("p50", all[1500].toFixed(3), "p90", all[2700].toFixed(3), "p99", all[2970].toFixed(3), "max", all[2999].toFixed(1));
  console.log("slow (t ms, dur ms):", JSON.stringify(slow));
} finally { await c.stop(); }
