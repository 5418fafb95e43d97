import { Worker } from "node:worker_threads";
import { READY_MESSAGE_TYPE, type ReadyMessage, type ServiceName } from "@nimbus/protocol";
import { createLogger, startTracing, type Logger, type Registry } from "@nimbus/telemetry";
import { serveMetrics } from "./metrics-server.js";

/** How long a service whose supervisor died may take to stop. */
const SUPERVISOR_GONE_TIMEOUT_MS = 2_000;
/** How long past its stop deadline a process that has still not ended is given before SIGKILL. */
const EXIT_GRACE_MS = 3_000;

/**
 * Ends this process with SIGKILL after `ms`, from a thread of its own: the stop deadline is a timer
 * of the main thread, which can be blocked for good — at exit, writing the last log lines to a
 * stdout nobody reads any more (a supervisor that died leaves a full socket behind).
 */
function killAfter(ms: number): void {
  const watchdog = new Worker(`setTimeout(() => process.kill(${process.pid}, "SIGKILL"), ${ms});`, { eval: true });
  watchdog.unref();
}

/** What a service's `app.ts` builds: something that starts and stops. */
export interface App {
  /** Starts serving; resolves with the port it listens on, if any, and its metrics registry. */
  start(): Promise<{ port?: number; metrics?: Registry; ready?: () => boolean }>;
  /** Stops taking work, finishes in flight under the deadline the harness enforces, closes. Idempotent. */
  stop(): Promise<void>;
}

export interface ServiceDefinition {
  name: ServiceName;
  nodeId: string;
  logLevel: string;
  /** After this long, a stop that has not finished is cut short and the process exits 1. */
  shutdownTimeoutMs: number;
  /** Serve the app's metrics registry on this port (0: any free one), on `metricsHost`. */
  metricsPort?: number | undefined;
  metricsHost?: string;
  build(logger: Logger): Promise<App>;
}

/**
 * The composition root's harness: builds and starts the app, tells a supervisor (IPC) when it is
 * ready, and stops it on SIGTERM/SIGINT or when the supervisor goes away — once, under a deadline.
 */
export async function runService(def: ServiceDefinition): Promise<void> {
  const logger = createLogger({ service: def.name, node: def.nodeId, level: def.logLevel });
  let app: App | undefined;
  let stopping: Promise<void> | undefined;
  let metricsServer: { port: number; close(): Promise<void> } | undefined;
  let stopTracing: () => Promise<void> = async () => undefined;

  const shutdown = (reason: string, exitCode = 0, timeoutMs = def.shutdownTimeoutMs): Promise<void> => {
    stopping ??= (async () => {
      killAfter(timeoutMs + EXIT_GRACE_MS);
      logger.info({ reason }, "service stopping");
      const deadline = setTimeout(() => {
        logger.error({ timeoutMs }, "service stop deadline passed; exiting");
        process.exit(1);
      }, timeoutMs);
      deadline.unref();
      try {
        await metricsServer?.close();
        await app?.stop();
        await stopTracing();
        logger.info("service stopped");
      } catch (err) {
        logger.error({ err }, "service stop failed");
        exitCode = 1;
      }
      clearTimeout(deadline);
      process.exit(exitCode);
    })();
    return stopping;
  };

  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  // A supervisor that dies takes its children with it, quickly: nobody waits for a drain, and the
  // servers it ran (NATS, Redis) are usually gone too, so closing connections to them can only hang.
  process.once("disconnect", () => void shutdown("supervisor gone", 0, Math.min(SUPERVISOR_GONE_TIMEOUT_MS, def.shutdownTimeoutMs)));
  process.on("uncaughtException", (err) => {
    logger.fatal({ err }, "uncaught exception");
    void shutdown("uncaught exception", 1);
  });
  process.on("unhandledRejection", (err) => {
    logger.fatal({ err }, "unhandled rejection");
    void shutdown("unhandled rejection", 1);
  });

  try {
    stopTracing = await startTracing(def.name);
    app = await def.build(logger);
    const { port, metrics, ready: isReady } = await app.start();
    if (metrics && def.metricsPort !== undefined) metricsServer = await serveMetrics(metrics, def.metricsHost ?? "127.0.0.1", def.metricsPort, isReady);
    const metricsPort = metricsServer?.port;
    logger.info({ port, metricsPort }, "service ready");
    const ready: ReadyMessage = { type: READY_MESSAGE_TYPE, service: def.name, node: def.nodeId, ...(port ? { port } : {}), ...(metricsPort ? { metricsPort } : {}) };
    process.send?.(ready);
  } catch (err) {
    logger.fatal({ err }, "service failed to start");
    await shutdown("start failed", 1);
  }
}
