// api: the gateway answering a signed management read (GET /services/{name}, served from its watched
// metadata copy) against a bare Node http server returning the same JSON, same load, same machine.
import { authorization } from "@nimbus/sdk";
import { TestCluster } from "@nimbus/testkit";
import { interleave, nodeServer, report, wrk } from "./lib.mjs";

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);

const cluster = await TestCluster.start({ env: { NIMBUS_LOG_LEVEL: "warn" } });
try {
  const client = cluster.client();
  const { data: body } = await client.createService("bench", { description: "benchmark" });
  const path = "/2016-08-15/services/bench";
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, { method: "GET", path, headers });

  const bare = await nodeServer(`
    import { createServer } from "node:http";
    const body = ${JSON.stringify(JSON.stringify(body))};
    const server = createServer((req, res) => { res.setHeader("content-type", "application/json"); res.end(body); });
    server.listen(0, "127.0.0.1", () => console.log(server.address().port));
  `);
  try {
    const targets = { bare: `http://127.0.0.1:${bare.port}${path}`, gateway: `${cluster.endpoint()}${path}` };
    const rows = [];
    for (const connections of [50, 1]) {
      const result = await interleave(targets, rounds, (url) => wrk(url, { connections, seconds, headers }));
      for (const [name, r] of Object.entries(result)) {
        rows.push({ variant: name, connections, rps: Math.round(r.rps), p50_ms: r.p50, p99_ms: r.p99, errors: r.non2xx });
      }
      rows.push({
        variant: "gateway/bare",
        connections,
        rps: Number((result.gateway.rps / result.bare.rps).toFixed(2)),
        p50_ms: Number((result.gateway.p50 - result.bare.p50).toFixed(3)),
        p99_ms: Number((result.gateway.p99 - result.bare.p99).toFixed(3)),
        errors: 0,
      });
    }
    await report("api", rows, { rounds, seconds, note: "wrk shares the 2 cores with the servers; rps ratio and latency deltas are what count" });
  } finally {
    bare.stop();
  }
} finally {
  await cluster.stop();
}
