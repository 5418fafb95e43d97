// profile — where the CPU of one warm sync call goes, per process (issue 13, item 6).
//
// The cluster of `invoke` (a no-op function with instanceConcurrency 100 and one with 1) under wrk
// at 50 connections and at 1. Two phases, so that no profiler runs while CPU is counted:
//  1. CPU per call of every process — gateway, invoker, the instances, the sandboxes' helpers
//     (bwrap, slirp4netns), nats-server, redis-server — from /proc/<pid>/stat before and after each
//     run, against a bare Node http server running the same handler in-process, rounds interleaved.
//     wrk's own CPU and the machine's softirq time (loopback TCP) are shown apart, not counted.
//  2. V8 CPU profiles of the gateway, the invoker and the busiest instance (the 4 busiest, merged,
//     for instanceConcurrency 1 at 50 connections), one scenario at a time: SIGUSR1
//     opens a process's inspector (the services get --inspect-port; an instance listens on 9229
//     in its own network namespace, reached with nsenter), a client starts the sampling profiler,
//     wrk runs, the profile is summarized by area (self time, share of the main thread's busy
//     samples) and written to bench/results/*.cpuprofile (open in Chrome DevTools).
// Nothing in the platform changes for this: an instance is profiled as it runs, through Node's own
// SIGUSR1 inspector switch. (`perf` was the other option: hardware counters are not supported in
// this VM, and JIT frames need --perf-basic-prof, a flag instances are not started with.)
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { bareHandlerServer, interleave, report, ROOT, ROUNDS, SECONDS, signedInvocation, signedScript, wrk } from "./lib.mjs";
import { startProfiler } from "./inspector-lib.mjs";
import { cpuPerCall, cpuSnapshot, envOf, instancePids, summarize } from "./profile-lib.mjs";

const HANDLER = "exports.handler = (event, context, callback) => callback(null, 'ok');";
const PROFILE_SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const INTERVAL_US = Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 200);
const INSTANCES = Number(process.env.BENCH_PROFILE_INSTANCES ?? 4);
const withProfiles = process.env.BENCH_PROFILE !== "0";
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).toString().trim();

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const loadAtStart = load();
console.log(`commit ${commit}, load average ${loadAtStart.join(" ")}`);
const cluster = await TestCluster.start({ services: [], env: { NIMBUS_LOG_LEVEL: "warn" } });
const stops = [() => cluster.stop()];
try {
  // The inspector is not open until the profile phase (SIGUSR1): --inspect-port only says where.
  const ports = { gateway: await freePort(), invoker: await freePort() };
  await cluster.startService("gateway", {}, [`--inspect-port=127.0.0.1:${ports.gateway}`]);
  await cluster.startService("invoker", {}, [`--inspect-port=127.0.0.1:${ports.invoker}`]);
  const client = cluster.client();
  await client.createService("bench");
  const zipFile = (await makeZip({ "index.js": HANDLER })).toString("base64");
  await client.createFunction("bench", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 100, code: { zipFile } });
  await client.createFunction("bench", { functionName: "noop1", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 1, code: { zipFile } });
  const pids = {
    gateway: cluster.service("gateway").process.pid,
    invoker: cluster.service("invoker").process.pid,
    nats: cluster.nats.process.pid,
    redis: cluster.redis?.process.pid,
  };
  // Signed again before each use: a signature's Date holds for 15 minutes.
  const target = (fn) => signedInvocation(cluster, "bench", fn, `/tmp/nimbus-profile-${fn}.lua`);

  const bare = await bareHandlerServer(HANDLER);
  stops.push(() => bare.stop());
  const variants = {
    bare: { url: `http://127.0.0.1:${bare.port}/`, script: await signedScript("/tmp/nimbus-profile-bare.lua", { headers: {} }), roles: { bare: bare.pid } },
    "nimbus c100": { fn: "noop", roles: pids },
    "nimbus c1": { fn: "noop1", roles: pids },
  };
  const resign = async () => {
    for (const v of Object.values(variants)) if (v.fn) Object.assign(v, await target(v.fn));
  };
  await resign();
  // Warm up: instances started (50 of noop1), JITs hot.
  for (const v of Object.values(variants)) await wrk(v.url, { connections: 50, seconds: 3, script: v.script });

  // ---- 1. CPU per call, per process, no profiler anywhere. First what each uses with no load at
  // all (timers, heartbeats): at one connection some of the per-call figure is this.
  const ROLES = ["gateway", "invoker", "instances", "sandbox", "nats", "redis"];
  const idleBefore = await cpuSnapshot(pids);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const idlePer = cpuPerCall(idleBefore, await cpuSnapshot(pids), SECONDS * 1000);
  const idle = Object.fromEntries(ROLES.map((role) => [role, Math.round((idlePer[role]?.us ?? 0) * 100) / 100]));
  console.log("CPU with no load, ms per second:");
  console.table([idle]);
  const rows = [];
  const cpu = {};
  for (const connections of [50, 1]) {
    await resign();
    const loadBefore = load();
    const r = await interleave(variants, ROUNDS, async (v) => {
      const before = await cpuSnapshot(v.roles);
      const w = await wrk(v.url, { connections, script: v.script });
      const after = await cpuSnapshot(v.roles);
      const per = cpuPerCall(before, after, w.requests);
      const flat = { rps: w.rps, p50: w.p50, p99: w.p99, non2xx: w.non2xx, wrk: per.wrk.us, softirq: per.softirq.us, machine: per.machine.us };
      for (const role of [...ROLES, "bare"]) {
        if (!per[role]) continue;
        flat[role] = per[role].us;
        flat[`${role}.sys`] = per[role].sysUs;
        flat[`${role}.main`] = per[role].mainThreadUs;
        flat[`${role}.processes`] = per[role].processes;
      }
      return flat;
    });
    cpu[connections] = { load: { before: loadBefore, after: load() }, variants: r };
    for (const [name, m] of Object.entries(r)) {
      const total = ROLES.reduce((s, role) => s + (m[role] ?? 0), 0) + (m.bare ?? 0);
      const row = { variant: name, connections, "req/s": Math.round(m.rps), "p50 ms": Math.round(m.p50 * 1000) / 1000 };
      for (const role of ROLES) row[role] = m[role] === undefined ? "" : Math.round(m[role]);
      row["Nimbus total"] = name === "bare" ? "" : Math.round(total);
      row["bare"] = m.bare === undefined ? "" : Math.round(m.bare);
      row["× bare"] = Math.round((total / r.bare.bare) * 10) / 10;
      row["wrk"] = Math.round(m.wrk);
      row["softirq (machine)"] = Math.round(m.softirq);
      row["instances (n)"] = m["instances.processes"] ?? "";
      row.errors = m.non2xx;
      rows.push(row);
    }
  }
  console.log("CPU µs per call, per process (median of rounds; wrk and the machine's softirq shown apart):");
  console.table(rows);
  const splits = [];
  for (const connections of [50, 1]) {
    for (const [name, m] of Object.entries(cpu[connections].variants)) {
      if (name === "bare") continue;
      for (const role of ["gateway", "invoker", "instances"]) {
        splits.push({ variant: name, connections, process: role, "µs/call": Math.round(m[role]), "system %": Math.round((100 * m[`${role}.sys`]) / m[role]), "main thread %": Math.round((100 * m[`${role}.main`]) / m[role]) });
      }
    }
  }
  console.log("kernel (system) and main-thread shares:");
  console.table(splits);

  // ---- 2. CPU profiles, one scenario at a time.
  const profiles = {};
  if (withProfiles) {
    const dir = join(ROOT, "bench", "results");
    await mkdir(dir, { recursive: true });
    for (const [name, v] of Object.entries(variants)) {
      if (!v.fn) continue;
      for (const connections of [50, 1]) {
        await resign();
        const scenario = `${name.replace(" ", "-")}-${connections}conn`;
        // The instance(s) that serve the most of this load, measured over a short warm run: with
        // instanceConcurrency 1 each of ~50 instances takes a few calls a second, so a few of them
        // are profiled and their samples merged.
        const candidates = [];
        for (const pid of await instancePids(pids.invoker)) if ((await envOf(pid, "FC_FUNCTION_NAME")) === v.fn) candidates.push(pid);
        const roles = Object.fromEntries(candidates.map((p) => [p, p]));
        const before = await cpuSnapshot(roles);
        await wrk(v.url, { connections, seconds: 2, script: v.script });
        const after = await cpuSnapshot(roles);
        const used = (p) => (after.pids[p]?.user ?? 0) + (after.pids[p]?.sys ?? 0) - (before.pids[p]?.user ?? 0) - (before.pids[p]?.sys ?? 0);
        const busiest = candidates.sort((a, b) => used(b) - used(a)).slice(0, connections > 1 && v.fn === "noop1" ? INSTANCES : 1);
        const targets = { gateway: [{ pid: pids.gateway, port: ports.gateway }], invoker: [{ pid: pids.invoker, port: ports.invoker }] };
        if (busiest.length) targets.instance = busiest.map((pid) => ({ pid, netns: true }));
        const running = {};
        for (const [proc, list] of Object.entries(targets)) {
          running[proc] = [];
          for (const t of list) running[proc].push(await startProfiler({ ...t, out: join(dir, `profile-${stamp}-${scenario}-${proc}-${t.pid}.cpuprofile`), intervalUs: INTERVAL_US }));
        }
        // The profiled threads' CPU over the same window: how much of what was sampled really ran.
        const profiled = Object.fromEntries(Object.values(targets).flat().map((t) => [t.pid, t.pid]));
        const cpuBefore = await cpuSnapshot(profiled);
        const w = await wrk(v.url, { connections, seconds: PROFILE_SECONDS, script: v.script });
        const cpuAfter = await cpuSnapshot(profiled);
        const mainCpuMs = (list) => list.reduce((sum, t) => sum + ((cpuAfter.pids[t.pid]?.main ?? 0) - (cpuBefore.pids[t.pid]?.main ?? 0)) * 1000, 0);
        profiles[scenario] = { rps: w.rps, instances: candidates.length, processes: {} };
        for (const [proc, list] of Object.entries(running)) {
          const collected = [];
          for (const p of list) collected.push(await p.stop());
          const summary = await summarize(collected, { bundles: { "/runtime/runtime.cjs": join(ROOT, "packages", "runtime-node", "dist", "runtime.cjs") } });
          summary.mainThreadCpuMs = Math.round(mainCpuMs(targets[proc]));
          profiles[scenario].processes[proc] = summary;
          // Shares of the main thread's busy time, and that as µs per call from phase 1 (unprofiled).
          const m = cpu[connections].variants[name];
          const mainUs = proc === "instance" ? m["instances.main"] : m[`${proc}.main`];
          console.log(`\n${scenario} · ${proc} (pid ${targets[proc].map((t) => t.pid).join(", ")}): ${summary.busySamples} busy samples of ${summary.samples}, main thread busy ${summary.busyShare}%, ${summary.busyMs} ms sampled busy against ${summary.mainThreadCpuMs} ms of its CPU time`);
          console.table(summary.areas.slice(0, 14).map((a) => ({ ...a, "≈ µs/call (main thread)": Math.round((a.pct / 100) * mainUs * 10) / 10 })));
          console.table(summary.functions.slice(0, 10));
        }
      }
    }
  }

  await report("profile", rows, {
    commit,
    load: { start: loadAtStart, end: load() },
    idleMsPerSecond: idle,
    cpu,
    splits,
    profiles,
    profileIntervalUs: INTERVAL_US,
    note: `wrk (1 thread) shares the ${SECONDS}s runs' 2 cores with every process measured. 'instances' sums every instance Node process under the invoker ('sandbox': their bwrap/sh/slirp4netns), 'c100' is one instance with instanceConcurrency 100, 'c1' FC's default of 1. Profiles: self time as shares of the main thread's busy samples (${INTERVAL_US} µs interval, ${PROFILE_SECONDS} s per scenario), taken after and apart from the CPU runs.`,
  });
} finally {
  for (const stop of stops.reverse()) await stop();
}
