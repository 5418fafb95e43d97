// async-memory — what one queued asynchronous invocation holds in Redis, with and without FC's
// statefulInvocation: BENCH_JOBS invocations (a 100-byte payload) queued through the gateway with no
// async-queue running, so they all wait; Redis's used_memory before and after, per invocation.
import { execFileSync } from "node:child_process";
import { TestCluster } from "@nimbus/testkit";
import { asyncEnqueuer, fromCallers } from "./async-lib.mjs";
import { makeZip } from "@nimbus/testkit";
import { report } from "./lib.mjs";

const JOBS = Number(process.env.BENCH_JOBS ?? 5_000);
const PAYLOAD = "p".repeat(100);

const cluster = await TestCluster.start({ services: ["gateway"], env: { NIMBUS_LOG_LEVEL: "warn" } });
const cli = (...args) => execFileSync("redis-cli", ["-p", String(cluster.redis.port), "-a", cluster.redis.options.password ?? "", "--no-auth-warning", ...args]).toString();
const usedMemory = () => Number(/used_memory:(\d+)/.exec(cli("INFO", "memory"))?.[1]);

try {
  const client = cluster.client();
  await client.createService("bench");
  const zipFile = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, '');" })).toString("base64");
  const rows = [];
  for (const stateful of [false, true]) {
    const fn = stateful ? "stateful" : "plain";
    await client.createFunction("bench", { functionName: fn, runtime: "nodejs20", handler: "index.handler", code: { zipFile } });
    await client.putFunctionAsyncConfig("bench", fn, undefined, { statefulInvocation: stateful });
    const enqueue = asyncEnqueuer(cluster, 16, { fn, payload: PAYLOAD });
    await fromCallers(100, 16, enqueue); // the queue's own keys exist before measuring
    cli("MEMORY", "PURGE");
    const before = usedMemory();
    await fromCallers(JOBS, 16, enqueue);
    cli("MEMORY", "PURGE");
    const after = usedMemory();
    rows.push({ statefulInvocation: stateful, "bytes per queued invocation": Math.round((after - before) / JOBS) });
  }
  console.table(rows);
  await report("async-memory", rows, { jobs: JOBS, payloadBytes: PAYLOAD.length });
} finally {
  await cluster.stop();
}
