// Shared helpers for benchmarks: wrk runs, interleaved rounds, medians, CPU accounting, result files.
import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { authorization } from "@nimbus/sdk";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** Runs wrk and returns requests/s and latency percentiles in ms. */
export async function wrk(url, { connections = 50, threads = 1, seconds = SECONDS, headers = {}, script } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  if (script) args.push("-s", script);
  const { stdout } = await run("wrk", [...args, url], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const pct = (p) => toMs(new RegExp(`\\s${p}%\\s+([\\d.]+\\w+)`).exec(stdout)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(stdout)?.[1];
  return { rps, p50: pct(50), p90: pct(90), p99: pct(99), requests, non2xx, ...(errors ? { socketErrors: errors } : {}) };
}

function toMs(text) {
  if (!text) return NaN;
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

export function median(values) {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Runs every variant once per round, in the same order each round (A B A B …), and returns the
 * median of each numeric field per variant.
 */
export async function interleave(variants, rounds, measure) {
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, target] of Object.entries(variants)) samples[name].push(await measure(target, name));
  }
  const result = {};
  for (const [name, list] of Object.entries(samples)) {
    result[name] = {};
    for (const field of Object.keys(list[0])) if (typeof list[0][field] === "number") result[name][field] = median(list.map((s) => s[field]));
  }
  return result;
}

/** Prints a table and writes the JSON to bench/results/<name>-<time>.json. */
export async function report(name, rows, extra = {}) {
  console.table(rows);
  const dir = join(ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify({ name, at: new Date().toISOString(), rounds: ROUNDS, seconds: SECONDS, rows, ...extra }, null, 2));
  console.log(`results: ${file}`);
}

/** A Node child running an inline module that prints its port on the first line. */
export async function nodeServer(script, env = {}) {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"], env: { PATH: process.env.PATH, ...env } });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`baseline server exited ${code}`)));
  });
  return { port, pid: child.pid, stop: () => child.kill("SIGKILL") };
}

const TICK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim() || 100);

/** CPU seconds (user + system) used so far by these processes and all their descendants. */
export async function cpuSeconds(pids) {
  const all = new Set();
  const stack = [...pids];
  while (stack.length) {
    const pid = stack.pop();
    if (all.has(pid)) continue;
    all.add(pid);
    for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
      const children = await readFile(`/proc/${pid}/task/${tid}/children`, "utf8").catch(() => "");
      for (const c of children.split(" ").filter(Boolean)) stack.push(Number(c));
    }
  }
  let ticks = 0;
  for (const pid of all) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / TICK;
}

/** A wrk script that sends a signed FC request (the signature holds for 15 minutes). */
export async function signedScript(file, { method = "POST", headers, body = "" }) {
  const lines = [`wrk.method = "${method}"`, `wrk.body = ${JSON.stringify(body)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers["${k}"] = ${JSON.stringify(v)}`);
  await writeFile(file, lines.join("\n") + "\n");
  return file;
}

/**
 * A signed invocation of `fn` in `service` for wrk: its URL and a script with the headers (the
 * signature's Date holds for 15 minutes: sign again before each use in a long run).
 */
export async function signedInvocation(cluster, service, fn, file) {
  const path = `/2016-08-15/services/${service}/functions/${fn}/invocations`;
  const headers = { date: new Date().toUTCString() };
  headers.authorization = authorization(cluster.credentials.accessKeyId, cluster.credentials.accessKeySecret, { method: "POST", path, headers });
  return { url: `${cluster.endpoint()}${path}`, script: await signedScript(file, { headers }) };
}

/** An event handler's source run in-process by a plain Node http server: a call's physical limit. */
export function bareHandlerServer(handler) {
  return nodeServer(`
    import { createServer } from "node:http";
    const mod = { exports: {} }; new Function("exports", "module", ${JSON.stringify(handler)})(mod.exports, mod);
    const server = createServer((req, res) => {
      const chunks = []; req.on("data", (c) => chunks.push(c));
      req.on("end", () => mod.exports.handler(Buffer.concat(chunks), {}, (err, out) => res.end(out)));
    });
    server.listen(0, "127.0.0.1", () => console.log(server.address().port));
  `);
}

/**
 * A WSGI handler's source served in-process by Python's own wsgiref server (single-threaded, as
 * gunicorn's sync worker; HTTP/1.0, so each request on a connection of its own): the baseline of a
 * Python HTTP function.
 */
export async function bareWsgiServer(handler) {
  const script = `
from wsgiref.simple_server import WSGIRequestHandler, make_server
${handler}
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
server = make_server("127.0.0.1", 0, handler, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
`;
  const child = spawn("/usr/bin/python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit"], env: { PATH: process.env.PATH } });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`the wsgiref server exited ${code}`)));
  });
  return { port, pid: child.pid, stop: () => child.kill("SIGKILL") };
}

/** Installs the peer platforms (serverless-offline) into bench/peers when missing. */
export function ensurePeers() {
  const dir = join(ROOT, "bench", "peers");
  if (existsSync(join(dir, "node_modules", "serverless-offline"))) return dir;
  console.log("installing the peer platforms into bench/peers (serverless 3, serverless-offline 13)…");
  const r = spawnSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock"], { cwd: dir, stdio: "inherit" });
  if (r.status !== 0) throw new Error("could not install serverless-offline for the peer baseline");
  return dir;
}

export const round2 = (n) => Math.round(n * 100) / 100;
export const round3 = (n) => Math.round(n * 1000) / 1000;
