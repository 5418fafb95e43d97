import { z } from "zod";
import { AsyncIntakeEnv, CommonEnv, envInt, loadEnv } from "@nimbus/service-kit";

const Schema = CommonEnv.extend({
  NIMBUS_REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  ...AsyncIntakeEnv,
  /** Where S3-compatible stores publish their bucket notifications (MinIO's NATS target). */
  NIMBUS_OBJECT_EVENTS_SUBJECT: z
    .string()
    .regex(/^[A-Za-z0-9_\-:$]+(\.[A-Za-z0-9_\-:$]+)*$/, { error: "must be a NATS subject without wildcards" })
    .default("nimbus.objects.events"),
  /** A durable trigger's message unacknowledged this long is redelivered (a router died with it). */
  NIMBUS_TRIGGER_ACK_WAIT_MS: envInt(30_000, 500, 3_600_000),
  /** How long a durable trigger's stream keeps messages nobody took. */
  NIMBUS_TRIGGER_STREAM_MAX_AGE_MS: envInt(7 * 24 * 3600_000, 60_000, 365 * 24 * 3600_000),
  /** Messages of one core NATS trigger this router handles at once; beyond, they are dropped (at most once). */
  NIMBUS_TRIGGER_MAX_IN_FLIGHT: envInt(1_024, 1, 1_000_000),
  NIMBUS_ASYNC_MAX_BACKLOG: envInt(100_000, 1, 100_000_000),
  NIMBUS_ASYNC_RETENTION_MS: envInt(7 * 24 * 3600_000, 60_000, 90 * 24 * 3600_000),
  NIMBUS_COLD_START_ALLOWANCE_MS: envInt(30_000, 1_000, 600_000),
  NIMBUS_MAX_RESPONSE_BYTES: envInt(6 * 1024 * 1024, 1024, 32 * 1024 * 1024),
});

export type TriggerRouterEnv = z.output<typeof Schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): TriggerRouterEnv {
  return loadEnv(Schema, source);
}
