// async — P4: asynchronous invocations, accepted → completed, of a no-op function, against raw
// BullMQ on the same Redis: the same number of jobs added by the same number of concurrent callers,
// processed by a no-op Worker in its own process with the same concurrency. Interleaved rounds.
//
// Nimbus: signed POST …/invocations with x-fc-invocation-type: Async (202 once Redis has the job) →
// async-queue → NATS → invoker → sandboxed instance → final record. Completion is BullMQ's own
// `completed` event on the function's queue, counted the same way for both.
import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { Queue, QueueEvents } from "bullmq";
import { authorization } from "@nimbus/sdk";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { median, report, ROOT, round2, ROUNDS } from "./lib.mjs";

const JOBS = Number(process.env.BENCH_JOBS ?? 3_000);
const CALLERS = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WORKER_CONCURRENCY = 32; // the async-queue default (NIMBUS_ASYNC_CONCURRENCY)

const cluster = await TestCluster.start({
  services: ["gateway", "invoker", "async-queue"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_ASYNC_CONCURRENCY: String(WORKER_CONCURRENCY) },
});
const redisUrl = cluster.redis.url;
const connection = { url: redisUrl, maxRetriesPerRequest: null };

/** Counts `completed` events of a queue until `n` arrived; resolves with the time of the last. */
async function completions(name, prefix) {
  const events = new QueueEvents(name, { connection, prefix });
  events.on("error", () => undefined);
  await events.waitUntilReady();
  let count = 0;
  let target = Infinity;
  let done;
  events.on("completed", () => {
    if (++count >= target) done?.(performance.now());
  });
  return {
    expect(n) {
      count = 0;
      target = n;
      return new Promise((resolve) => (done = resolve));
    },
    close: () => events.close(),
  };
}

/** Runs `total` calls of `task` from `parallel` callers. */
async function callers(total, parallel, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < total) {
        next++;
        await task();
      }
    }),
  );
}

// ---- the baseline: raw BullMQ, a no-op Worker in its own process -------------------------------
const WORKER = `
  import { Worker } from "bullmq";
  const w = new Worker("raw-noop", async () => undefined, { connection: { url: process.env.REDIS_URL, maxRetriesPerRequest: null }, prefix: "rawbench", concurrency: ${WORKER_CONCURRENCY} });
  w.on("error", () => undefined);
  await w.waitUntilReady();
  console.log("ready");
`;
const worker = spawn(process.execPath, ["--input-type=module", "-e", WORKER], { cwd: ROOT, env: { ...process.env, REDIS_URL: redisUrl }, stdio: ["ignore", "pipe", "inherit"] });
await new Promise((resolve, reject) => {
  worker.stdout.once("data", resolve);
  worker.once("exit", (code) => reject(new Error(`the BullMQ worker exited ${code}`)));
});
const rawQueue = new Queue("raw-noop", { connection, prefix: "rawbench" });
const rawDone = await completions("raw-noop", "rawbench");

async function rawRound() {
  const finished = rawDone.expect(JOBS);
  const started = performance.now();
  let i = 0;
  await callers(JOBS, CALLERS, () => rawQueue.add("job", { n: i++ }, { removeOnComplete: true }));
  const end = await finished;
  return { "jobs/s": JOBS / ((end - started) / 1000) };
}

// ---- Nimbus ---------------------------------------------------------------------------------
const client = cluster.client();
await client.createService("bench");
await client.createFunction("bench", {
  functionName: "noop",
  runtime: "nodejs20",
  handler: "index.handler",
  instanceConcurrency: 100,
  code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, '');" })).toString("base64") },
});
const path = "/2016-08-15/services/bench/functions/noop/invocations";
const url = new URL(cluster.endpoint());
const agent = new Agent({ keepAlive: true, maxSockets: CALLERS });
const enqueue = () =>
  new Promise((resolve, reject) => {
    const headers = { date: new Date().toUTCString(), "x-fc-invocation-type": "Async", "content-length": "0" };
    headers.authorization = authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, { method: "POST", path, headers });
    const req = request({ host: url.hostname, port: url.port, method: "POST", path, headers, agent }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
const nimbusDone = await completions("async.bench.noop", "nimbus");

async function nimbusRound() {
  const finished = nimbusDone.expect(JOBS);
  const started = performance.now();
  await callers(JOBS, CALLERS, enqueue);
  const accepted = performance.now();
  const end = await finished;
  return { "jobs/s": JOBS / ((end - started) / 1000), "accepted/s": JOBS / ((accepted - started) / 1000) };
}

try {
  // Warm-up: the function's instance and the queue's worker start here.
  const warm = nimbusDone.expect(200);
  await callers(200, CALLERS, enqueue);
  await warm;
  await rawRound();

  const samples = { raw: [], nimbus: [] };
  for (let r = 0; r < ROUNDS; r++) {
    samples.raw.push(await rawRound());
    samples.nimbus.push(await nimbusRound());
  }
  const raw = median(samples.raw.map((s) => s["jobs/s"]));
  const nimbus = median(samples.nimbus.map((s) => s["jobs/s"]));
  const acceptedRate = median(samples.nimbus.map((s) => s["accepted/s"]));
  const rows = [
    { variant: "raw BullMQ (add → no-op Worker)", "jobs/s": Math.round(raw) },
    { variant: "Nimbus async (202 → function ran → final record)", "jobs/s": Math.round(nimbus), "accepted/s": Math.round(acceptedRate) },
  ];
  const targets = [{ figure: "P4 async accepted → completed", measured: `${round2(nimbus / raw)}× raw BullMQ`, target: "≥ 0.6×" }];
  console.table(targets);
  await report("async", rows, { targets, jobs: JOBS, callers: CALLERS, workerConcurrency: WORKER_CONCURRENCY, samples });
} finally {
  await Promise.allSettled([rawDone.close(), nimbusDone.close(), rawQueue.close()]);
  worker.kill("SIGKILL");
  await cluster.stop();
}
