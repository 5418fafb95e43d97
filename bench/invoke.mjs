// invoke — P1 (warm sync throughput, no-op handler, 50 connections), P2 (added latency at 1
// connection) and P8 (CPU per invocation), against a bare Node http server running the same
// handler in-process and serverless-offline 13 in-process; and a Python WSGI function behind its
// HTTP trigger against the same handler served by Python's wsgiref; rounds interleaved.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { bareHandlerServer, bareWsgiServer, cpuSeconds, ensurePeers, interleave, report, round2, round3, ROUNDS, SECONDS, signedInvocation, signedScript, wrk } from "./lib.mjs";

const HANDLER = "exports.handler = (event, context, callback) => callback(null, 'ok');";
const WSGI = "def handler(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok']\n";
const withPeers = process.env.BENCH_PEERS !== "0";

const cluster = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn" } });
const stops = [() => cluster.stop()];
try {
  const client = cluster.client();
  await client.createService("bench");
  const zipFile = (await makeZip({ "index.js": HANDLER })).toString("base64");
  await client.createFunction("bench", { functionName: "noop", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 100, code: { zipFile } });
  await client.createFunction("bench", { functionName: "noop1", runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 1, code: { zipFile } });
  await client.createFunction("bench", { functionName: "pywsgi", runtime: "python3", handler: "index.handler", instanceConcurrency: 100, code: { zipFile: (await makeZip({ "index.py": WSGI })).toString("base64") } });
  await client.createTrigger("bench", "pywsgi", { triggerName: "http", triggerType: "http", triggerConfig: { authType: "anonymous", methods: ["POST"] } });
  const script = (fn) => signedInvocation(cluster, "bench", fn, `/tmp/nimbus-bench-${fn}.lua`);
  const nimbusPids = [cluster.service("gateway").process.pid, cluster.service("invoker").process.pid, cluster.nats.process.pid, cluster.redis?.process.pid].filter(Boolean);

  // The same handler, called in-process by a plain http server: the physical limit.
  const bare = await bareHandlerServer(HANDLER);
  stops.push(() => bare.stop());
  const bareWsgi = await bareWsgiServer(WSGI);
  stops.push(() => bareWsgi.stop());

  const variants = {
    bare: { url: `http://127.0.0.1:${bare.port}/`, script: await signedScript("/tmp/nimbus-bench-bare.lua", { headers: {} }), pids: [bare.pid] },
    nimbus: { ...(await script("noop")), pids: nimbusPids },
    "nimbus-c1": { ...(await script("noop1")), pids: nimbusPids },
    "python-bare (wsgiref)": { url: `http://127.0.0.1:${bareWsgi.port}/`, script: await signedScript("/tmp/nimbus-bench-bare.lua", { headers: {} }), pids: [bareWsgi.pid] },
    "nimbus-python": { url: `${cluster.endpoint()}/2016-08-15/proxy/bench/pywsgi/`, script: await signedScript("/tmp/nimbus-bench-bare.lua", { headers: {} }), pids: nimbusPids },
  };

  if (withPeers) {
    const dir = ensurePeers();
    const sls = spawn(process.execPath, [join(dir, "node_modules", "serverless", "bin", "serverless.js"), "offline", "--useInProcess", "--noPrependStageInUrl", "--httpPort", "3999", "--lambdaPort", "3998"], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off", AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "x" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    stops.push(() => sls.kill("SIGKILL"));
    await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`serverless-offline did not start:\n${out}`)), 60_000);
      const onData = (d) => {
        out += d;
        if (out.includes("Server ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      sls.stdout.on("data", onData);
      sls.stderr.on("data", onData);
      sls.once("exit", () => reject(new Error(`serverless-offline exited:\n${out}`)));
    });
    variants["serverless-offline"] = { url: "http://127.0.0.1:3999/noop", script: variants.bare.script, pids: [sls.pid] };
  }

  // Warm everything up (instances started, JITs hot) before measuring.
  for (const v of Object.values(variants)) await wrk(v.url, { connections: 50, seconds: 2, script: v.script });

  const rows = [];
  const results = {};
  for (const connections of [50, 1]) {
    const r = await interleave(variants, ROUNDS, async (v) => {
      const before = await cpuSeconds(v.pids);
      const w = await wrk(v.url, { connections, script: v.script });
      const cpu = (await cpuSeconds(v.pids)) - before;
      return { ...w, cpuUsPerRequest: (cpu * 1e6) / Math.max(1, w.requests) };
    });
    results[connections] = r;
    for (const [name, m] of Object.entries(r)) {
      rows.push({
        variant: name,
        connections,
        "req/s": Math.round(m.rps),
        "× bare": round2(m.rps / (name.includes("python") ? r["python-bare (wsgiref)"] : r.bare).rps),
        "p50 ms": round3(m.p50),
        "p99 ms": round3(m.p99),
        "CPU µs/req": Math.round(m.cpuUsPerRequest),
        "CPU × bare": round2(m.cpuUsPerRequest / (name.includes("python") ? r["python-bare (wsgiref)"] : r.bare).cpuUsPerRequest),
        errors: m.non2xx,
      });
    }
  }
  const p1 = results[50].nimbus.rps / results[50].bare.rps;
  const p1peer = results[50]["serverless-offline"] ? results[50].nimbus.rps / results[50]["serverless-offline"].rps : undefined;
  const p2p50 = results[1].nimbus.p50 - results[1].bare.p50;
  const p2p99 = results[1].nimbus.p99 - results[1].bare.p99;
  const p8 = results[50].nimbus.cpuUsPerRequest / results[50].bare.cpuUsPerRequest;
  const py = (c) => ({ nimbus: results[c]["nimbus-python"], bare: results[c]["python-bare (wsgiref)"] });
  const targets = [
    { figure: "P1 throughput × bare (50 conn)", measured: round2(p1), target: "≥ 0.35" },
    ...(p1peer ? [{ figure: "P1 throughput × serverless-offline", measured: round2(p1peer), target: "≥ 2" }] : []),
    { figure: "P2 added p50 at 1 conn (ms)", measured: round3(p2p50), target: "≤ 0.3" },
    { figure: "P2 added p99 at 1 conn (ms)", measured: round3(p2p99), target: "≤ 2" },
    { figure: "P8 CPU per invocation × bare", measured: round2(p8), target: "≤ 3" },
    { figure: "Python: throughput × bare wsgiref (50 conn)", measured: round2(py(50).nimbus.rps / py(50).bare.rps), target: "—" },
    { figure: "Python: added p50 at 1 conn (ms)", measured: round3(py(1).nimbus.p50 - py(1).bare.p50), target: "—" },
    { figure: "Python: CPU per invocation × bare wsgiref", measured: round2(py(50).nimbus.cpuUsPerRequest / py(50).bare.cpuUsPerRequest), target: "—" },
  ];
  console.table(targets);
  await report("invoke", rows, { targets, note: `wrk (1 thread) shares the ${SECONDS}s runs' 2 cores with every process measured; 'nimbus' is one warm instance with instanceConcurrency 100, 'nimbus-c1' FC's default of 1 (one instance per connection). CPU counts gateway, invoker, instances, nats-server and redis-server.` });
} finally {
  for (const stop of stops.reverse()) await stop();
}
