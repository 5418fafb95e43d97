import { parseArgs } from "node:util";
import type { FunctionLogLine, FunctionMetricsPoint } from "@nimbus/sdk";
import { clientFor, loadConfig } from "./config.js";
import { formatTable } from "./table.js";
import { parseTarget } from "./target.js";

const LOGS_USAGE = `usage: nimbus logs <service>[.<qualifier>]/<function> [options]

Prints a function's output lines (stdout and stderr of its instances), oldest first.

options:
  --request-id <id>    only the lines of one invocation (the x-fc-request-id of its response)
  --since <when>       from this time: 10m, 2h, 1d ago, an ISO time or epoch ms (default 15m)
  --until <when>       up to this time (same forms)
  --keyword <text>     only lines that contain it
  --stream <stdout|stderr>
  --limit <n>          at most this many lines (default 1000)
  -f, --follow         print the lines so far, then new lines as they come, until Ctrl-C
  --json               one JSON object per line instead of text
`;

const METRICS_USAGE = `usage: nimbus metrics <service>/<function> [--since 1h] [--until <when>] [--step <seconds>] [--json]

Prints a function's invocations, errors, throttles, timeouts, cold starts and durations per step
(default: the last hour, per minute).
`;

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10m`, `2h`, `1d` (that long ago), an ISO 8601 time, or epoch milliseconds → epoch ms. */
export function when(value: string, flag: string, now = Date.now()): number {
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return now - Number(ago[1]) * (UNITS[ago[2] as string] as number);
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(t)) throw new Error(`--${flag} takes 10m, 2h, 1d, an ISO time or epoch milliseconds, got '${value}'`);
  return t;
}

/** FC's console format: `<time> <requestId> [level] message`. */
const FC_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z /;

/**
 * A line as text: as printed when it is in FC's console format already (it names its time and
 * request), else after its time, its request id (unless it names it) and `[stderr]` for stderr.
 */
export function text(line: FunctionLogLine): string {
  if (FC_LINE.test(line.message)) return `${line.message}\n`;
  const request = line.requestId && !line.message.includes(line.requestId) ? ` ${line.requestId}` : "";
  const where = line.stream === "stderr" ? " [stderr]" : "";
  return `${line.timestamp}${request}${where} ${line.message}\n`;
}

/** `nimbus logs`: a function's lines, paged through, then (with --follow) streamed live. */
export async function logs(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "request-id": { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      keyword: { type: "string" },
      stream: { type: "string" },
      limit: { type: "string" },
      follow: { type: "boolean", short: "f" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void process.stdout.write(LOGS_USAGE);
  const [target] = positionals;
  if (!target) throw new Error(`name the function\n${LOGS_USAGE}`);
  const { service, qualifier, fn } = parseTarget(target);
  const limit = values.limit === undefined ? 1_000 : Number.parseInt(values.limit, 10);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit takes a positive number, got '${values.limit}'`);
  const client = clientFor(await loadConfig());
  const filter: Record<string, string> = {
    ...(qualifier ? { qualifier } : {}),
    ...(values["request-id"] ? { requestId: values["request-id"] } : {}),
    ...(values.keyword ? { keyword: values.keyword } : {}),
    ...(values.stream ? { stream: values.stream } : {}),
  };
  const print = (line: FunctionLogLine) => process.stdout.write(values.json ? `${JSON.stringify(line)}\n` : text(line));

  // Following subscribes first, so no line falls between the history and the live stream; lines
  // seen in both are printed once.
  const abort = new AbortController();
  const live = values.follow ? await client.followLogs(service, fn, filter, abort.signal) : undefined;
  const seen = new Set<string>();
  const key = (l: FunctionLogLine) => `${l.timestamp}\u0000${l.requestId}\u0000${l.instanceId}\u0000${l.part ?? ""}\u0000${l.message}`;

  let printed = 0;
  let nextToken: string | undefined;
  const since = String(when(values.since ?? "15m", "since"));
  const until = values.until ? String(when(values.until, "until")) : undefined;
  do {
    const res = await client.getFunctionLogs(service, fn, {
      ...filter,
      since,
      ...(until ? { until } : {}),
      limit: String(Math.min(1_000, limit - printed)),
      ...(nextToken ? { nextToken } : {}),
    });
    for (const line of res.data.logs) {
      if (live) seen.add(key(line));
      print(line);
    }
    printed += res.data.logs.length;
    nextToken = res.data.nextToken;
  } while (nextToken && printed < limit);
  if (!live) return;

  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for await (const line of live) {
      if (seen.size > 0 && seen.delete(key(line))) continue;
      print(line);
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function ms(v: number | null): string {
  return v === null ? "-" : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

/** `nimbus metrics`: a function's figures per step, as a table or JSON. */
export async function metrics(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      since: { type: "string" },
      until: { type: "string" },
      step: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void process.stdout.write(METRICS_USAGE);
  const [target] = positionals;
  if (!target) throw new Error(`name the function\n${METRICS_USAGE}`);
  const { service, fn } = parseTarget(target);
  const client = clientFor(await loadConfig());
  const res = await client.getFunctionMetrics(service, fn, {
    since: String(when(values.since ?? "1h", "since")),
    ...(values.until ? { until: String(when(values.until, "until")) } : {}),
    ...(values.step ? { step: values.step } : {}),
  });
  if (values.json) return void process.stdout.write(`${JSON.stringify(res.data, null, 2)}\n`);
  const rows: string[][] = [["time", "invocations", "errors", "throttles", "timeouts", "cold", "avg ms", "p50", "p90", "p99", "max"]];
  const total = { invocations: 0, errors: 0, throttles: 0, timeouts: 0, coldStarts: 0 };
  for (const p of res.data.points as FunctionMetricsPoint[]) {
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += p[k];
    if (p.invocations === 0 && p.throttles === 0) continue;
    rows.push([
      p.timestamp.slice(0, 16).replace("T", " "),
      String(p.invocations),
      String(p.errors),
      String(p.throttles),
      String(p.timeouts),
      String(p.coldStarts),
      ms(p.durationAvgMs),
      ms(p.durationP50Ms),
      ms(p.durationP90Ms),
      ms(p.durationP99Ms),
      ms(p.durationMaxMs),
    ]);
  }
  rows.push(["total", String(total.invocations), String(total.errors), String(total.throttles), String(total.timeouts), String(total.coldStarts), "", "", "", "", ""]);
  process.stdout.write(formatTable(rows));
}
