// async — P4: asynchronous invocations, accepted → completed, of a no-op function, against raw
// BullMQ on the same Redis: the same number of jobs added by the same number of concurrent callers,
// processed by a no-op Worker in its own process with the same concurrency. Interleaved rounds.
//
// Nimbus: signed POST …/invocations with x-fc-invocation-type: Async (202 once Redis has the job) →
// async-queue → NATS → invoker → sandboxed instance → final record. Completion is BullMQ's own
// `completed` event on the function's queue, counted the same way for both.
import { spawn } from "node:child_process";
import { Queue } from "bullmq";
import { TestCluster } from "@nimbus/testkit";
import { asyncEnqueuer, completions, deployNoop, fromCallers } from "./async-lib.mjs";
import { median, report, ROOT, round2, ROUNDS } from "./lib.mjs";

const JOBS = Number(process.env.BENCH_JOBS ?? 3_000);
const CALLERS = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WORKER_CONCURRENCY = 32; // the async-queue default (NIMBUS_ASYNC_CONCURRENCY)

const cluster = await TestCluster.start({
  services: ["gateway", "invoker", "async-queue"],
  env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_ASYNC_CONCURRENCY: String(WORKER_CONCURRENCY) },
});
const redisUrl = cluster.redis.url;

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
const rawQueue = new Queue("raw-noop", { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix: "rawbench" });
const rawDone = await completions(redisUrl, "raw-noop", "rawbench");

async function rawRound() {
  const finished = rawDone.expect(JOBS);
  const started = performance.now();
  let i = 0;
  await fromCallers(JOBS, CALLERS, () => rawQueue.add("job", { n: i++ }, { removeOnComplete: true }));
  const end = await finished;
  return { "jobs/s": JOBS / ((end - started) / 1000) };
}

// ---- Nimbus ---------------------------------------------------------------------------------
const nimbusQueue = await deployNoop(cluster);
const enqueue = asyncEnqueuer(cluster, CALLERS);
const nimbusDone = await completions(redisUrl, nimbusQueue.name, nimbusQueue.prefix);

async function nimbusRound() {
  const finished = nimbusDone.expect(JOBS);
  const started = performance.now();
  await fromCallers(JOBS, CALLERS, enqueue);
  const accepted = performance.now();
  const end = await finished;
  return { "jobs/s": JOBS / ((end - started) / 1000), "accepted/s": JOBS / ((accepted - started) / 1000) };
}

try {
  // Warm-up: the function's instance and the queue's worker start here.
  const warm = nimbusDone.expect(200);
  await fromCallers(200, CALLERS, enqueue);
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
