import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  availableServices,
  isListening,
  NatsServer,
  NimbusServiceProcess,
  RedisServer,
  Supervisor,
  type ProcessHandle,
  type SupervisorEvent,
} from "@nimbus/embedded";
import { consoleLine } from "./console.js";
import type { Endpoints } from "./config.js";
import { loadOrCreateCredentials } from "./credentials.js";
import { claimHome, UP_PID_FILE } from "./home-lock.js";
import { invokerDir, nodeId } from "./invoker.js";
import { whenAskedToStop } from "./stop-signals.js";

const USAGE = `usage: nimbus up

Starts the whole platform on this machine (what 'npm start' runs): nats-server and redis-server with
their data in NIMBUS_HOME (default ./.nimbus) — or the existing ones NIMBUS_NATS_URL and
NIMBUS_REDIS_URL name —, then every Nimbus service. Any of them that dies is restarted on the same
port and data. Prints the endpoint and the root key, and writes them to NIMBUS_HOME for the other
commands. One 'nimbus up' per NIMBUS_HOME: a second one refuses to start.

Ctrl-C, SIGINT or SIGTERM (to it, or to the 'npm start' that runs it) stops everything it started.

Environment: NIMBUS_HOME, NIMBUS_PORT (8080), NIMBUS_HOST (127.0.0.1), NIMBUS_NATS_PORT (14222),
NIMBUS_REDIS_PORT (16379), NIMBUS_METRICS_PORT_BASE (9464; 0 for free ports), NIMBUS_NATS_URL,
NIMBUS_REDIS_URL, NIMBUS_LOG_CONSOLE (important|all); see the README for the rest.
`;

const port = (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback);

const UpEnv = z.object({
  NIMBUS_HOME: z.string().optional(),
  NIMBUS_NATS_URL: z.string().optional(),
  NIMBUS_REDIS_URL: z.string().optional(),
  NIMBUS_NATS_PORT: port(14222),
  NIMBUS_REDIS_PORT: port(16379),
  /** The services other than the gateway serve /metrics on consecutive ports from here (0: any free port each). */
  NIMBUS_METRICS_PORT_BASE: z.coerce.number().int().min(0).max(65_535).default(9464),
  NIMBUS_PORT: port(8080),
  NIMBUS_HOST: z.string().default("127.0.0.1"),
  NIMBUS_ACCOUNT_ID: z.string().optional(),
  NIMBUS_ACCESS_KEY_ID: z.string().optional(),
  NIMBUS_ACCESS_KEY_SECRET: z.string().optional(),
  NIMBUS_REGION: z.string().default("local"),
  NIMBUS_LOG_CONSOLE: z.enum(["important", "all"]).default("important"),
});

function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}

/**
 * `nimbus up` (what `npm start` runs): the whole platform on one machine. Starts nats-server and
 * redis-server with data under NIMBUS_HOME (unless URLs of existing ones are given), then every
 * service, restarts any of them that dies, and on Ctrl-C / SIGTERM stops everything it started.
 */
export async function up(argv: string[] = [], cwd: string = process.cwd()): Promise<void> {
  if (parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } } }).values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const parsed = UpEnv.safeParse(process.env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) process.stderr.write(`nimbus: ${issue.path.join(".")}: ${issue.message}\n`);
    process.exit(78);
  }
  const env = parsed.data;
  const home = resolve(cwd, env.NIMBUS_HOME ?? ".nimbus");
  await mkdir(join(home, "logs"), { recursive: true, mode: 0o700 });
  // Before anything else: a second `up` must not touch the servers and data of a running one.
  const lock = claimHome(home);
  const { credentials, created, file } = await loadOrCreateCredentials(home);
  const accessKeyId = env.NIMBUS_ACCESS_KEY_ID ?? credentials.accessKeyId;
  const accessKeySecret = env.NIMBUS_ACCESS_KEY_SECRET ?? credentials.accessKeySecret;
  const accountId = env.NIMBUS_ACCOUNT_ID ?? credentials.accountId;
  const verbose = env.NIMBUS_LOG_CONSOLE === "all";
  const print = (line: string) => process.stdout.write(`${line}\n`);

  let nats: NatsServer | undefined;
  let redis: RedisServer | undefined;
  const services: NimbusServiceProcess[] = [];
  const supervisors: Supervisor[] = [];
  let stopped: Promise<never> | undefined;
  const supervise = (child: ProcessHandle, logFile: string): void => {
    if (stopped) return; // a child that became ready while everything stops is not restarted
    supervisors.push(new Supervisor({ child, onEvent: (event) => print(supervisorLine(event, logFile)) }));
  };
  const stopAll = (code: number): Promise<never> =>
    (stopped ??= (async () => {
      print("nimbus: stopping");
      for (const supervisor of supervisors) supervisor.stop();
      // A service whose stop fails is killed by the deadline inside stop(); nothing more to do here.
      for (const svc of [...services].reverse()) await svc.stop().catch(() => undefined);
      await Promise.allSettled(services.map((s) => s.close()));
      await Promise.allSettled([redis?.stop(), nats?.stop()]);
      lock.release();
      print("nimbus: stopped");
      process.exit(code);
    })());
  whenAskedToStop(() => void stopAll(0));

  try {
    if (!env.NIMBUS_NATS_URL && (await isListening(env.NIMBUS_NATS_PORT, "127.0.0.1"))) {
      throw new Error(`port ${env.NIMBUS_NATS_PORT} (embedded nats-server) is in use: set NIMBUS_NATS_PORT, or NIMBUS_NATS_URL to use that server`);
    }
    if (!env.NIMBUS_REDIS_URL && (await isListening(env.NIMBUS_REDIS_PORT, "127.0.0.1"))) {
      throw new Error(`port ${env.NIMBUS_REDIS_PORT} (embedded redis-server) is in use: set NIMBUS_REDIS_PORT, or NIMBUS_REDIS_URL to use that server`);
    }
    if (await isListening(env.NIMBUS_PORT, env.NIMBUS_HOST === "0.0.0.0" ? "127.0.0.1" : env.NIMBUS_HOST)) {
      throw new Error(`port ${env.NIMBUS_PORT} (gateway) is in use: set NIMBUS_PORT`);
    }
    [nats, redis] = await Promise.all([
      env.NIMBUS_NATS_URL ? undefined : NatsServer.start({ dir: join(home, "nats"), port: env.NIMBUS_NATS_PORT, token: credentials.natsToken }),
      env.NIMBUS_REDIS_URL ? undefined : RedisServer.start({ dir: join(home, "redis"), port: env.NIMBUS_REDIS_PORT, password: credentials.redisPassword }),
    ]);
    if (nats) supervise(nats, join(home, "nats", "nats-server.log"));
    if (redis) supervise(redis, join(home, "redis", "redis-server.log"));
    const natsUrl = env.NIMBUS_NATS_URL ?? nats?.url ?? "";
    const redisUrl = env.NIMBUS_REDIS_URL ?? redis?.url ?? "";
    const names = availableServices();
    const serviceEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NIMBUS_NATS_URL: natsUrl,
      NIMBUS_REDIS_URL: redisUrl,
      NIMBUS_PORT: String(env.NIMBUS_PORT),
      NIMBUS_HOST: env.NIMBUS_HOST,
      NIMBUS_ACCOUNT_ID: accountId,
      NIMBUS_REGION: env.NIMBUS_REGION,
      NIMBUS_ACCESS_KEY_ID: accessKeyId,
      NIMBUS_ACCESS_KEY_SECRET: accessKeySecret,
      NIMBUS_REQUIRED_SERVICES: names.join(","),
    };
    const metricsPorts: string[] = [];
    let nextMetricsPort = 0;
    for (const name of names) {
      const node = nodeId(name, true);
      // The gateway serves /metrics on the API port; the others on base, base + 1, … (0: free ports).
      const metricsPort = name === "gateway" ? undefined : env.NIMBUS_METRICS_PORT_BASE === 0 ? 0 : env.NIMBUS_METRICS_PORT_BASE + nextMetricsPort++;
      const svcEnv = {
        ...serviceEnv,
        NIMBUS_NODE_ID: node,
        ...(metricsPort === undefined ? {} : { NIMBUS_METRICS_PORT: String(metricsPort) }),
        ...(name === "invoker" ? { NIMBUS_INVOKER_DIR: invokerDir(home, node) } : {}),
      };
      const logFile = join(home, "logs", `${name}.log`);
      const svc = new NimbusServiceProcess({
        name,
        env: svcEnv,
        logFile,
        onLine: (line) => {
          const shown = consoleLine(name, line, verbose);
          if (shown) print(shown);
        },
      });
      services.push(svc);
      const ready = await svc.start();
      supervise(svc, logFile);
      if (ready.metricsPort) metricsPorts.push(`${name} :${ready.metricsPort}`);
    }
    const endpoint = `http://${env.NIMBUS_HOST === "0.0.0.0" ? "127.0.0.1" : env.NIMBUS_HOST}:${env.NIMBUS_PORT}`;
    const endpoints: Endpoints = { endpoint, natsUrl, redisUrl, region: env.NIMBUS_REGION, ...(process.env["NIMBUS_PREFIX"] ? { prefix: process.env["NIMBUS_PREFIX"] } : {}) };
    await writeFile(join(home, "endpoints.json"), JSON.stringify(endpoints, null, 2) + "\n", { mode: 0o600 });
    // Every service said it is ready; "up" also means the gateway has seen them all (/readyz 200).
    if (!(await readyWithin(endpoint, 15_000))) print(`nimbus: warning: ${endpoint}/readyz is not 200 yet; see ${join(home, "logs")}`);
    print(
      [
        "",
        "Nimbus is up.",
        `  endpoint          ${endpoint}   (FC 2.0 API; GET ${endpoint}/readyz)`,
        `  console           ${endpoint}/console/   (sign in with the access key below)`,
        `  account id        ${accountId}`,
        `  region            ${env.NIMBUS_REGION}`,
        `  access key id     ${accessKeyId}`,
        `  access key secret ${accessKeySecret}`,
        `  credentials       ${file}${created ? " (just created)" : ""}`,
        `  services          ${names.join(", ")}`,
        `  metrics           ${endpoint}/metrics (gateway)${metricsPorts.length ? `; /metrics on 127.0.0.1 ${metricsPorts.join(", ")}` : ""}`,
        `  nats              ${redact(natsUrl)}${nats ? " (embedded)" : ""}`,
        `  redis             ${redact(redisUrl)}${redis ? " (embedded)" : ""}`,
        `  data and logs     ${home}   (pid ${process.pid} in ${UP_PID_FILE})`,
        "Ctrl-C stops everything.",
        "",
      ].join("\n"),
    );
  } catch (err) {
    process.stderr.write(`nimbus: ${(err as Error).message}\n`);
    await stopAll(1);
  }
  await new Promise(() => {
    // runs until a signal stops it
  });
}

/** Polls the gateway's /readyz until it answers 200 (true) or the time is up (false). */
async function readyWithin(endpoint: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await fetch(`${endpoint}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The console line for what a supervisor did. */
function supervisorLine(event: SupervisorEvent, logFile: string): string {
  switch (event.kind) {
    case "exited":
      return `nimbus: ${event.name} exited (${event.status.code ?? event.status.signal}); restarting in ${event.restartInMs / 1000}s — see ${logFile}`;
    case "restarted":
      return `nimbus: ${event.name} restarted (down ${(event.downMs / 1000).toFixed(1)} s)`;
    case "restart-failed":
      return `nimbus: ${event.name} failed to restart: ${event.error.message.split("\n")[0]}`;
  }
}
