// functions — P7: 100 distinct warm functions against one (throughput), and the memory of a warm
// instance against a bare Node child that loaded nothing.
import { spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { authorization } from "@nimbus/sdk";
import { makeZip, TestCluster } from "@nimbus/testkit";
import { interleave, median, report, round2, ROUNDS, wrk } from "./lib.mjs";

const COUNT = Number(process.env.BENCH_FUNCTIONS ?? 100);
const HANDLER = "exports.handler = (e, c, cb) => cb(null, 'ok');";

/** A wrk script that cycles over signed requests to several paths. */
async function cycleScript(file, requests) {
  const rows = requests.map((r) => `{ path = ${JSON.stringify(r.path)}, date = ${JSON.stringify(r.date)}, auth = ${JSON.stringify(r.auth)} }`);
  await writeFile(
    file,
    `local reqs = { ${rows.join(",\n")} }\nlocal i = 0\nrequest = function()\n  i = i % #reqs + 1\n  local r = reqs[i]\n  return wrk.format("POST", r.path, { ["Date"] = r.date, ["Authorization"] = r.auth }, "")\nend\n`,
  );
  return file;
}

async function rssKb(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

const cluster = await TestCluster.start({ services: ["gateway", "invoker"], env: { NIMBUS_LOG_LEVEL: "warn", NIMBUS_INSTANCE_IDLE_MS: "600000" } });
try {
  const client = cluster.client();
  await client.createService("many");
  const zipFile = (await makeZip({ "index.js": HANDLER })).toString("base64");
  const sign = (fn) => {
    const path = `/2016-08-15/services/many/functions/${fn}/invocations`;
    const headers = { date: new Date().toUTCString() };
    return { path, date: headers.date, auth: authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, { method: "POST", path, headers }) };
  };
  const names = Array.from({ length: COUNT }, (_, i) => `f${i}`);
  for (const name of names) await client.createFunction("many", { functionName: name, runtime: "nodejs20", handler: "index.handler", instanceConcurrency: 10, code: { zipFile } });
  for (const name of names) await client.invokeFunction("many", name, "");
  const url = cluster.endpoint();
  const single = await cycleScript("/tmp/nimbus-bench-one.lua", [sign("f0")]);
  const all = await cycleScript("/tmp/nimbus-bench-many.lua", names.map(sign));
  await wrk(url, { connections: 50, seconds: 2, script: all });
  const r = await interleave({ "1 function": single, [`${COUNT} functions`]: all }, ROUNDS, (script) => wrk(url, { connections: 50, script }));

  // Memory: every warm instance's runtime process against a bare Node child doing nothing.
  const pids = [];
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const argv = cmd.split("\0");
    if (argv[0] === process.execPath && argv.some((a) => a.endsWith("runtime.cjs"))) pids.push(Number(pid));
  }
  const instanceRss = median(await Promise.all(pids.map(rssKb)));
  const bare = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { env: { PATH: process.env.PATH }, stdio: "ignore" });
  await new Promise((res) => setTimeout(res, 500));
  const bareRss = await rssKb(bare.pid);
  bare.kill();

  const rows = [
    { variant: "1 function", "req/s": Math.round(r["1 function"].rps), "p99 ms": round2(r["1 function"].p99) },
    { variant: `${COUNT} functions`, "req/s": Math.round(r[`${COUNT} functions`].rps), "p99 ms": round2(r[`${COUNT} functions`].p99) },
    { variant: `warm instance RSS (median of ${pids.length})`, "RSS MB": round2(instanceRss / 1024) },
    { variant: "bare Node child RSS", "RSS MB": round2(bareRss / 1024) },
  ];
  const targets = [
    { figure: `P7 ${COUNT} functions × 1 function (throughput)`, measured: round2(r[`${COUNT} functions`].rps / r["1 function"].rps), target: "≥ 0.7" },
    { figure: "P7 warm instance memory × bare Node child", measured: round2(instanceRss / bareRss), target: "≤ 1.1" },
  ];
  console.table(targets);
  await report("functions", rows, { targets });
} finally {
  await cluster.stop();
}
