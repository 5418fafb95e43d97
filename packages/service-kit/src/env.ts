import { accessSync, constants } from "node:fs";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";

/** An integer read from the environment (which only holds strings). */
export function envInt(defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .regex(/^\d+$/, { error: "must be a non-negative integer" })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .default(defaultValue);
}

/** A duration read from the environment: `7d`, `12h`, `30m`, `45s`, or milliseconds; as milliseconds. */
export function envDuration(defaultValue: string, minMs = 0, maxMs = Number.MAX_SAFE_INTEGER) {
  const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return z
    .string()
    .regex(/^\d+(ms|s|m|h|d)?$/, { error: "must be a duration like 7d, 12h, 30m, 45s or milliseconds" })
    .default(defaultValue)
    .transform((v) => {
      const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v) as RegExpExecArray;
      return Number(m[1]) * (units[m[2] ?? "ms"] ?? 1);
    })
    .pipe(z.number().int().min(minMs).max(maxMs));
}

/** A boolean read from the environment: true/false/1/0/yes/no. */
export function envBool(defaultValue: boolean) {
  return z
    .enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" })
    .transform((v) => v === "true" || v === "1" || v === "yes")
    .default(defaultValue);
}

/** A node id safe to use as a NATS subject token and a Redis key part. */
export function defaultNodeId(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40) || "node";
  return `${host}-${randomBytes(3).toString("hex")}`;
}

/** How long function output and invocation records are kept, and the most the logs stream holds. */
export const LogStreamEnv = {
  NIMBUS_LOG_RETENTION: envDuration("7d", 60_000, 365 * 86_400_000),
  NIMBUS_LOG_MAX_BYTES: envInt(2 * 1024 ** 3, 1024 * 1024, Number.MAX_SAFE_INTEGER),
  /** What one function may hold of the logs stream: beyond it, its own oldest output goes, never another's. */
  NIMBUS_LOG_MAX_BYTES_PER_FUNCTION: envInt(128 * 1024 ** 2, 64 * 1024, Number.MAX_SAFE_INTEGER),
};

/** host[:port] of a registry: a DNS name, an IPv4 address or a bracketed IPv6 address. */
const REGISTRY_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** How services that reach image registries reach them (the gateway resolves tags, invokers pull). */
export const RegistryEnv = {
  /** A Docker-style auth file (`{"auths": {"host[:port]": {"auth": base64(user:pass)}}}`) for custom-container images. */
  NIMBUS_REGISTRY_AUTH: z
    .string()
    .min(1)
    .refine(readable, { error: "names no readable file (a Docker-style auth file, the auths format of ~/.docker/config.json)" })
    .optional(),
  /** Registries (host[:port], comma-separated) reached over plain http; loopback registries always may be. */
  NIMBUS_INSECURE_REGISTRIES: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(REGISTRY_HOST, { error: "each entry must be host[:port]" }))),
  /** The longest one registry lookup (resolving a tag, reading a manifest) may take before it counts as unavailable. */
  NIMBUS_REGISTRY_TIMEOUT_MS: envInt(30_000, 100, 600_000),
};

/** Variables every service reads. */
/** What the services that queue asynchronous invocations (gateway, trigger-router, async-queue) share. */
export const AsyncIntakeEnv = {
  /** With a replicated Redis (Sentinel): replicas that must have an invocation before it is acknowledged (0: the primary's word). */
  NIMBUS_REDIS_WAIT_REPLICAS: envInt(0, 0, 16),
  /** How long to wait for them; past it the caller gets 503 and retries. */
  NIMBUS_REDIS_WAIT_MS: envInt(1_000, 10, 60_000),
};

export const CommonEnv = z.object({
  NIMBUS_NATS_URL: z.string().min(1).default("nats://127.0.0.1:4222"),
  NIMBUS_PREFIX: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { error: "lowercase letters, digits and '-'" }).default("nimbus"),
  NIMBUS_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NIMBUS_NODE_ID: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "lowercase letters, digits and '-'" })
    .default(defaultNodeId),
  NIMBUS_NATS_REPLICAS: envInt(1, 1, 5),
  NIMBUS_REGION: z.string().regex(/^[a-z0-9-]{1,32}$/).default("local"),
  NIMBUS_ACCOUNT_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("local"),
  NIMBUS_SHUTDOWN_TIMEOUT_MS: envInt(10_000, 100, 600_000),
  /** Where this service serves `/metrics` (0: a free port, reported when ready); unset: not served. */
  NIMBUS_METRICS_PORT: z.string().regex(/^\d+$/, { error: "must be a port number" }).transform(Number).pipe(z.number().int().min(0).max(65_535)).optional(),
  NIMBUS_METRICS_HOST: z.string().min(1).default("127.0.0.1"),
});
export type CommonEnv = z.output<typeof CommonEnv>;

/**
 * Parses the environment with a service's schema, once, at start. Invalid config ends the process
 * with a message naming each offending variable.
 */
export function loadEnv<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  ${issue.path.join(".") || "(env)"}: ${issue.message}`);
  process.stderr.write(`nimbus: invalid configuration:\n${problems.join("\n")}\n`);
  process.exit(78); // EX_CONFIG
}
