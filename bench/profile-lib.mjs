// Helpers for `profile`: per-process CPU from /proc, and summaries of V8 CPU profiles by area.
import { spawnSync } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";

const TICK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim() || 100);

// ---------------------------------------------------------------------------------------------
// CPU per process

/** user/system CPU seconds of one task (`/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`). */
async function statCpu(path) {
  const stat = await readFile(path, "utf8").catch(() => "");
  if (!stat) return undefined;
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]) / TICK, sys: Number(f[12]) / TICK, childUser: Number(f[13]) / TICK, childSys: Number(f[14]) / TICK };
}

/** Every live descendant of `pid` (not `pid` itself). */
export async function descendants(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    for (const tid of await readdir(`/proc/${p}/task`).catch(() => [])) {
      const children = await readFile(`/proc/${p}/task/${tid}/children`, "utf8").catch(() => "");
      for (const c of children.split(" ").filter(Boolean)) {
        out.push(Number(c));
        stack.push(Number(c));
      }
    }
  }
  return out;
}

/** argv of a process ([] when it is gone). */
export async function cmdline(pid) {
  const raw = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return raw.split("\0").filter(Boolean);
}

/** One variable of a process's environment (root reads every process's). */
export async function envOf(pid, name) {
  const raw = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
  const line = raw.split("\0").find((l) => l.startsWith(`${name}=`));
  return line?.slice(name.length + 1);
}

/** The function instances under an invoker: the Node processes its sandboxes exec'd (bwrap, sh, slirp4netns are not). */
export async function instancePids(invokerPid) {
  const out = [];
  for (const pid of await descendants(invokerPid)) {
    const argv = await cmdline(pid);
    if (argv[0] && /(^|\/)node$/.test(argv[0])) out.push(pid);
  }
  return out;
}

/**
 * CPU used so far, per role: a role is one pid (its own threads, not its children), or for
 * `instances` and `sandbox` the invoker's descendants that are / are not instance Node processes.
 * Each entry keeps its main thread's share apart (the V8 profile sees only the main thread).
 */
export async function cpuSnapshot(roles) {
  const snap = { at: process.hrtime.bigint(), pids: {} };
  const take = async (role, pid) => {
    const all = await statCpu(`/proc/${pid}/stat`);
    if (!all) return;
    const main = await statCpu(`/proc/${pid}/task/${pid}/stat`);
    snap.pids[pid] = { role, user: all.user, sys: all.sys, main: main ? main.user + main.sys : 0 };
  };
  for (const [role, pid] of Object.entries(roles)) if (pid) await take(role, pid);
  if (roles.invoker) {
    const instances = new Set(await instancePids(roles.invoker));
    for (const pid of await descendants(roles.invoker)) await take(instances.has(pid) ? "instances" : "sandbox", pid);
  }
  snap.self = await statCpu(`/proc/${process.pid}/stat`);
  snap.machine = await machineCpu();
  return snap;
}

/** Machine-wide busy and softirq seconds (/proc/stat), for what no process is charged with. */
async function machineCpu() {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq + steal) / TICK, softirq: softirq / TICK };
}

/**
 * Per role, CPU µs per call between two snapshots (a process that started in between counts from
 * zero, one that ended is lost), with user/system and main-thread parts; `wrk` is what the
 * benchmark's reaped children (the wrk run) used, `softirq`/`machine` the whole machine's.
 */
export function cpuPerCall(before, after, calls) {
  const per = (s) => (s * 1e6) / Math.max(1, calls);
  const roles = {};
  for (const [pid, a] of Object.entries(after.pids)) {
    const b = before.pids[pid] ?? { user: 0, sys: 0, main: 0 };
    const r = (roles[a.role] ??= { user: 0, sys: 0, main: 0, processes: 0 });
    r.user += a.user - b.user;
    r.sys += a.sys - b.sys;
    r.main += a.main - b.main;
    r.processes++;
  }
  const out = {};
  for (const [role, r] of Object.entries(roles)) {
    out[role] = { us: per(r.user + r.sys), userUs: per(r.user), sysUs: per(r.sys), mainThreadUs: per(r.main), processes: r.processes };
  }
  out.wrk = { us: per(after.self.childUser + after.self.childSys - before.self.childUser - before.self.childSys) };
  out.softirq = { us: per(after.machine.softirq - before.machine.softirq) };
  out.machine = { us: per(after.machine.busy - before.machine.busy) };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Summaries

/** Native socket writes: charged to whoever wrote (see PLUMBING). */
const SOCKET_IO = /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|writeUcs2String|shutdown|readStart|readStop)$/;
/** Native functions (no script) named for what they do; any other native frame counts for its caller's area. */
const NATIVE = [
  [/^execute$/, "HTTP (node:http, llhttp)"],
  [/^(digest|update|init|timingSafeEqual|randomUUID|secureBuffer|getRandomValues)$/, "signature & crypto"],
  [/^(parse|stringify)$/, "JSON"],
];

/** Areas by script (and, in a bundle, by the module it came from), first match wins; undefined: the caller's area. */
const SCRIPTS = [
  [/\/services\/gateway\/dist\/http\/auth\.js|\/packages\/sdk\/dist\/|node:internal\/crypto|node:crypto/, "signature & crypto"],
  [/\/services\/gateway\/dist\/http\/content-md5\.js/, "Content-MD5 hook"],
  [/\/node_modules\/find-my-way\//, "routing (find-my-way)"],
  [/\/node_modules\/(fastify|avvio|light-my-request|fast-json-stringify|@fastify\/[^/]+|fast-querystring|fast-content-type-parse|process-warning|toad-cache|abstract-logging|fastq|rfdc|secure-json-parse)\//, "Fastify (hooks, reply, content types)"],
  [/\/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|on-exit-leak-free|quick-format-unescaped|fast-redact|safe-stable-stringify|atomic-sleep)\//, "logging (pino)"],
  [/\/node_modules\/@opentelemetry\/|\/packages\/telemetry\/dist\/tracing/, "tracing (OpenTelemetry, no-op)"],
  [/\/node_modules\/(prom-client|tdigest|bintrees)\/|\/packages\/telemetry\/dist\/(faas-)?metrics|\/services\/gateway\/dist\/http\/metrics\.js/, "metrics (prom-client)"],
  [/msgpackr\/|[/!]protocol\/dist\/wire\/codec\.js/, "msgpack (msgpackr)"],
  [/\/node_modules\/@nats-io\//, "NATS client (nats.js)"],
  [/\/node_modules\/zod\/|\/protocol\/dist\/frame-schemas\.js/, "zod (frame validation)"],
  [/\/node_modules\/(ioredis|@ioredis\/[^/]+|redis-parser|denque|cluster-key-slot|standard-as-callback)\//, "Redis client (ioredis)"],
  [/[/!]protocol\/dist\/wire\/frames\.js/, "control-channel frames"],
  [/\/packages\/dispatch\/dist\//, "dispatch (FunctionCaller, Dispatcher)"],
  [/\/packages\/service-kit\/dist\//, "service-kit (TickBatch, presence)"],
  [/\/packages\/sandbox\/dist\/(cgroup|sandboxer)\.js/, "cgroup memory peak (readSync per call)"],
  [/\/services\/gateway\/dist\//, "gateway routes & headers"],
  [/\/services\/invoker\/dist\/transport\//, "invoker NATS server"],
  [/\/services\/invoker\/dist\/invoke\.js|\/services\/invoker\/dist\/resolver\.js|\/services\/invoker\/dist\/cluster\//, "invoke handler & resolver"],
  [/\/services\/invoker\/dist\/pool\//, "pool (ClassPool)"],
  [/\/services\/invoker\/dist\/instances\//, "instance & control channel"],
  [/\/services\/invoker\/dist\/telemetry\//, "log shipper & recorder"],
  [/\/services\/invoker\/dist\//, "invoker (other)"],
  [/runtime-node\/dist\/output\.js|runtime\.cjs!dist\/output\.js/, "runtime: output capture"],
  [/runtime\.cjs!|\/runtime-node\/dist\//, "runtime (Nimbus, in the instance)"],
  [/^file:\/\/\/code\/|^\/code\//, "the handler"],
  [/\/packages\/[^/]+\/dist\//, "Nimbus packages (other)"],
  [/node:fs|node:internal\/fs/, undefined],
  [/node:internal\/timers|node:timers/, "timers"],
  [/node:internal\/async_hooks|node:async_hooks|node:internal\/async_local_storage/, "async hooks / AsyncLocalStorage"],
  [/node:internal\/process\/task_queues|node:internal\/process\/promises/, "promises & nextTick"],
  [/node:_http_|node:internal\/http/, "HTTP (node:http, llhttp)"],
  [/node:internal\/streams|node:stream|node:net|node:internal\/stream_base_commons|node:internal\/net/, "streams & sockets (Node JS)"],
  [/node:buffer|node:internal\/buffer|node:internal\/encoding/, "Buffer & text encoding"],
  [/node:events|node:internal\/event_target/, "events"],
  [/^node:/, "Node core (other)"],
  [/\/node_modules\//, "other modules"],
];

/** Areas that say how, not for whom: a socket write is charged to the first caller outside them. */
const PLUMBING = new Set(["streams & sockets (Node JS)", "Node core (other)", "timers", "promises & nextTick", "events", "async hooks / AsyncLocalStorage", "Buffer & text encoding", "service-kit (TickBatch, presence)"]);

/**
 * For a bundle (the instance's runtime.cjs, built by esbuild with a `// <path>` line before each
 * module), the module a line belongs to: `bundles` maps a URL suffix to the bundle's source on
 * this host.
 */
async function bundleIndex(bundles) {
  const out = [];
  for (const [suffix, file] of Object.entries(bundles)) {
    const text = await readFile(file, "utf8").catch(() => "");
    const starts = [];
    text.split("\n").forEach((line, i) => {
      const m = /^\/\/ (\S+\.[cm]?js)$/.exec(line);
      if (m) starts.push({ line: i, module: m[1].replace(/^(\.\.\/)+(node_modules\/)?/, "") });
    });
    out.push({ suffix, starts });
  }
  return (url, line) => {
    const b = out.find((x) => url.endsWith(x.suffix));
    if (!b) return url;
    let module = "?";
    for (const s of b.starts) if (s.line <= line) module = s.module;
    return `${url}!${module}`;
  };
}

function areaOfScript(url) {
  for (const [re, area] of SCRIPTS) if (re.test(url)) return area;
  return "other scripts";
}

/** Where a script lives, shortened for a table. */
function shortUrl(url) {
  return url
    .replace(/^file:\/\/\/work\/[^/]+\//, "")
    .replace(/^file:\/\/\/var\/fc\//, "")
    .replace(/^.*\/node_modules\//, "")
    .replace(/\/dist\//, "/");
}

/**
 * Self time of profiles (one process's, or several like processes' merged) by area and by
 * function, as shares of the main thread's busy samples ((idle) left out). V8 samples wall time:
 * a main thread that waits for a core (runnable, preempted) is sampled in the function it was in,
 * so on saturated cores a profile over-counts whatever was preempted; compare `busyMs` with the
 * thread's CPU time. Samples are counted, not weighted by the gap after them (which is mostly such
 * waiting). A native frame we cannot name is charged to its
 * caller's area; a socket write to the first caller that is not plumbing (whose write it was: HTTP
 * response, NATS, an instance's pipe).
 */
export async function summarize(profiles, { top = 15, bundles = {} } = {}) {
  const resolveUrl = await bundleIndex(bundles);
  const urlOf = (f) => (f.url ? resolveUrl(f.url, f.lineNumber) : "");
  let busy = 0;
  let idle = 0;
  let busyMs = 0;
  const areas = new Map();
  const fns = new Map();
  for (const profile of Array.isArray(profiles) ? profiles : [profiles]) {
    let busyHere = 0;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const area = new Map();
    const areaOf = (id) => {
      if (area.has(id)) return area.get(id);
      const f = byId.get(id).callFrame;
      let a;
      if (f.functionName === "(garbage collector)") a = "GC";
      else if (f.functionName === "(program)" || f.functionName === "(root)") a = "native, no JS frame (libuv, V8)";
      else if (f.functionName === "(idle)") a = "(idle)";
      else if (!f.url && SOCKET_IO.test(f.functionName)) {
        let up = parent.get(id);
        while (up !== undefined && PLUMBING.has(areaOf(up))) up = parent.get(up);
        a = `socket write syscalls: ${up === undefined ? "?" : areaOf(up)}`;
      } else if (!f.url) a = NATIVE.find(([re]) => re.test(f.functionName))?.[1];
      else a = areaOfScript(urlOf(f));
      if (a === undefined) a = parent.has(id) ? areaOf(parent.get(id)) : "native, no JS frame (libuv, V8)";
      area.set(id, a);
      return a;
    };
    const self = new Map();
    for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + 1);
    for (const [id, n] of self) {
      const a = areaOf(id);
      if (a === "(idle)") {
        idle += n;
        continue;
      }
      busy += n;
      busyHere += n;
      areas.set(a, (areas.get(a) ?? 0) + n);
      const f = byId.get(id).callFrame;
      const key = `${f.functionName || "(anonymous)"} ${f.url ? `${shortUrl(urlOf(f))}:${f.lineNumber + 1}` : "(native)"}`;
      const e = fns.get(key) ?? { fn: key, area: a, n: 0 };
      e.n += n;
      fns.set(key, e);
    }
    busyMs += ((profile.endTime - profile.startTime) / 1000) * (busyHere / Math.max(1, profile.samples.length));
  }
  const pct = (n) => Math.round((1000 * n) / Math.max(1, busy)) / 10;
  return {
    samples: busy + idle,
    busySamples: busy,
    busyShare: Math.round((1000 * busy) / Math.max(1, busy + idle)) / 10,
    /** Wall time the samples say the main thread was busy: more than its CPU time when it waited for a core. */
    busyMs: Math.round(busyMs),
    areas: [...areas].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ area: name, pct: pct(n) })),
    functions: [...fns.values()].sort((a, b) => b.n - a.n).slice(0, top).map((e) => ({ function: e.fn, area: e.area, pct: pct(e.n) })),
  };
}
