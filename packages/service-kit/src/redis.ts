import { Redis } from "ioredis";
import type { Logger } from "@nimbus/telemetry";

export { Redis } from "ioredis";

export interface RedisConnectOptions {
  url: string;
  /** Shown in CLIENT LIST: `<service>/<node>`. */
  name: string;
  logger: Logger;
  /** BullMQ workers need `null` (block forever); plain command clients fail a command after a few retries. */
  maxRetriesPerRequest?: number | null;
  /**
   * Send the commands issued in one event-loop turn as one write (ioredis auto-pipelining). For
   * connections many concurrent requests share; never for BullMQ's own (blocking) connections.
   */
  autoPipelining?: boolean;
  onReadyChange?: (ready: boolean) => void;
}

/**
 * A Redis connection that reconnects forever (with a capped backoff), logs state changes once, and
 * never crashes the process with an unhandled 'error' event.
 */
export function connectRedis(options: RedisConnectOptions): Redis {
  const redis = new Redis(options.url, {
    connectionName: options.name.replace(/[^A-Za-z0-9_.:/-]/g, "_"),
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    enableReadyCheck: true,
    enableAutoPipelining: options.autoPipelining ?? false,
  });
  let lastError = "";
  redis.on("error", (err: Error) => {
    if (err.message !== lastError) options.logger.warn({ err: err.message }, "redis error");
    lastError = err.message;
  });
  redis.on("ready", () => {
    lastError = "";
    options.logger.info("redis ready");
    options.onReadyChange?.(true);
  });
  redis.on("end", () => options.onReadyChange?.(false));
  redis.on("close", () => options.onReadyChange?.(false));
  return redis;
}
