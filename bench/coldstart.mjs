// coldstart — P3: the first call of a new function (sandboxed) against `node -e 0` (Python's
// against `python3 -c pass`) and a bare fork-to-first-IPC-reply, all spawned with a clean environment like instances are. Each round
// creates fresh functions: one with never-seen code (the package is fetched and unpacked too), one
// whose code is already unpacked on the node.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { median, report, round2, ROUNDS } from "./lib.mjs";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const cleanEnv = { PATH: process.env.PATH };

function time(fn) {
  return async () => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };
}

const nodeE0 = time(() => new Promise((resolve) => spawn(process.execPath, ["-e", "0"], { env: cleanEnv, stdio: "ignore" }).on("exit", resolve)));
const pythonPass = time(() => new Promise((resolve) => spawn("/usr/bin/python3", ["-c", "pass"], { env: cleanEnv, stdio: "ignore" }).on("exit", resolve)));
const nodeE0Inherited = time(() => new Promise((resolve) => spawn(process.execPath, ["-e", "0"], { stdio: "ignore" }).on("exit", resolve)));
const forkReply = time(
  () =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ["-e", "process.send('ready')"], { env: cleanEnv, stdio: ["ignore", "ignore", "ignore", "ipc"] });
      child.once("message", () => {
        child.kill();
        resolve();
      });
    }),
);

/** The invoker's count of pre-started sandboxes waiting, from its /metrics. */
async function waitingSandboxes(cluster) {
  const text = await (await fetch(`http://127.0.0.1:${cluster.service("invoker").ready.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("nimbus_prestarted_sandboxes"));
  return Number(line?.split(" ").pop() ?? 0);
}

// Two clusters, one without pre-started sandboxes (every first call builds its sandbox and boots
// Node) and one with NIMBUS_PREWARM=2 (a first call takes a waiting sandbox; each is measured once
// the pool has refilled, so the refill's CPU never overlaps a measurement).
const env = { NIMBUS_LOG_LEVEL: "warn", NIMBUS_METRICS_PORT: "0" };
const clusters = {
  "": await TestCluster.start({ services: ["gateway", "invoker"], env: { ...env, NIMBUS_PREWARM: "0" } }),
  ", pre-started pool": await TestCluster.start({ services: ["gateway", "invoker"], env: { ...env, NIMBUS_PREWARM: "2" } }),
};
try {
  const sharedZip = (await makeZip({ "index.js": "exports.handler = (e, c, cb) => cb(null, 'ok');" })).toString("base64");
  const pythonZip = (await makeZip({ "index.py": "def handler(event, context):\n    return 'ok'\n" })).toString("base64");
  for (const cluster of Object.values(clusters)) {
    const client = cluster.client();
    await client.createService("cold");
    await client.createService("coldoffline", { internetAccess: false });
    await client.createFunction("cold", { functionName: "seed", runtime: "nodejs20", handler: "index.handler", code: { zipFile: sharedZip } });
    await client.invokeFunction("cold", "seed", "");
    // A Python function has run: the pooled node keeps Python sandboxes ready from now on.
    await client.createFunction("cold", { functionName: "pyseed", runtime: "python3", handler: "index.handler", code: { zipFile: pythonZip } });
    await client.invokeFunction("cold", "pyseed", "");
  }
  let n = 0;
  const kinds = new Set(["cold", "python"]);
  // "cold" has internetAccess (FC's default: a slirp4netns network per instance); "coldoffline" not.
  const firstCall = (cluster, pooled, fresh, service = "cold", runtime = "nodejs20") =>
    (async () => {
      const client = cluster.client();
      const name = `f${n++}`;
      const zipFile = runtime !== "nodejs20" ? pythonZip : fresh ? (await makeZip({ "index.js": `// ${randomBytes(8).toString("hex")}\nexports.handler = (e, c, cb) => cb(null, 'ok');` })).toString("base64") : sharedZip;
      await client.createFunction(service, { functionName: name, runtime, handler: "index.handler", code: { zipFile } });
      if (pooled) {
        kinds.add(service);
        const until = Date.now() + 10_000;
        while ((await waitingSandboxes(cluster)) < 2 * kinds.size && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 100));
      }
      const started = performance.now();
      const res = await client.invokeFunction(service, name, "");
      const ms = performance.now() - started;
      if (res.data.toString() !== "ok") throw new Error("cold call failed");
      return ms;
    })();

  // A warm call made the same way (the same client, a function already running): what a first call
  // costs beyond it is the cold start itself.
  const warmCall = async () => {
    const started = performance.now();
    await clusters[""].client().invokeFunction("cold", "seed", "");
    return performance.now() - started;
  };
  const samples = { "node -e 0 (clean env)": [], "python3 -c pass (clean env)": [], "node -e 0 (this env)": [], "fork → first IPC reply": [], "nimbus warm call (same client)": [] };
  for (const suffix of Object.keys(clusters)) {
    samples[`nimbus first call, code cached${suffix}`] = [];
    samples[`nimbus first call, new code${suffix}`] = [];
    samples[`nimbus first call, code cached, internetAccess false${suffix}`] = [];
    samples[`nimbus first call, Python${suffix}`] = [];
  }
  for (let i = 0; i < Math.max(ROUNDS, SAMPLES); i++) {
    samples["node -e 0 (clean env)"].push(await nodeE0());
    samples["python3 -c pass (clean env)"].push(await pythonPass());
    samples["node -e 0 (this env)"].push(await nodeE0Inherited());
    samples["fork → first IPC reply"].push(await forkReply());
    samples["nimbus warm call (same client)"].push(await warmCall());
    for (const [suffix, cluster] of Object.entries(clusters)) {
      const pooled = suffix !== "";
      samples[`nimbus first call, code cached${suffix}`].push(await firstCall(cluster, pooled, false));
      samples[`nimbus first call, new code${suffix}`].push(await firstCall(cluster, pooled, true));
      samples[`nimbus first call, code cached, internetAccess false${suffix}`].push(await firstCall(cluster, pooled, false, "coldoffline"));
      samples[`nimbus first call, Python${suffix}`].push(await firstCall(cluster, pooled, false, "cold", "python3"));
    }
  }
  const base = median(samples["node -e 0 (clean env)"]);
  const pythonBase = median(samples["python3 -c pass (clean env)"]);
  const rows = Object.entries(samples).map(([variant, list]) => ({
    variant,
    "median ms": round2(median(list)),
    "p90 ms": round2([...list].sort((a, b) => a - b)[Math.floor(list.length * 0.9)]),
    "× node -e 0": round2(median(list) / base),
    ...(variant.includes("Python") ? { "× python3 -c pass": round2(median(list) / pythonBase) } : {}),
  }));
  const targets = [
    { figure: "P3 cold start × node -e 0", measured: round2(median(samples["nimbus first call, code cached"]) / base), target: "≤ 1.2" },
    { figure: "P3 cold start from the pre-started pool × node -e 0", measured: round2(median(samples["nimbus first call, code cached, pre-started pool"]) / base), target: "≤ 0.3" },
    {
      figure: "… the same, less a warm call's latency × node -e 0",
      measured: round2((median(samples["nimbus first call, code cached, pre-started pool"]) - median(samples["nimbus warm call (same client)"])) / base),
      target: "≤ 0.3",
    },
    { figure: "P3 Python cold start × python3 -c pass", measured: round2(median(samples["nimbus first call, Python"]) / pythonBase), target: "≤ 1.2" },
    { figure: "P3 Python cold start from the pre-started pool × python3 -c pass", measured: round2(median(samples["nimbus first call, Python, pre-started pool"]) / pythonBase), target: "≤ 0.3" },
  ];
  console.table(targets);
  await report("coldstart", rows, {
    targets,
    samples: SAMPLES,
    note: "first call = client-side latency of the first invocation of a just-created function: placement, cold start in a bubblewrap sandbox (cgroup limits; a slirp4netns network unless internetAccess is false) or the taking of a pre-started one, runtime load, handler module load, the call itself",
  });
} finally {
  await Promise.all(Object.values(clusters).map((c) => c.stop()));
}
