// warmhit — two invoker nodes under steady load: the share of calls served by an instance that was
// already warm (target ≥ 99.9%). A call is cold when it is the first one served by its instance.
import { request, Agent } from "node:http";
import { authorization } from "@nimbus/sdk";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { report, round2 } from "./lib.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

const cluster = await TestCluster.start({ services: ["gateway", "invoker", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  const client = cluster.client();
  await client.createService("steady");
  await client.createFunction("steady", {
    functionName: "work",
    runtime: "nodejs20",
    handler: "index.handler",
    code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => setTimeout(() => cb(null, 'ok'), 2);" })).toString("base64") },
  });
  const path = "/2016-08-15/services/steady/functions/work/invocations";
  const url = new URL(cluster.endpoint());
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const call = () =>
    new Promise((resolve, reject) => {
      const headers = { date: new Date().toUTCString() };
      headers.authorization = authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, { method: "POST", path, headers });
      const req = request({ host: url.hostname, port: url.port, method: "POST", path, headers, agent }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve(res.headers["x-fc-instance-id"]) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end();
    });
  const loop = async (seconds, seen, counts) => {
    const until = Date.now() + seconds * 1000;
    const worker = async () => {
      while (Date.now() < until) {
        const id = await call().catch(() => "failed");
        counts.total++;
        if (id === "failed") counts.failed++;
        else if (!seen.has(id)) {
          seen.add(id);
          counts.cold++;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  const seen = new Set();
  await loop(5, seen, { total: 0, cold: 0, failed: 0 }); // ramp up: instances start here
  const counts = { total: 0, cold: 0, failed: 0 };
  await loop(SECONDS, seen, counts);
  const nodes = new Set([...seen].map((id) => id.split("-").slice(1, -1).join("-")));
  const ratio = (counts.total - counts.cold - counts.failed) / counts.total;
  const rows = [{ calls: counts.total, "cold starts": counts.cold, failed: counts.failed, "warm-hit %": round2(ratio * 100), "invoker nodes used": nodes.size, instances: seen.size }];
  const targets = [{ figure: "warm-hit ratio under steady load (2 nodes)", measured: `${round2(ratio * 100)}%`, target: "≥ 99.9%" }];
  console.table(targets);
  await report("warmhit", rows, { targets, concurrency: CONCURRENCY });
} finally {
  await cluster.stop();
}
