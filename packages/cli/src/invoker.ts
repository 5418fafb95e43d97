import { createHash } from "node:crypto";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { NimbusServiceProcess } from "@nimbus/embedded";
import { consoleLine } from "./console.js";
import { homeDir, loadConfig, readEndpoints } from "./config.js";
import { whenAskedToStop } from "./stop-signals.js";

const USAGE = `usage: nimbus invoker

Starts one more invoker node (what 'npm run invoker' runs), attached to the NATS and Redis of the
platform 'npm start' runs (from NIMBUS_HOME/endpoints.json), or to NIMBUS_NATS_URL and
NIMBUS_REDIS_URL. It serves /metrics on NIMBUS_METRICS_PORT (a free port by default) and says where.
Ctrl-C or SIGTERM drains and stops it.
`;

/** A node id: `<host>-<role>` for the embedded services (stable across restarts), random for extra nodes. */
export function nodeId(role: string, stable: boolean): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 30) || "node";
  return stable ? `${host}-${role}` : `${host}-${role}-${randomBytes(3).toString("hex")}`;
}

/** Where an invoker node keeps its code cache: outside NIMBUS_HOME so the sandbox uid can reach it. */
export function invokerDir(home: string, node: string): string {
  const tag = createHash("sha256").update(home).digest("hex").slice(0, 8);
  return join(tmpdir(), `nimbus-${tag}`, node);
}

/**
 * `nimbus invoker` (`npm run invoker`): one more invoker node, attached to the NATS and Redis the
 * platform started by `nimbus up` uses (or NIMBUS_NATS_URL / NIMBUS_REDIS_URL). Ctrl-C drains it.
 */
export async function invoker(argv: string[] = []): Promise<void> {
  if (parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } } }).values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const home = homeDir();
  const config = await loadConfig();
  const endpoints = await readEndpoints(home);
  const natsUrl = process.env["NIMBUS_NATS_URL"] ?? endpoints?.natsUrl;
  const redisUrl = process.env["NIMBUS_REDIS_URL"] ?? endpoints?.redisUrl;
  if (!natsUrl || !redisUrl) throw new Error("no NATS/Redis to join: run 'npm start' first, or set NIMBUS_NATS_URL and NIMBUS_REDIS_URL");
  const node = process.env["NIMBUS_NODE_ID"] ?? nodeId("invoker", false);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const proc = new NimbusServiceProcess({
    name: "invoker",
    env: {
      ...process.env,
      NIMBUS_NATS_URL: natsUrl,
      NIMBUS_REDIS_URL: redisUrl,
      NIMBUS_NODE_ID: node,
      NIMBUS_ACCOUNT_ID: config.accountId,
      NIMBUS_REGION: endpoints?.region ?? process.env["NIMBUS_REGION"] ?? "local",
      NIMBUS_INVOKER_DIR: process.env["NIMBUS_INVOKER_DIR"] ?? invokerDir(home, node),
      // Its own /metrics, on a free port unless told which (reported below).
      NIMBUS_METRICS_PORT: process.env["NIMBUS_METRICS_PORT"] ?? "0",
    },
    logFile: join(home, "logs", `invoker-${node}.log`),
    onLine: (line) => {
      const shown = consoleLine("invoker", line, process.env["NIMBUS_LOG_CONSOLE"] === "all");
      if (shown) print(shown);
    },
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      print(`nimbus: stopping invoker ${node}`);
      await proc.stop();
      await proc.close();
      process.exit(0);
    })());
  whenAskedToStop(() => void stop());
  await proc.start();
  const metricsPort = proc.ready?.metricsPort;
  const metrics = metricsPort ? `, /metrics on ${process.env["NIMBUS_METRICS_HOST"] ?? "127.0.0.1"}:${metricsPort}` : "";
  print(`nimbus: invoker ${node} joined (${natsUrl.replace(/\/\/[^@/]*@/, "//***@")}${metrics}); Ctrl-C stops it`);
  const exit = await proc.process.exited();
  if (stopping) return; // stop() reports and exits
  print(`nimbus: invoker ${node} exited (${exit.code ?? exit.signal})`);
  process.exit(exit.code ?? 1);
}
