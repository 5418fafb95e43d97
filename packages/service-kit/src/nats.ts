import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@nimbus/telemetry";

export type { NatsConnection } from "@nats-io/transport-node";

/** What connectNats logs through (a pino logger, or a thread's stand-in for one). */
export type NatsLogger = Pick<Logger, "info" | "warn" | "error">;

export interface NatsConnectOptions {
  url: string;
  /** Shown in the server's connection list: `<service>/<node>`. */
  name: string;
  logger: NatsLogger;
  /** Called with true on (re)connect, false on disconnect. */
  onConnectedChange?: (connected: boolean) => void;
}

/**
 * Where a `NIMBUS_NATS_URL` points: one server, or several seeds of a cluster separated by commas
 * (`nats://token@host1:4222,host2:4222,host3:4222`; the credentials of the first apply to all). The
 * client learns the rest of the cluster from the server it reaches, and moves to another member when
 * that one goes.
 */
export function natsTarget(value: string): { servers: string[]; auth: { user?: string; pass?: string; token?: string } } {
  const parts = value.split(",").map((p) => p.trim()).filter(Boolean);
  const urls = parts.map((p) => new URL(p.includes("://") ? p : `nats://${p}`));
  const first = urls[0];
  if (!first) throw new Error("NIMBUS_NATS_URL names no server");
  const auth: { user?: string; pass?: string; token?: string } =
    first.username && first.password
      ? { user: decodeURIComponent(first.username), pass: decodeURIComponent(first.password) }
      : first.username
        ? { token: decodeURIComponent(first.username) }
        : {};
  return { servers: urls.map((u) => `${u.hostname}:${u.port || "4222"}`), auth };
}

/**
 * Connects to NATS and stays connected: waits for a server that is not up yet, reconnects forever,
 * and reports every status change to the logger. Credentials may be in the URL (`nats://token@host`).
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const { logger } = options;
  const { servers, auth } = natsTarget(options.url);
  const nc = await connect({
    servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    ...auth,
  });
  logger.info({ server: nc.getServer() }, "nats connected");
  options.onConnectedChange?.(true);
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          logger.warn({ server: status.server }, "nats disconnected");
          options.onConnectedChange?.(false);
          break;
        case "reconnect":
          logger.info({ server: status.server }, "nats reconnected");
          options.onConnectedChange?.(true);
          break;
        case "error":
          logger.error({ err: status.error }, "nats error");
          break;
        default:
          break;
      }
    }
  })();
  return nc;
}

/** Drains a connection (flushes what is pending, lets subscriptions finish) within a deadline. */
export async function drainNats(nc: NatsConnection, deadlineMs: number): Promise<void> {
  if (nc.isClosed()) return;
  const timer = setTimeout(() => void nc.close(), deadlineMs);
  try {
    await nc.drain();
  } catch {
    await nc.close();
  } finally {
    clearTimeout(timer);
  }
}
