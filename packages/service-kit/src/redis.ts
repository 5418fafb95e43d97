import { Cluster, Redis, type ClusterNode, type RedisOptions } from "ioredis";
import type { Logger } from "@nimbus/telemetry";

export { Cluster, Redis } from "ioredis";

/** A connection to one Redis (or the primary Sentinel names), or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

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
 * Where a `NIMBUS_REDIS_URL` points, as ioredis options: one server
 * (`redis://[:password@]host:port[/db]`, `rediss://` for TLS), or a primary found through Sentinel
 * (`redis+sentinel://[:password@]host:port,host:port,…/<master name>[?sentinelPassword=…]`), which
 * follows a failover to the replica the sentinels promote.
 */
export function redisTarget(url: string): RedisOptions {
  const sentinel = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\?(.*))?$/.exec(url);
  if (!sentinel) {
    const parsed = new URL(url);
    return {
      host: parsed.hostname,
      port: Number(parsed.port || 6379),
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
      ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    };
  }
  const [, auth = "", hosts = "", name = "", query = ""] = sentinel;
  const colon = auth.indexOf(":");
  const username = colon >= 0 ? auth.slice(0, colon) : "";
  const password = colon >= 0 ? auth.slice(colon + 1) : auth;
  const sentinelPassword = new URLSearchParams(query).get("sentinelPassword");
  return {
    name: decodeURIComponent(name),
    sentinels: hosts.split(",").map((h) => {
      const [host = "127.0.0.1", port = "26379"] = h.trim().split(":");
      return { host, port: Number(port) };
    }),
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    // Asked of the sentinels again on every reconnect: after a failover, the new primary.
    sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  };
}

/**
 * The nodes and credentials of a Redis Cluster named by
 * `redis+cluster://[user:password@]host:port,host:port,…` (`rediss+cluster://` for TLS); undefined
 * for any other kind of URL, an error for a malformed one. A few nodes are enough: the client learns
 * the rest from them.
 */
export function redisClusterTarget(url: string): { nodes: ClusterNode[]; options: RedisOptions } | undefined {
  if (!/^rediss?\+cluster:/.test(url)) return undefined;
  const match = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?]+)\/?$/.exec(url);
  if (!match) throw new Error(`NIMBUS_REDIS_URL: a Redis Cluster is named redis+cluster://[user:password@]host:port,host:port,… (no database, no path): ${url.replace(/\/\/[^@/]*@/, "//***@")}`);
  const [, scheme, auth = "", hosts = ""] = match;
  const colon = auth.indexOf(":");
  const username = colon >= 0 ? auth.slice(0, colon) : "";
  const password = colon >= 0 ? auth.slice(colon + 1) : auth;
  return {
    nodes: hosts.split(",").map((h) => {
      const [host = "127.0.0.1", port = "6379"] = h.trim().split(":");
      return { host, port: Number(port) };
    }),
    options: {
      ...(username ? { username: decodeURIComponent(username) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
      ...(scheme === "rediss" ? { tls: {} } : {}),
    },
  };
}

/**
 * A Redis connection that reconnects forever (with a capped backoff), logs state changes once, and
 * never crashes the process with an unhandled 'error' event. A `redis+cluster://` URL gives a
 * Redis Cluster client, which follows slot moves and a replica's promotion when a primary fails.
 */
export function connectRedis(options: RedisConnectOptions): RedisClient {
  const common = {
    connectionName: options.name.replace(/[^A-Za-z0-9_.:/-]/g, "_"),
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    enableReadyCheck: true,
  };
  const retry = (attempt: number) => Math.min(attempt * 100, 2_000);
  const cluster = redisClusterTarget(options.url);
  const redis: RedisClient = cluster
    ? new Cluster(cluster.nodes, {
        redisOptions: { ...cluster.options, ...common },
        clusterRetryStrategy: retry,
        enableReadyCheck: true,
        enableAutoPipelining: options.autoPipelining ?? false,
        // While a failed primary's replica takes over, commands wait and are retried on the new one.
        retryDelayOnClusterDown: 200,
        retryDelayOnFailover: 200,
        slotsRefreshTimeout: 2_000,
      })
    : new Redis({ ...redisTarget(options.url), ...common, retryStrategy: retry, enableAutoPipelining: options.autoPipelining ?? false });
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

/**
 * Redis's WAIT for what this client wrote to the server that holds `key`: how many replicas have
 * it within `timeoutMs`. On a Redis Cluster that is the primary of the key's slot (the WAIT goes
 * out in a pipeline behind a read of the key, which routes it there, on the connection that wrote).
 */
export async function waitForReplicas(redis: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<number> {
  const replies = (await redis.pipeline().exists(key).wait(replicas, timeoutMs).exec()) ?? [];
  const [err, acknowledged] = replies[1] ?? [new Error("Redis gave no answer to WAIT")];
  if (err) throw err;
  return Number(acknowledged);
}
