import { z } from "zod";
import { boolField, intField } from "../validation.js";
import { NAME_PATTERN } from "../names.js";
import type { HttpRequestInfo } from "../wire/frames.js";

/** FC's defaults for asynchronous invocations. */
export const AsyncDefaults = {
  maxAsyncRetryAttempts: 3,
  maxAsyncEventAgeInSeconds: 86_400,
  /** Nimbus's own (after Lambda): how many invocations a chain may make before it is stopped as a loop. */
  maxChainDepth: 16,
} as const;

/**
 * The baggage item (FC's OpenTracing baggage, in `context.tracing.openTracingSpanBaggages`) that
 * tells a function its place in a chain of invocations; a function that passes its tracing context
 * on when it calls back into Nimbus (as FC documents for tracing) continues the chain.
 */
export const CHAIN_DEPTH_BAGGAGE = "nimbus-chain-depth";

/** The place in its chain of a call whose caller sent this baggage: one past the caller's. */
export function chainDepthAfter(baggage: Record<string, string> | undefined): number | undefined {
  const raw = baggage?.[CHAIN_DEPTH_BAGGAGE];
  if (raw === undefined) return undefined;
  const depth = Number.parseInt(raw, 10);
  return Number.isInteger(depth) && depth >= 0 ? Math.min(depth, 1_000_000) + 1 : undefined;
}

/** What is done with an invocation whose chain of invocations is past its limit (Lambda's names). */
export const RECURSIVE_LOOP_ACTIONS = ["Terminate", "Allow"] as const;

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
  /** Nimbus's own: stop (Terminate, the default) or run (Allow) invocations past the chain limit. */
  recursiveLoop: z.enum(RECURSIVE_LOOP_ACTIONS).optional(),
  /** Nimbus's own: how many invocations a chain may hold before this function stops it. */
  maxChainDepth: intField(1, 1_000).optional(),
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
  recursiveLoop: z.enum(RECURSIVE_LOOP_ACTIONS).optional(),
  maxChainDepth: z.number().int().optional(),
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
    recursiveLoop: record.recursiveLoop ?? "Terminate",
    maxChainDepth: record.maxChainDepth ?? AsyncDefaults.maxChainDepth,
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
  /**
   * False when its function's async config does not ask for `statefulInvocation`: no record is kept
   * (FC's default). Jobs queued before this field existed have records.
   */
  stateful?: boolean;
  /** How many invocations came before this one in its chain (destinations, triggers, SDK calls); 0 from outside. */
  depth?: number;
  /** Set by a redrive: the invocation this one runs again. */
  redriveOf?: string;
  /** Without a record: its caller-chosen id is held by a marker the run marks done when it ends. */
  marked?: boolean;
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
  /** Internal: the HTTP trigger's request, for an invocation queued through one (kept to run it again). */
  http?: HttpRequestInfo;
  /** Internal: the payload's bytes (base64) when they are not UTF-8 text (`invocationPayload` shows text). */
  rawPayload?: string;
  /** Internal: its place in a chain of invocations (see AsyncJob.depth). */
  depth?: number;
  /** Nimbus's own: the invocation this one runs again (a redrive). */
  redriveOf?: string;
  /** Nimbus's own: the invocation that runs this one again (set once: a redrive is never repeated). */
  redrivenAs?: string;
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

/** How a function's asynchronous invocations are handled: its async config as it applies to one qualifier. */
export interface EffectiveAsyncConfig {
  maxRetries: number;
  maxAgeMs: number;
  onSuccess: string | undefined;
  onFailure: string | undefined;
  /** Whether invocations keep a queryable record (FC's statefulInvocation). */
  stateful: boolean;
  /** Chains longer than this are stopped, unless `loop` is Allow. */
  maxChainDepth: number;
  loop: (typeof RECURSIVE_LOOP_ACTIONS)[number];
}

/**
 * The async config that applies to a call on `qualifier`: the qualifier's own, else the function's
 * LATEST one, else FC's defaults. `lookup` reads a config by its control-plane key
 * (`service.function.qualifier`).
 */
export function effectiveAsyncConfig(lookup: (key: string) => AsyncConfigRecord | undefined, service: string, qualifier: string, fn: string): EffectiveAsyncConfig {
  const config = lookup(`${service}.${fn}.${qualifier}`) ?? (qualifier === "LATEST" ? undefined : lookup(`${service}.${fn}.LATEST`));
  return {
    maxRetries: config?.maxAsyncRetryAttempts ?? AsyncDefaults.maxAsyncRetryAttempts,
    maxAgeMs: (config?.maxAsyncEventAgeInSeconds ?? AsyncDefaults.maxAsyncEventAgeInSeconds) * 1000,
    onSuccess: config?.destinationConfig.onSuccess?.destination,
    onFailure: config?.destinationConfig.onFailure?.destination,
    stateful: config?.statefulInvocation ?? false,
    maxChainDepth: config?.maxChainDepth ?? AsyncDefaults.maxChainDepth,
    loop: config?.recursiveLoop ?? "Terminate",
  };
}
