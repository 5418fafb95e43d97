// async-soak — RELIABILITY 9–15 at length: BENCH_JOBS (default 200,000) asynchronous invocations at
// BENCH_RATE per second (default 800) through two gateways, two async-queue replicas and two
// invokers, while an async-queue replica and an invoker are SIGKILLed (and started again) every
// BENCH_FAULT_SECONDS (default 40), and Redis (AOF) is restarted once half way.
//
// Each invocation carries its number and the time it was accepted; the function answers with its
// instance and a per-instance run count, and its onSuccess destination (a NATS subject) reports
// every completion here. Prints accepted, completed, lost (accepted, never completed: must be 0),
// duplicate runs (a second run of one invocation: allowed only where a run had started before a
// kill), duplicate deliveries of one run, and the p50/p99 of accepted → completed.
// A request refused while Redis restarts (503) is retried by the caller under its own invocation id,
// as a client would, so a retry of an accepted one is refused as a duplicate and never runs twice.
import { Agent, request } from "node:http";
import { connect } from "@nats-io/transport-node";
import { authorization } from "@nimbus/sdk";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { report } from "./lib.mjs";

const JOBS = Number(process.env.BENCH_JOBS ?? 200_000);
const RATE = Number(process.env.BENCH_RATE ?? 800);
const FAULT_SECONDS = Number(process.env.BENCH_FAULT_SECONDS ?? 40);
const SUBJECT = "soak.done";

const cluster = await TestCluster.start({
  services: ["gateway", "gateway", "invoker", "invoker", "async-queue", "async-queue"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_ASYNC_LOCK_MS: "5000", NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS: "500", NIMBUS_ASYNC_RETRY_MAX_MS: "5000", NIMBUS_NODE_TTL_MS: "3000" },
});
const natsUrl = new URL(cluster.nats.url);
const nc = await connect({ servers: `${natsUrl.hostname}:${natsUrl.port}`, ...(natsUrl.username ? { token: natsUrl.username } : {}), maxReconnectAttempts: -1 });
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

try {
  const client = cluster.client();
  await client.createService("soak");
  const handler = "let runs = 0; exports.handler = (e, c, cb) => cb(null, JSON.stringify({ instance: process.pid + '/' + require('os').hostname(), run: ++runs }));";
  const zipFile = (await makeZip({ "index.js": handler })).toString("base64");
  await client.createFunction("soak", { functionName: "fn", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 50, code: { zipFile } });
  await client.putFunctionAsyncConfig("soak", "fn", undefined, { destinationConfig: { onSuccess: { destination: `acs:nats:::subjects/${SUBJECT}` } } });

  // Completions: the first of each invocation is its latency; more with another run are duplicate runs.
  const accepted = new Map(); // n → accepted at
  const completed = new Map(); // n → { at, runs: Set<string> }
  let deliveries = 0;
  let duplicateDeliveries = 0;
  nc.subscribe(SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const record = msg.json();
      const { n } = JSON.parse(record.requestPayload);
      const run = record.responsePayload;
      deliveries++;
      const seen = completed.get(n);
      if (!seen) completed.set(n, { at: Date.now(), runs: new Set([run]) });
      else if (seen.runs.has(run)) duplicateDeliveries++;
      else seen.runs.add(run);
    },
  });

  const gateways = [0, 1].map((i) => ({ url: new URL(cluster.endpoint(i)), agent: new Agent({ keepAlive: true, maxSockets: 64 }) }));
  const { accessKeyId, accessKeySecret } = cluster.credentials;
  let refused = 0;
  const path = "/2016-08-15/services/soak/functions/fn/invocations";
  const send = (n, attempt) =>
    new Promise((resolve) => {
      const g = gateways[(n + attempt) % 2];
      const body = Buffer.from(JSON.stringify({ n }));
      const headers = { date: new Date().toUTCString(), "x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": `soak-${n}`, "content-length": String(body.length) };
      headers.authorization = authorization(accessKeyId, accessKeySecret, { method: "POST", path, headers });
      const req = request({ host: g.url.hostname, port: g.url.port, method: "POST", path, headers, agent: g.agent, timeout: 10_000 }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(0));
      req.end(body);
    });
  const submit = async (n) => {
    for (let attempt = 0; ; attempt++) {
      const status = await send(n, attempt);
      // 409: an earlier attempt was accepted after all (its answer was lost): it counts once.
      if (status === 202 || (status === 409 && attempt > 0)) {
        if (!accepted.has(n)) accepted.set(n, Date.now());
        return;
      }
      refused++;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  // Faults, on their own clock.
  const faults = [];
  let stopFaults = false;
  const started = Date.now();
  const faulting = (async () => {
    let round = 0;
    let redisRestarted = false;
    while (!stopFaults) {
      await new Promise((r) => setTimeout(r, FAULT_SECONDS * 1000));
      if (stopFaults) break;
      const queue = cluster.service("async-queue", round % 2);
      const invoker = cluster.service("invoker", round % 2);
      await queue.kill();
      await invoker.kill();
      faults.push(`${Math.round((Date.now() - started) / 1000)} s: SIGKILL async-queue ${round % 2} and invoker ${round % 2}`);
      await new Promise((r) => setTimeout(r, 2_000));
      await queue.start();
      await invoker.start();
      if (!redisRestarted && accepted.size >= JOBS / 2) {
        redisRestarted = true;
        await cluster.redis.restart();
        faults.push(`${Math.round((Date.now() - started) / 1000)} s: Redis restarted (AOF)`);
      }
      round++;
    }
  })();

  // The load: RATE per second, at most 256 requests in flight.
  let next = 0;
  let inFlight = 0;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(JOBS, Math.floor(((Date.now() - started) / 1000) * RATE));
      while (next < due && inFlight < 256) {
        const n = next++;
        inFlight++;
        void submit(n).finally(() => inFlight--);
      }
      if (next >= JOBS && inFlight === 0) {
        clearInterval(tick);
        resolve();
      }
    }, 20);
  });
  const loadSeconds = (Date.now() - started) / 1000;
  stopFaults = true;
  await faulting;

  // Wait until everything accepted completed, or nothing moved for 60 s.
  let last = -1;
  let still = Date.now();
  while (completed.size < accepted.size && Date.now() - still < 60_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    if (completed.size !== last) {
      last = completed.size;
      still = Date.now();
    }
  }
  const latencies = [...completed].map(([n, c]) => c.at - (accepted.get(n) ?? c.at)).sort((a, b) => a - b);
  const lost = [...accepted.keys()].filter((n) => !completed.has(n));
  const duplicateRuns = [...completed.values()].reduce((sum, c) => sum + c.runs.size - 1, 0);
  const row = {
    accepted: accepted.size,
    completed: completed.size,
    lost: lost.length,
    "duplicate runs": duplicateRuns,
    "duplicate deliveries": duplicateDeliveries,
    "refused then retried": refused,
    "p50 accepted→completed ms": percentile(latencies, 50),
    "p99 accepted→completed ms": percentile(latencies, 99),
    "load seconds": Math.round(loadSeconds),
  };
  console.log(faults.join("\n"));
  console.table([row]);
  if (lost.length) console.log(`lost: ${lost.slice(0, 20).join(", ")}${lost.length > 20 ? " …" : ""}`);
  await report("async-soak", [row], { jobs: JOBS, rate: RATE, faultSeconds: FAULT_SECONDS, faults, deliveries });
  if (lost.length) process.exitCode = 1;
} finally {
  await nc.close();
  await cluster.stop();
}
