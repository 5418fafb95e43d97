import { z } from "zod";
import { CommonEnv, envInt, loadEnv, LogStreamEnv } from "@nimbus/service-kit";

const Schema = CommonEnv.extend({
  ...LogStreamEnv,
  NIMBUS_REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  /** A batch unacknowledged this long is delivered again (to this or another collector). */
  NIMBUS_COLLECTOR_ACK_WAIT_MS: envInt(30_000, 1_000, 3_600_000),
});

export type CollectorEnv = z.output<typeof Schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): CollectorEnv {
  return loadEnv(Schema, source);
}
