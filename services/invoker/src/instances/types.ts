import type { FunctionError, FunctionInfo, HttpRequestInfo, HttpResponseInfo, InvocationContextInfo } from "@nimbus/protocol/wire";
import type { Logger } from "@nimbus/telemetry";
import type { LogSink } from "./log.js";

/** What one invocation needs. */
export interface InvocationInput {
  requestId: string;
  kind: "event" | "http";
  body: Buffer;
  http?: HttpRequestInfo;
  qualifier: string;
  versionId: string;
  traceparent?: string;
  baggage?: Record<string, string>;
  jaegerEndpoint?: string;
  logTail: boolean;
}

/** What the caller gets back: the function's result or its error, and the facts about the run. */
export interface InvocationResult {
  body: Buffer;
  errorType?: FunctionError["errorType"];
  http?: HttpResponseInfo;
  durationMs: number;
  maxMemoryMb: number;
  coldStart: boolean;
  initDurationMs?: number;
  logTail?: Buffer;
  /** Stopped at its timeout. */
  timedOut?: boolean;
}

export interface InstanceOptions {
  id: string;
  fn: FunctionInfo;
  capacity: number;
  timeoutMs: number;
  initializationTimeoutMs: number;
  /** Whether an initializer must run before the first invocation. */
  hasInitializer: boolean;
  memoryLimitMb: number;
  /** How long the sandbox may take until the runtime in it says hello (the platform's part of a start). */
  startTimeoutMs: number;
  /** How long loading the function may then take (its module, or its server listening on caPort). */
  loadTimeoutMs: number;
  /** The function's pre-stop hook runs (at most this long) before the instance is stopped on purpose. */
  preStopTimeoutMs?: number;
  logSink: LogSink;
  logger: Logger;
}

/** The context an invocation (or the initializer) runs with, due by `deadline` (epoch ms). */
export function contextFor(input: InvocationInput, deadline: number): InvocationContextInfo {
  return {
    requestId: input.requestId,
    qualifier: input.qualifier,
    versionId: input.versionId,
    credentials: { accessKeyId: "", accessKeySecret: "", securityToken: "" },
    ...(input.traceparent ? { traceparent: input.traceparent } : {}),
    ...(input.baggage ? { baggage: input.baggage } : {}),
    ...(input.jaegerEndpoint ? { jaegerEndpoint: input.jaegerEndpoint } : {}),
    deadline,
  };
}
