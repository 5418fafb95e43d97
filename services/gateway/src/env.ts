import { z } from "zod";
import { AsyncIntakeEnv, CommonEnv, envInt, loadEnv, RegistryEnv } from "@nimbus/service-kit";
import { Limits, SERVICE_NAMES } from "@nimbus/protocol";

/** The gateway's environment variables (exported for its tests; services read them through readEnv). */
export const GatewayEnvSchema = CommonEnv.extend({
  ...RegistryEnv,
  NIMBUS_HOST: z.string().min(1).default("127.0.0.1"),
  NIMBUS_REDIS_URL: z.string().min(1).default("redis://127.0.0.1:6379"),
  ...AsyncIntakeEnv,
  /** Synchronous invocation request and response bodies (FC: 6 MB by default, at most 32 MB). */
  NIMBUS_MAX_SYNC_BODY_BYTES: envInt(6 * 1024 * 1024, 1024, 32 * 1024 * 1024),
  NIMBUS_MAX_RESPONSE_BYTES: envInt(6 * 1024 * 1024, 1024, 32 * 1024 * 1024),
  /** Asynchronous invocation payloads (FC: 128 KB). */
  NIMBUS_MAX_ASYNC_BODY_BYTES: envInt(128 * 1024, 1024, 32 * 1024 * 1024),
  /** Invocations of one function that may wait in its async queue; more are refused with 429. */
  NIMBUS_ASYNC_MAX_BACKLOG: envInt(100_000, 1, 100_000_000),
  /** How long asynchronous invocation records are kept. */
  NIMBUS_ASYNC_RETENTION_MS: envInt(7 * 24 * 3600_000, 60_000, 90 * 24 * 3600_000),
  /** An async enqueue Redis has not confirmed within this long is answered 503 (Redis frozen or overloaded). */
  NIMBUS_ASYNC_ENQUEUE_TIMEOUT_MS: envInt(5_000, 100, 600_000),
  /** An invoker that neither answers nor acknowledges a request within this long is presumed gone. */
  NIMBUS_INVOKE_ACK_TIMEOUT_MS: envInt(5_000, 100, 600_000),
  /** Time a call may spend starting an instance, on top of the function's timeout (and initializer's). */
  NIMBUS_COLD_START_ALLOWANCE_MS: envInt(30_000, 1_000, 600_000),
  NIMBUS_PORT: envInt(8080, 0, 65_535),
  NIMBUS_ACCESS_KEY_ID: z.string({ error: "is required (the root access key id)" }).regex(/^[A-Za-z0-9_.-]{4,128}$/),
  NIMBUS_ACCESS_KEY_SECRET: z.string({ error: "is required (the root access key secret)" }).min(8).max(256),
  /** Base of the URLs getFunctionCode returns; the request's Host when unset. */
  NIMBUS_PUBLIC_URL: z.url().optional(),
  NIMBUS_CODE_URL_TTL_SECONDS: envInt(1800, 10, Limits.signedUrlMaxSeconds),
  NIMBUS_MAX_CODE_ZIP_BYTES: envInt(Limits.codeZipBytes, 1024, 2 * 1024 * 1024 * 1024),
  NIMBUS_MAX_CODE_UNZIPPED_BYTES: envInt(Limits.codeUnzippedBytes, 1024, 16 * 1024 * 1024 * 1024),
  /** How often unreferenced code packages are looked for, and how long one must be unused before it goes. */
  NIMBUS_CODE_GC_INTERVAL_MS: envInt(10 * 60_000, 100, 24 * 3600_000),
  NIMBUS_CODE_GC_GRACE_MS: envInt(3600_000, 0, 30 * 24 * 3600_000),
  NIMBUS_MAX_HEADER_BYTES: envInt(Limits.requestHeaderBytes, 1024, 64 * 1024),
  /** A client must send its request headers within this long (slow-header clients are cut off). */
  NIMBUS_HEADERS_TIMEOUT_MS: envInt(20_000, 100, 600_000),
  /** …and the whole request body within this long (large code uploads need minutes on slow links). */
  NIMBUS_REQUEST_TIMEOUT_MS: envInt(300_000, 100, 3_600_000),
  /** Services that must have a ready node before /readyz answers 200 (comma-separated). */
  NIMBUS_REQUIRED_SERVICES: z
    .string()
    .default("gateway")
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.enum(SERVICE_NAMES))),
});

export type GatewayEnv = z.output<typeof GatewayEnvSchema>;

/** The gateway's configuration, read once from the environment. */
export function readEnv(source: NodeJS.ProcessEnv = process.env): GatewayEnv {
  return loadEnv(GatewayEnvSchema, source);
}
