import type { RedisClient } from "./redis.js";

/** How long a node that stopped beating is remembered as dead (then forgotten). */
const FORGET_AFTER_MS = 24 * 3_600_000;

/**
 * Heartbeats of the invoker nodes, in one sorted set (node → when its heartbeat expires, on
 * Redis's clock): one key, so on a Redis Cluster it is read in one command, and what lives in each
 * function's slot (its instances) is checked against a list read from here rather than against
 * other keys.
 */
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ${FORGET_AFTER_MS})
end
return {now, redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf'), redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)}`;

type WithLive = RedisClient & { nimbusLiveNodes(key: string, ...beat: (string | number)[]): Promise<[number, string[], string[]]> };

/** The nodes alive at `at` (ms on Redis's clock), and those whose heartbeat had expired. */
export interface LiveNodes {
  at: number;
  live: Set<string>;
  dead: Set<string>;
}

function withLive(redis: RedisClient): WithLive {
  if (!("nimbusLiveNodes" in redis)) redis.defineCommand("nimbusLiveNodes", { numberOfKeys: 1, lua: LIVE });
  return redis as WithLive;
}

function parse([at, live, dead]: [number, string[], string[]]): LiveNodes {
  return { at: Number(at), live: new Set(live), dead: new Set(dead) };
}

/** Which nodes are alive now. */
export async function liveNodes(redis: RedisClient, key: string): Promise<LiveNodes> {
  return parse(await withLive(redis).nimbusLiveNodes(key));
}

/** Renews `node`'s heartbeat for `ttlMs` and says which nodes are alive now. */
export async function renewNode(redis: RedisClient, key: string, node: string, ttlMs: number): Promise<LiveNodes> {
  return parse(await withLive(redis).nimbusLiveNodes(key, node, ttlMs));
}

/** Ends `node`'s heartbeat at once (it stopped). */
export async function removeNode(redis: RedisClient, key: string, node: string): Promise<void> {
  await redis.zrem(key, node);
}
