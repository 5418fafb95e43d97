// Running `nimbus up` / `npm start` as real child processes, and finding what they started.
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import FC from "@alicloud/fc2";
import { NimbusClient } from "@nimbus/sdk";
import { freePort } from "@nimbus/testkit";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url));

export interface Ports {
  api: number;
  nats: number;
  redis: number;
}

export async function freePorts(): Promise<Ports> {
  return { api: await freePort(), nats: await freePort(), redis: await freePort() };
}

/** The environment a user would start with: only NIMBUS_HOME and the ports set (free metrics ports). */
export function upEnv(home: string, ports: Ports): NodeJS.ProcessEnv {
  return {
    PATH: process.env["PATH"],
    HOME: process.env["HOME"],
    NIMBUS_HOME: home,
    NIMBUS_PORT: String(ports.api),
    NIMBUS_NATS_PORT: String(ports.nats),
    NIMBUS_REDIS_PORT: String(ports.redis),
    NIMBUS_METRICS_PORT_BASE: "0",
  };
}

export interface Up {
  child: ChildProcess;
  output: () => string;
  printed: { endpoint: string; accountId: string; accessKeyId: string; accessKeySecret: string };
}

/** Waits for the "is up" banner of a spawned `nimbus up` (or `npm start`) and reads what it printed. */
export async function whenUp(child: ChildProcess, timeoutMs = 60_000): Promise<Up> {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const until = Date.now() + timeoutMs;
  while (!out.includes("Ctrl-C stops everything")) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > until) throw new Error(`nimbus up did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const field = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(out)?.[1] ?? "";
  return {
    child,
    output: () => out,
    printed: { endpoint: field("endpoint"), accountId: field("account id"), accessKeyId: field("access key id"), accessKeySecret: field("access key secret") },
  };
}

/** Runs `nimbus up` (what `npm start` runs) as a user would, and waits until it says it is up. */
export async function startUp(home: string, ports: Ports): Promise<Up> {
  const child = spawn(process.execPath, [BIN, "up"], { env: upEnv(home, ports), stdio: ["ignore", "pipe", "pipe"] });
  return whenUp(child);
}

export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once("exit", (code) => r(code)));
}

/** FC's own SDK against what `nimbus up` printed (`timeout` in ms per request). */
export function sdk(u: Up, options: { timeout?: number } = {}): FC {
  return new FC(u.printed.accountId, { accessKeyID: u.printed.accessKeyId, accessKeySecret: u.printed.accessKeySecret, region: "local", endpoint: u.printed.endpoint, ...options });
}

/** Nimbus's own client (stateful async invocations, which FC's Node.js SDK lacks). */
export function client(u: Up): NimbusClient {
  return new NimbusClient({ endpoint: u.printed.endpoint, accessKeyId: u.printed.accessKeyId, accessKeySecret: u.printed.accessKeySecret, accountId: u.printed.accountId });
}

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

async function processes(): Promise<ProcInfo[]> {
  const found: ProcInfo[] = [];
  for (const entry of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    try {
      const [stat, cmdline] = await Promise.all([readFile(`/proc/${entry}/stat`, "utf8"), readFile(`/proc/${entry}/cmdline`, "utf8")]);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      found.push({ pid: Number(entry), ppid, cmdline: cmdline.replaceAll("\0", " ").trim() });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** `pid` and every process below it, with their command lines. */
export async function processTree(pid: number): Promise<ProcInfo[]> {
  const all = await processes();
  const tree = all.filter((p) => p.pid === pid);
  for (let i = 0; i < tree.length; i++) tree.push(...all.filter((p) => p.ppid === tree[i]?.pid));
  return tree;
}

/** The pid of the one process below `root` whose command line contains `marker`. */
export async function descendant(root: number, marker: string): Promise<number> {
  const matches = (await processTree(root)).filter((p) => p.cmdline.includes(marker));
  if (matches.length !== 1) throw new Error(`${matches.length} processes below ${root} match '${marker}'`);
  return matches[0]!.pid;
}

/** Those of `pids` that still run (zombies count as gone). */
export async function stillRunning(pids: number[]): Promise<number[]> {
  const running: number[] = [];
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    if (stat && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") running.push(pid);
  }
  return running;
}

/** Processes whose command line or environment mentions `home`: what a `nimbus up` on it left running. */
export async function leftovers(home: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const [cmdline, environ] = await Promise.all([readFile(`/proc/${pid}/cmdline`, "utf8"), readFile(`/proc/${pid}/environ`, "utf8")]);
      if (cmdline.includes(home) || environ.split("\0").includes(`NIMBUS_HOME=${home}`)) found.push(`${pid}: ${cmdline.replaceAll("\0", " ")}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}
