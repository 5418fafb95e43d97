// nats-trigger — P5: a NATS subject trigger, published → handled. Request/reply through a Sync
// trigger (the function's result is the reply), against a raw nats.js responder in its own process
// on the same server: throughput with 32 requesters, and latency percentiles at a moderate rate.
// Interleaved rounds; BENCH_CLOUDEVENTS=0 measures triggers with raw payloads instead of CloudEvents.
import { spawn } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { median, report, ROOT, round2, ROUNDS, SECONDS } from "./lib.mjs";

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 500); // messages per second for the latency figure
const CLOUD_EVENTS = process.env.BENCH_CLOUDEVENTS !== "0";

const cluster = await TestCluster.start({ services: ["gateway", "invoker", "trigger-router"], env: { NIMBUS_LOG_LEVEL: "warn" } });
const url = new URL(cluster.nats.url);
const natsOpts = { servers: `${url.hostname}:${url.port}`, ...(url.username ? { token: url.username } : {}) };
const nc = await connect(natsOpts);

// The baseline: a raw nats.js responder, its own process, answering every request at once.
const RESPONDER = `
  import { connect } from "@nats-io/transport-node";
  const nc = await connect(JSON.parse(process.env.NATS_OPTS));
  nc.subscribe("bench.raw", { queue: "raw", callback: (err, msg) => { if (!err) msg.respond("ok"); } });
  await nc.flush();
  console.log("ready");
`;
const responder = spawn(process.execPath, ["--input-type=module", "-e", RESPONDER], { cwd: ROOT, env: { ...process.env, NATS_OPTS: JSON.stringify(natsOpts) }, stdio: ["ignore", "pipe", "inherit"] });
await new Promise((resolve, reject) => {
  responder.stdout.once("data", resolve);
  responder.once("exit", (code) => reject(new Error(`the responder exited ${code}`)));
});

const client = cluster.client();
await client.createService("bench");
await client.createFunction("bench", {
  functionName: "nop",
  runtime: "nodejs20",
  handler: "index.handler",
  instanceConcurrency: 100,
  code: { zipFile: (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" })).toString("base64") },
});
await client.createTrigger("bench", "nop", { triggerName: "t", triggerType: "nats", triggerConfig: { subject: "bench.trigger", invocationType: "Sync", cloudEvents: CLOUD_EVENTS } });
await new Promise((r) => setTimeout(r, 1_000));

const body = JSON.stringify({ order: 42, items: [1, 2, 3] });

/** Closed loop: `CONCURRENCY` requesters for `seconds`; requests/s. */
async function throughput(subject, seconds) {
  let done = 0;
  let failed = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        try {
          const reply = await nc.request(subject, body, { timeout: 10_000 });
          if (reply.headers?.get("Nimbus-Error-Code") || reply.headers?.get("Nimbus-Error-Type")) failed++;
          else done++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { "msgs/s": done / seconds, failed };
}

/** Open loop at `RATE`/s for `seconds`: latency of each request, ms. */
async function latency(subject, seconds) {
  const samples = [];
  const total = Math.floor(RATE * seconds);
  const started = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(nc.request(subject, body, { timeout: 10_000 }).then(() => samples.push(performance.now() - t0), () => undefined));
  }
  await Promise.all(pending);
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
  return { p50: pct(50), p99: pct(99), n: samples.length };
}

try {
  await throughput("bench.trigger", 2); // warm-up: the instance starts here
  await throughput("bench.raw", 1);
  const rounds = { raw: [], nimbus: [], rawLat: [], nimbusLat: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.raw.push(await throughput("bench.raw", SECONDS));
    rounds.nimbus.push(await throughput("bench.trigger", SECONDS));
    rounds.rawLat.push(await latency("bench.raw", Math.min(SECONDS, 4)));
    rounds.nimbusLat.push(await latency("bench.trigger", Math.min(SECONDS, 4)));
  }
  const m = (list, field) => median(list.map((s) => s[field]));
  const raw = m(rounds.raw, "msgs/s");
  const nimbus = m(rounds.nimbus, "msgs/s");
  const rows = [
    { variant: "raw nats.js responder", "msgs/s": Math.round(raw), [`p50 ms @${RATE}/s`]: round2(m(rounds.rawLat, "p50")), [`p99 ms @${RATE}/s`]: round2(m(rounds.rawLat, "p99")) },
    {
      variant: `Nimbus Sync NATS trigger (${CLOUD_EVENTS ? "CloudEvents" : "raw payload"})`,
      "msgs/s": Math.round(nimbus),
      [`p50 ms @${RATE}/s`]: round2(m(rounds.nimbusLat, "p50")),
      [`p99 ms @${RATE}/s`]: round2(m(rounds.nimbusLat, "p99")),
      failed: rounds.nimbus.reduce((n, s) => n + s.failed, 0),
    },
  ];
  const targets = [
    { figure: "P5 NATS trigger throughput", measured: `${round2(nimbus / raw)}× raw nats.js`, target: "≥ 0.5×" },
    { figure: `P5 NATS trigger p99 at ${RATE} msgs/s`, measured: `${round2(m(rounds.nimbusLat, "p99"))} ms`, target: "≤ 2 ms" },
  ];
  console.table(targets);
  await report("nats-trigger", rows, { targets, concurrency: CONCURRENCY, rate: RATE, cloudEvents: CLOUD_EVENTS });
} finally {
  responder.kill("SIGKILL");
  await nc.close();
  await cluster.stop();
}
