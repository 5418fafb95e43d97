import cronParser from "cron-parser";
import { z } from "zod";

/** `@every 5m`, `@every 90s`, `@every 1h` (one number and unit; at least one second). */
const EVERY = /^@every\s+([1-9][0-9]{0,6})(s|m|h)$/;
/** FC's optional time zone prefix: `CRON_TZ=Asia/Shanghai 0 0 8 * * *`. */
const CRON_TZ = /^CRON_TZ=([A-Za-z_+\-/0-9]{1,64})\s+(.*)$/;

/** What a timer's schedule says, in the form BullMQ's job schedulers take. */
export type TimerSchedule = { every: number } | { pattern: string; tz?: string };

/** Parses FC's `cronExpression`: six fields with seconds (UTC unless `CRON_TZ=`), or `@every <n>(s|m|h)`. */
export function parseTimerSchedule(expression: string): TimerSchedule {
  const text = expression.trim();
  const every = EVERY.exec(text);
  if (every) {
    const n = Number(every[1]);
    const unit = every[2] === "s" ? 1_000 : every[2] === "m" ? 60_000 : 3_600_000;
    return { every: n * unit };
  }
  const tz = CRON_TZ.exec(text);
  const pattern = tz ? (tz[2] ?? "") : text;
  const fields = pattern.split(/\s+/).filter(Boolean);
  if (fields.length !== 6) throw new Error(`'${expression}' must have six fields (seconds minutes hours day-of-month month day-of-week) or be '@every <n>s|m|h'`);
  try {
    cronParser.parseExpression(pattern, { utc: !tz, ...(tz ? { tz: tz[1] } : {}) }).next();
  } catch (err) {
    throw new Error(`'${expression}' is not a valid cron expression: ${(err as Error).message}`);
  }
  return tz ? { pattern, tz: tz[1] as string } : { pattern };
}

/**
 * When a timer fires next (epoch ms), as its job scheduler counts: an `@every` period from multiples
 * of itself since the epoch, a cron expression in its time zone (UTC by default).
 */
export function nextTimerFires(expression: string, count: number, from = Date.now()): number[] {
  const schedule = parseTimerSchedule(expression);
  if ("every" in schedule) return Array.from({ length: count }, (_, i) => (Math.floor(from / schedule.every) + 1 + i) * schedule.every);
  const cron = cronParser.parseExpression(schedule.pattern, { currentDate: new Date(from), ...(schedule.tz ? { tz: schedule.tz } : { utc: true }) });
  return Array.from({ length: count }, () => cron.next().getTime());
}

/** `triggerConfig` of a timer trigger (FC's). */
export const TimerTriggerConfig = z.object({
  cronExpression: z
    .string({ error: "is required" })
    .max(256)
    .superRefine((value, ctx) => {
      try {
        parseTimerSchedule(value);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
  payload: z.string().max(128 * 1024).default(""),
  enable: z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean()).default(true),
});
export type TimerTriggerConfig = z.output<typeof TimerTriggerConfig>;

/** A NATS subject a trigger may listen on: tokens, `*` for one token, `>` for the rest. */
const SUBJECT = /^(?:[A-Za-z0-9_\-:$]+|\*)(?:\.(?:[A-Za-z0-9_\-:$]+|\*))*(?:\.>)?$|^>$/;

/** `triggerConfig` of a NATS subject trigger (Nimbus's own type). */
export const NatsTriggerConfig = z.object({
  subject: z.string({ error: "is required" }).max(255).regex(SUBJECT, { error: "is not a NATS subject (tokens separated by '.', '*' for one token, a final '>' for the rest)" }),
  queue: z.string().max(64).regex(/^[A-Za-z0-9_\-.]+$/, { error: "is not a NATS queue group name" }).optional(),
  durable: z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean()).default(false),
  invocationType: z.enum(["Sync", "Async"], { error: "invocationType must be Sync or Async" }).default("Async"),
  cloudEvents: z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean()).default(true),
  /** Durable triggers: deliveries of one message before it is recorded as failed. */
  maxDeliver: z.number().int().min(1).max(100).default(5),
});
export type NatsTriggerConfig = z.output<typeof NatsTriggerConfig>;

/** The OSS event names FC's object-storage triggers take (a `*` as the last part matches all of that kind). */
export const OSS_EVENTS = [
  "oss:ObjectCreated:*",
  "oss:ObjectCreated:PutObject",
  "oss:ObjectCreated:PostObject",
  "oss:ObjectCreated:CopyObject",
  "oss:ObjectCreated:CompleteMultipartUpload",
  "oss:ObjectCreated:AppendObject",
  "oss:ObjectCreated:PutSymlink",
  "oss:ObjectRemoved:*",
  "oss:ObjectRemoved:DeleteObject",
  "oss:ObjectRemoved:DeleteObjects",
  "oss:ObjectRemoved:AbortMultipartUpload",
  "oss:ObjectModified:*",
  "oss:ObjectModified:UpdateObjectMeta",
] as const;

/** `triggerConfig` of an object-storage trigger (FC's `oss` type). */
export const OssTriggerConfig = z.object({
  events: z.array(z.enum(OSS_EVENTS, { error: `events are among ${OSS_EVENTS.join(", ")}` })).min(1, { error: "name at least one event" }).max(OSS_EVENTS.length),
  filter: z
    .object({
      key: z.object({ prefix: z.string().max(1024).default(""), suffix: z.string().max(1024).default("") }).default({ prefix: "", suffix: "" }),
    })
    .default({ key: { prefix: "", suffix: "" } }),
});
export type OssTriggerConfig = z.output<typeof OssTriggerConfig>;

/** `acs:oss:{region}:{account}:{bucket}` */
const OSS_ARN = /^acs:oss:([^:]*):([^:]*):([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$/;

/** The bucket an OSS trigger's `sourceArn` names; undefined when it is not such an ARN. */
export function parseOssArn(arn: string): { region: string; accountId: string; bucket: string } | undefined {
  const m = OSS_ARN.exec(arn);
  return m ? { region: m[1] ?? "", accountId: m[2] ?? "", bucket: m[3] ?? "" } : undefined;
}

/** True when two subjects (wildcards allowed) can match a common subject. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === ">" || q === ">") return p !== undefined && q !== undefined;
    if (p === undefined || q === undefined) return p === q;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
}
