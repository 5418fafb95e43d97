import { z } from "zod";
import { Limits } from "../limits.js";
import { isValidQualifier, NAME_PATTERN } from "../names.js";
import { nextTimerFires, NatsTriggerConfig, OssTriggerConfig, TimerTriggerConfig } from "./trigger-types.js";

export const HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"] as const;

/** `triggerConfig` of an HTTP trigger. */
export const HttpTriggerConfig = z.object({
  authType: z.enum(["anonymous", "function"], { error: "authType must be anonymous or function" }).default("function"),
  methods: z
    .array(z.preprocess((m) => (typeof m === "string" ? m.toUpperCase() : m), z.enum(HTTP_METHODS, { error: `methods must be among ${HTTP_METHODS.join(", ")}` })))
    .min(1, { error: "at least one method is required" })
    .max(HTTP_METHODS.length)
    .transform((methods) => [...new Set(methods)]),
});
export type HttpTriggerConfig = z.output<typeof HttpTriggerConfig>;

/** The trigger types Nimbus runs, each with the schema of its `triggerConfig`. */
export const TRIGGER_CONFIGS = {
  http: HttpTriggerConfig,
  timer: TimerTriggerConfig,
  nats: NatsTriggerConfig,
  oss: OssTriggerConfig,
} as const satisfies Record<string, z.ZodType>;
export type TriggerType = keyof typeof TRIGGER_CONFIGS;

const qualifier = z.string().max(128).refine(isValidQualifier, { error: "is not a valid qualifier" });

/** Body of `POST …/functions/{fn}/triggers`. */
export const CreateTriggerBody = z.object({
  triggerName: z.string({ error: "is required" }).regex(NAME_PATTERN, { error: "is not a valid trigger name" }),
  triggerType: z.string({ error: "is required" }),
  triggerConfig: z.unknown(),
  description: z.string().max(Limits.descriptionChars).optional(),
  qualifier: qualifier.optional(),
  sourceArn: z.string().max(512).optional(),
  invocationRole: z.string().max(512).optional(),
});

/** Body of `PUT …/triggers/{name}`. */
export const UpdateTriggerBody = z.object({
  triggerConfig: z.unknown().optional(),
  description: z.string().max(Limits.descriptionChars).optional(),
  qualifier: qualifier.optional(),
  invocationRole: z.string().max(512).optional(),
});

/** A trigger as stored in KV. */
export const TriggerRecord = z.object({
  serviceName: z.string(),
  functionName: z.string(),
  triggerName: z.string(),
  triggerId: z.string(),
  triggerType: z.string(),
  triggerConfig: z.record(z.string(), z.unknown()),
  description: z.string().default(""),
  qualifier: z.string().default("LATEST"),
  sourceArn: z.string().default(""),
  invocationRole: z.string().default(""),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type TriggerRecord = z.output<typeof TriggerRecord>;

/** A trigger as the FC API returns it; HTTP triggers carry the URL they answer on. */
export function triggerView(record: TriggerRecord, baseUrl: string) {
  const qualified = record.qualifier && record.qualifier !== "LATEST" ? `${record.serviceName}.${record.qualifier}` : record.serviceName;
  const url = record.triggerType === "http" ? `${baseUrl}/2016-08-15/proxy/${qualified}/${record.functionName}/` : "";
  return {
    triggerName: record.triggerName,
    triggerId: record.triggerId,
    description: record.description,
    triggerType: record.triggerType,
    triggerConfig: record.triggerConfig,
    sourceArn: record.sourceArn,
    invocationRole: record.invocationRole,
    qualifier: record.qualifier,
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
    urlInternet: url,
    urlIntranet: url,
    ...(record.triggerType === "timer" ? { nextFireTimes: timerFires(record) } : {}),
  };
}

/** Nimbus's own: an enabled timer's next five fire times (ISO 8601), for the console and the CLI. */
function timerFires(record: TriggerRecord): string[] {
  const config = record.triggerConfig as { cronExpression?: string; enable?: boolean };
  if (config.enable === false || !config.cronExpression) return [];
  try {
    return nextTimerFires(config.cronExpression, 5).map((ms) => new Date(ms).toISOString());
  } catch {
    return [];
  }
}
