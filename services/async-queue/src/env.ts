import { z } from "zod";
import { AsyncIntakeEnv, CommonEnv, envInt, loadEnv } from "@nimbus/service-kit";

const Schema = CommonEnv.extend({
  NIMBUS_REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  ...AsyncIntakeEnv,
  /** Invocations of one function this replica runs at once. */
  NIMBUS_ASYNC_CONCURRENCY: envInt(32, 1, 10_000),
  /** A job whose worker died or froze runs again on another replica within this long (lock and stalled-check timings derive from it). */
  NIMBUS_ASYNC_LOCK_MS: envInt(30_000, 500, 600_000),
  /** How long async invocation records are kept. */
  NIMBUS_ASYNC_RETENTION_MS: envInt(7 * 24 * 3600_000, 60_000, 90 * 24 * 3600_000),
  /** First retry delay after a function error (doubles each time, with jitter). */
  NIMBUS_ASYNC_RETRY_BASE_MS: envInt(1_000, 10, 600_000),
  /** First retry delay after a platform error (throttled, no invoker…), doubling too. */
  NIMBUS_ASYNC_PLATFORM_RETRY_BASE_MS: envInt(5_000, 10, 600_000),
  NIMBUS_ASYNC_RETRY_MAX_MS: envInt(5 * 60_000, 100, 3_600_000),
  /** How long a function's queue is held back when the function is at capacity (doubling in a row, to 16×). */
  NIMBUS_ASYNC_THROTTLE_MS: envInt(100, 10, 60_000),
  /** The most invocations a function's queue holds waiting (destinations queued here count too). */
  NIMBUS_ASYNC_MAX_BACKLOG: envInt(100_000, 1, 100_000_000),
  /** A queue's worker closes once the queue has been empty for this long. */
  NIMBUS_ASYNC_IDLE_MS: envInt(30_000, 100, 3_600_000),
  /** How often queues are checked for work that no worker here serves (wake-ups lost while NATS was down). */
  NIMBUS_ASYNC_SCAN_MS: envInt(5_000, 100, 600_000),
  NIMBUS_COLD_START_ALLOWANCE_MS: envInt(30_000, 1_000, 600_000),
  NIMBUS_MAX_RESPONSE_BYTES: envInt(6 * 1024 * 1024, 1024, 32 * 1024 * 1024),
});

export type AsyncQueueEnv = z.output<typeof Schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): AsyncQueueEnv {
  return loadEnv(Schema, source);
}
