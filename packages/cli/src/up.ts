import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import {
  availableServices,
  NatsServer,
  NimbusServiceProcess,
  RedisServer,
  isListening,
} from "@nimbus/embedded";
import type { ServiceName } from "@nimbus/protocol";
import { writeFile } from "node:fs/promises";
import { consoleLine } from "./console.js";
import type { Endpoints } from "./config.js";
import { loadOrCreateCredentials } from "./credentials.js";
import { invokerDir, nodeId } from "./invoker.js";

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

const RESTART_BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}

/**
 * `nimbus up` (what `npm start` runs): the whole platform on one machine. Starts nats-server and
 * redis-server with data under NIMBUS_HOME (unless URLs of existing ones are given), then every
 * service, restarts a service that crashes, and on Ctrl-C / SIGTERM stops everything it started.
 */
export async function up(cwd: string = process.cwd()): Promise<void> {
  const parsed = UpEnv.safeParse(process.env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) process.stderr.write(`nimbus: ${issue.path.join(".")}: ${issue.message}\n`);
    process.exit(78);
  }
  const env = parsed.data;
  const home = resolve(cwd, env.NIMBUS_HOME ?? ".nimbus");
  await mkdir(join(home, "logs"), { recursive: true, mode: 0o700 });
  const { credentials, created, file } = await loadOrCreateCredentials(home);
  const accessKeyId = env.NIMBUS_ACCESS_KEY_ID ?? credentials.accessKeyId;
  const accessKeySecret = env.NIMBUS_ACCESS_KEY_SECRET ?? credentials.accessKeySecret;
  const accountId = env.NIMBUS_ACCOUNT_ID ?? credentials.accountId;
  const verbose = env.NIMBUS_LOG_CONSOLE === "all";
  const print = (line: string) => process.stdout.write(`${line}\n`);

  let nats: NatsServer | undefined;
  let redis: RedisServer | undefined;
  const services: NimbusServiceProcess[] = [];
  let stopping = false;

  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      print("nimbus: stopping");
      for (const svc of [...services].reverse()) await svc.stop().catch(() => undefined);
      await Promise.allSettled(services.map((s) => s.close()));
      await Promise.allSettled([redis?.stop(), nats?.stop()]);
      print("nimbus: stopped");
    }
    process.exit(code);
  };
  process.once("SIGINT", () => void stopAll(0));
  process.once("SIGTERM", () => void stopAll(0));

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
      const svc = supervise(name, svcEnv, join(home, "logs", `${name}.log`), verbose, print, () => stopping);
      services.push(svc);
      const ready = await svc.start();
      if (ready.metricsPort) metricsPorts.push(`${name} :${ready.metricsPort}`);
    }
    const endpoint = `http://${env.NIMBUS_HOST === "0.0.0.0" ? "127.0.0.1" : env.NIMBUS_HOST}:${env.NIMBUS_PORT}`;
    const endpoints: Endpoints = { endpoint, natsUrl, redisUrl, region: env.NIMBUS_REGION };
    await writeFile(join(home, "endpoints.json"), JSON.stringify(endpoints, null, 2) + "\n", { mode: 0o600 });
    // Every service said it is ready; "up" also means the gateway has seen them all (/readyz 200).
    if (!(await readyWithin(endpoint, 15_000))) print(`nimbus: warning: ${endpoint}/readyz is not 200 yet; see ${join(home, "logs")}`);
    print(
      [
        "",
        "Nimbus is up.",
        `  endpoint          ${endpoint}   (FC 2.0 API; GET ${endpoint}/readyz)`,
        `  account id        ${accountId}`,
        `  region            ${env.NIMBUS_REGION}`,
        `  access key id     ${accessKeyId}`,
        `  access key secret ${accessKeySecret}`,
        `  credentials       ${file}${created ? " (just created)" : ""}`,
        `  services          ${names.join(", ")}`,
        `  metrics           ${endpoint}/metrics (gateway)${metricsPorts.length ? `; /metrics on 127.0.0.1 ${metricsPorts.join(", ")}` : ""}`,
        `  nats              ${redact(natsUrl)}${nats ? " (embedded)" : ""}`,
        `  redis             ${redact(redisUrl)}${redis ? " (embedded)" : ""}`,
        `  data and logs     ${home}`,
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

/** A service process that is restarted (with backoff) when it dies on its own. */
function supervise(
  name: ServiceName,
  env: NodeJS.ProcessEnv,
  logFile: string,
  verbose: boolean,
  print: (line: string) => void,
  stopping: () => boolean,
): NimbusServiceProcess {
  const svc = new NimbusServiceProcess({
    name,
    env,
    logFile,
    onLine: (line) => {
      const shown = consoleLine(name, line, verbose);
      if (shown) print(shown);
    },
  });
  let crashes = 0;
  const watch = (): void => {
    void svc.process.exited().then(async (status) => {
      if (stopping()) return;
      const delay = RESTART_BACKOFF_MS[Math.min(crashes++, RESTART_BACKOFF_MS.length - 1)] ?? 30_000;
      print(`nimbus: ${name} exited (${status.code ?? status.signal}); restarting in ${delay / 1000}s — see ${logFile}`);
      await new Promise((r) => setTimeout(r, delay));
      if (stopping()) return;
      try {
        await svc.start();
        print(`nimbus: ${name} restarted`);
      } catch (err) {
        print(`nimbus: ${name} failed to restart: ${(err as Error).message.split("\n")[0]}`);
      }
      watch();
    });
  };
  const start = svc.start.bind(svc);
  svc.start = async () => {
    const ready = await start();
    watch();
    return ready;
  };
  return svc;
}
