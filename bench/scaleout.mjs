// scaleout — P6: throughput of a 1 ms CPU-bound handler with one invoker node, then two, on the same
// NATS and Redis. On one machine both nodes share its cores, so this measures the software's
// scale-out overhead, not extra hardware (see the note in the results).
import { makeZip, TestCluster } from "@nimbus/testkit";
import { interleave, report, round2, ROUNDS, signedInvocation, wrk } from "./lib.mjs";

const HANDLER = "exports.handler = (e, c, cb) => { const end = process.hrtime.bigint() + 1000000n; while (process.hrtime.bigint() < end) {} cb(null, 'ok'); };";

const cluster = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INSTANCE_IDLE_MS: "600000" } });
try {
  const client = cluster.client();
  await client.createService("scale");
  await client.createFunction("scale", { functionName: "cpu", runtime: "nodejs20", handler: "index.handler", code: { zipFile: (await makeZip({ "index.js": HANDLER })).toString("base64") } });
  const { url, script } = await signedInvocation(cluster, "scale", "cpu", "/tmp/nimbus-bench-scale.lua");

  const measure = async () => wrk(url, { connections: 16, script });
  await wrk(url, { connections: 16, seconds: 2, script });
  const one = await interleave({ "1 node": url }, ROUNDS, measure);
  const second = await cluster.startService("invoker");
  await wrk(url, { connections: 16, seconds: 3, script });
  const two = await interleave({ "2 nodes": url }, ROUNDS, measure);
  await second.stop();
  const ratio = two["2 nodes"].rps / one["1 node"].rps;
  const rows = [
    { variant: "1 invoker node", "req/s": Math.round(one["1 node"].rps), "p50 ms": round2(one["1 node"].p50), "p99 ms": round2(one["1 node"].p99) },
    { variant: "2 invoker nodes", "req/s": Math.round(two["2 nodes"].rps), "p50 ms": round2(two["2 nodes"].p50), "p99 ms": round2(two["2 nodes"].p99) },
  ];
  const targets = [{ figure: "P6 scale-out 1 → 2 nodes", measured: round2(ratio), target: "≥ 1.8 (needs a second machine's cores)" }];
  console.table(targets);
  await report("scaleout", rows, { targets, note: "both invoker nodes run on this 2-core machine together with the gateway, nats-server and wrk; a second node adds no cores here" });
} finally {
  await cluster.stop();
}
