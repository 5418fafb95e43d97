// Shared helpers for benchmarks: wrk runs, interleaved rounds, medians, result files.
import { execFile, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

/** Runs wrk and returns requests/s and latency percentiles in ms. */
export async function wrk(url, { connections = 50, threads = 1, seconds = 5, headers = {} } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const { stdout } = await run("wrk", [...args, url], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const pct = (p) => toMs(new RegExp(`\\s${p}%\\s+([\\d.]+\\w+)`).exec(stdout)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return { rps, p50: pct(50), p90: pct(90), p99: pct(99), non2xx };
}

function toMs(text) {
  if (!text) return NaN;
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Runs every variant once per round, in the same order each round (A B A B …), and returns the
 * median of each measured field per variant.
 */
export async function interleave(variants, rounds, measure) {
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, target] of Object.entries(variants)) samples[name].push(await measure(target, name));
  }
  const result = {};
  for (const [name, list] of Object.entries(samples)) {
    result[name] = {};
    for (const field of Object.keys(list[0])) result[name][field] = median(list.map((s) => s[field]));
    result[name].rounds = list;
  }
  return result;
}

/** Prints a table and writes the JSON to bench/results/<name>-<time>.json. */
export async function report(name, rows, extra = {}) {
  console.table(rows);
  const dir = join(ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify({ name, at: new Date().toISOString(), rows, ...extra }, null, 2));
  console.log(`results: ${file}`);
}

/** A Node child running `script` (an inline module) that prints its port on the first line. */
export async function nodeServer(script) {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`baseline server exited ${code}`)));
  });
  return { port, stop: () => child.kill("SIGKILL") };
}
