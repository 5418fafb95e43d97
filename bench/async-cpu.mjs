// async-cpu — where an asynchronous invocation's CPU goes: CPU time per invocation of every process
// (gateway, async-queue, invoker with its instances, redis-server, nats-server, the load generator)
// and Redis commands per invocation, for BENCH_JOBS no-op invocations from 32 concurrent callers.
// BENCH_SLOWLOG=1 also times each Lua script inside Redis (the slow log at threshold 0; it costs
// Redis CPU itself, so the per-process figures of such a run are not the ones to quote).
// BENCH_PROFILE=1 then runs BENCH_JOBS more with V8's sampling profiler on the gateway and the
// async-queue (opened through SIGUSR1, as in `profile`) and prints where their time goes.
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { TestCluster } from "@nimbus/testkit";
import { asyncEnqueuer, completions, deployNoop, fromCallers } from "./async-lib.mjs";
import { cpuSeconds, report, ROOT, round2 } from "./lib.mjs";
import { startProfiler } from "./inspector-lib.mjs";
import { summarize } from "./profile-lib.mjs";

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000);
const CALLERS = Number(process.env.BENCH_CONCURRENCY ?? 32);

const PROFILE = Boolean(process.env.BENCH_PROFILE);
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const cluster = await TestCluster.start({ services: ["invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
// The inspector is not open until the profile phase (SIGUSR1): --inspect-port only says where.
const inspectPorts = { gateway: await freePort(), "async-queue": await freePort() };
for (const name of ["gateway", "async-queue"]) await cluster.startService(name, {}, PROFILE ? [`--inspect-port=127.0.0.1:${inspectPorts[name]}`] : []);
const cli = (...args) =>
  execFileSync("redis-cli", ["-p", String(cluster.redis.port), "-a", cluster.redis.options.password ?? "", "--no-auth-warning", ...args], { maxBuffer: 1 << 30 }).toString();
const commandStats = () =>
  Object.fromEntries(
    cli("INFO", "commandstats")
      .split("\n")
      .map((l) => /cmdstat_(\S+):calls=(\d+),usec=(\d+)/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1], { calls: Number(m[2]), usec: Number(m[3]) }]),
  );

try {
  const enqueue = asyncEnqueuer(cluster, CALLERS);
  const queue = await deployNoop(cluster);
  const done = await completions(cluster.redis.url, queue.name, queue.prefix);
  const runJobs = async (n) => {
    const finished = done.expect(n);
    await fromCallers(n, CALLERS, enqueue);
    await finished;
  };
  await runJobs(500); // warm-up

  const pids = {
    gateway: cluster.service("gateway").process.pid,
    "async-queue": cluster.service("async-queue").process.pid,
    "invoker (+ instances)": cluster.service("invoker").process.pid,
    "redis-server": cluster.redis.process.pid,
    "nats-server": cluster.nats.process.pid,
  };
  const before = {};
  for (const [name, pid] of Object.entries(pids)) before[name] = await cpuSeconds([pid]);
  const stats0 = commandStats();
  if (process.env.BENCH_SLOWLOG) {
    cli("CONFIG", "SET", "slowlog-log-slower-than", "0");
    cli("CONFIG", "SET", "slowlog-max-len", String(JOBS * 12));
    cli("SLOWLOG", "RESET");
  }
  const self = process.cpuUsage();
  const started = performance.now();
  await runJobs(JOBS);
  const seconds = (performance.now() - started) / 1000;
  const rows = [];
  for (const [name, pid] of Object.entries(pids)) rows.push({ process: name, "µs CPU per invocation": Math.round((((await cpuSeconds([pid])) - before[name]) / JOBS) * 1e6) });
  const own = process.cpuUsage(self);
  rows.push({ process: "load generator (this process)", "µs CPU per invocation": Math.round((own.user + own.system) / JOBS) });
  rows.push({ process: "total", "µs CPU per invocation": rows.reduce((n, r) => n + r["µs CPU per invocation"], 0) });
  const stats1 = commandStats();
  const commands = Object.entries(stats1)
    .map(([name, s]) => ({ command: name, "calls per invocation": round2((s.calls - (stats0[name]?.calls ?? 0)) / JOBS), "µs in Redis per invocation": round2((s.usec - (stats0[name]?.usec ?? 0)) / JOBS) }))
    .filter((r) => r["calls per invocation"] >= 0.01)
    .sort((a, b) => b["µs in Redis per invocation"] - a["µs in Redis per invocation"]);
  console.table(commands);
  if (process.env.BENCH_SLOWLOG) {
    const scripts = new Map();
    for (const entry of JSON.parse(cli("--json", "SLOWLOG", "GET", String(JOBS * 12)))) {
      const args = entry[3];
      if (String(args[0]).toLowerCase() !== "evalsha") continue;
      const key = `${String(args[1]).slice(0, 8)}: ${args[2]} keys, first ${String(args[3]).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>")}`;
      const s = scripts.get(key) ?? { calls: 0, us: 0 };
      s.calls++;
      s.us += entry[2];
      scripts.set(key, s);
    }
    console.table([...scripts].map(([script, s]) => ({ script, "calls per invocation": round2(s.calls / JOBS), "µs each": round2(s.us / s.calls) })));
  }
  console.log(`${JOBS} invocations in ${seconds.toFixed(2)} s (${Math.round(JOBS / seconds)}/s, accepted → completed)`);
  const profiles = {};
  if (PROFILE) {
    const dir = join(ROOT, "bench", "results");
    await mkdir(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const running = {};
    for (const name of ["gateway", "async-queue"]) {
      running[name] = await startProfiler({ pid: pids[name], port: inspectPorts[name], out: join(dir, `async-profile-${stamp}-${name}.cpuprofile`), intervalUs: 200 });
    }
    await runJobs(JOBS);
    for (const [name, profiler] of Object.entries(running)) {
      const summary = await summarize([await profiler.stop()]);
      profiles[name] = summary;
      console.log(`\n${name}: ${summary.busySamples} busy samples of ${summary.samples}, main thread busy ${summary.busyShare}%`);
      console.table(summary.areas.slice(0, 14));
      console.table(summary.functions.slice(0, 12));
    }
  }
  await report("async-cpu", rows, { jobs: JOBS, callers: CALLERS, rate: Math.round(JOBS / seconds), commands, profiles });
  await done.close();
} finally {
  await cluster.stop();
}
