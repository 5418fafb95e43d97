import { z } from "zod";
import { boolField, intField } from "../validation.js";
import { NAME_PATTERN } from "../names.js";
import type { HttpRequestInfo } from "../wire/frames.js";

/** FC's defaults for asynchronous invocations. */
export const AsyncDefaults = {
  maxAsyncRetryAttempts: 3,
  maxAsyncEventAgeInSeconds: 86_400,
} as const;

/** What an async destination ARN points at. */
export type Destination =
  | { kind: "function"; service: string; qualifier: string; fn: string }
  | { kind: "nats"; subject: string }
  | { kind: "unsupported"; arn: string };

const FUNCTION_ARN = /^acs:fc:[^:]*:[^:]*:services\/([A-Za-z_][A-Za-z0-9_-]{0,127})(?:\.([A-Za-z0-9_-]{1,128}))?\/functions\/([A-Za-z_][A-Za-z0-9_-]{0,127})$/;
const NATS_ARN = /^acs:nats:::subjects\/([A-Za-z0-9_.*>-]{1,255})$/;
const OTHER_FC_ARN = /^acs:(mns|eventbridge|mq):[^\s]*$/;

/** Parses a destination ARN; undefined when it is not one FC (or Nimbus) knows. */
export function parseDestination(arn: string): Destination | undefined {
  const fn = FUNCTION_ARN.exec(arn);
  if (fn) return { kind: "function", service: fn[1] as string, qualifier: fn[2] ?? "LATEST", fn: fn[3] as string };
  const nats = NATS_ARN.exec(arn);
  if (nats) {
    const subject = nats[1] as string;
    // Publishing needs a concrete subject: no wildcards, no empty tokens.
    if (/[*>]/.test(subject) || subject.split(".").some((t) => t === "")) return undefined;
    return { kind: "nats", subject };
  }
  if (OTHER_FC_ARN.test(arn)) return { kind: "unsupported", arn };
  return undefined;
}

/** FC's ARN of a function (as destination records name it). */
export function functionArn(ctx: { region: string; accountId: string }, service: string, qualifier: string, fn: string): string {
  return `acs:fc:${ctx.region}:${ctx.accountId}:services/${service}.${qualifier}/functions/${fn}`;
}

const destinationArn = z.string().max(1024).refine((arn) => parseDestination(arn) !== undefined, {
  error: "destination must be acs:fc:{region}:{account}:services/{svc}.{qualifier}/functions/{fn}, acs:nats:::subjects/{subject}, or an mns/eventbridge ARN",
});

const Target = z.object({ destination: destinationArn });

/** Body of `PUT …/async-invoke-config`. */
export const PutAsyncConfigBody = z.object({
  maxAsyncRetryAttempts: intField(0, 8).optional(),
  maxAsyncEventAgeInSeconds: intField(1, 604_800).optional(),
  destinationConfig: z.object({ onSuccess: Target.optional(), onFailure: Target.optional() }).optional(),
  statefulInvocation: boolField().optional(),
  /** Nimbus's own: how many invocations of this function the async queue runs at once, cluster-wide. */
  maxAsyncConcurrency: intField(1, 10_000).optional(),
});

/** An async config as stored in KV. */
export const AsyncConfigRecord = z.object({
  service: z.string(),
  function: z.string(),
  qualifier: z.string(),
  maxAsyncRetryAttempts: z.number().int(),
  maxAsyncEventAgeInSeconds: z.number().int(),
  destinationConfig: z.object({ onSuccess: Target.optional(), onFailure: Target.optional() }),
  statefulInvocation: z.boolean(),
  maxAsyncConcurrency: z.number().int().optional(),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type AsyncConfigRecord = z.output<typeof AsyncConfigRecord>;

export function asyncConfigView(record: AsyncConfigRecord) {
  return {
    service: record.service,
    function: record.function,
    qualifier: record.qualifier,
    maxAsyncRetryAttempts: record.maxAsyncRetryAttempts,
    maxAsyncEventAgeInSeconds: record.maxAsyncEventAgeInSeconds,
    destinationConfig: record.destinationConfig,
    statefulInvocation: record.statefulInvocation,
    ...(record.maxAsyncConcurrency === undefined ? {} : { maxAsyncConcurrency: record.maxAsyncConcurrency }),
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}

/** States of an asynchronous invocation (FC's). */
export const INVOCATION_STATUSES = ["Enqueued", "Running", "Succeeded", "Failed", "Retrying", "Stopping", "Stopped", "Expired", "Invalid"] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set(["Succeeded", "Failed", "Stopped", "Expired", "Invalid"]);

/** The invocation id a caller may choose (`x-fc-stateful-async-invocation-id`). */
export const INVOCATION_ID_PATTERN = NAME_PATTERN;

/** What the async queue carries for one invocation (BullMQ job data: JSON). */
export interface AsyncJob {
  invocationId: string;
  requestId: string;
  service: string;
  function: string;
  /** As the caller gave it; resolved when the job runs, as FC does. */
  qualifier: string;
  /** base64 */
  payload: string;
  /** An HTTP trigger's request queued with `X-Fc-Invocation-Type: Async`: it reaches the HTTP handler (payload is its body). */
  http?: HttpRequestInfo;
  traceparent?: string;
  enqueuedAt: number;
  /** How many times the function ran and failed (counts against maxAsyncRetryAttempts). */
  functionErrors: number;
  /** How many times the platform could not run it (throttled, no invoker…): retried within the event age. */
  platformErrors: number;
  /** Set by a destination: this invocation delivers another's record. */
  destinationOf?: string;
}

/** An asynchronous invocation as FC's stateful-async-invocation API shows it. */
export interface InvocationRecord {
  invocationId: string;
  requestId: string;
  status: InvocationStatus;
  serviceName: string;
  functionName: string;
  qualifier: string;
  /** epoch ms */
  startedTime: number;
  endTime?: number;
  alreadyRetriedTimes: number;
  destinationStatus: string;
  invocationErrorMessage: string;
  invocationPayload: string;
  /** Every state the invocation went through, oldest first (kept by the store: writers never set it). */
  events: InvocationEvent[];
  /** The instance that ran it last. */
  instanceId?: string;
  durationMs?: number;
  /** What the function returned (cut to MAX_RETURN_PAYLOAD_BYTES). */
  returnPayload?: string;
  /**
   * Internal, never shown: the destination record still to deliver, stored with the final state so a
   * worker that dies before delivering leaves it to the one that takes the job over.
   */
  pendingDestination?: { arn: string; record: DestinationRecord };
}

/** FC's destination record (what onSuccess/onFailure destinations receive). */
export interface DestinationRecord {
  timestamp: number;
  requestContext: { requestId: string; functionArn: string; condition: string; approximateInvokeCount: number };
  requestPayload: string;
  responseContext: { statusCode: number; functionError: string };
  responsePayload: string;
}

/** One state change of an asynchronous invocation (FC's StatefulAsyncInvocationEvent). */
export interface InvocationEvent {
  eventId: number;
  status: InvocationStatus;
  /** epoch ms */
  timestamp: number;
  eventDetail: string;
}

/** The most of a function's result an invocation record keeps. */
export const MAX_RETURN_PAYLOAD_BYTES = 64 * 1024;
