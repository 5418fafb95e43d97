import { randomBytes } from "node:crypto";
import type { FunctionInfo, InvocationContextInfo } from "@nimbus/protocol/wire";
import { createLogger } from "./output.js";

/** One logger for every invocation: it finds the request id in the async context it is called from. */
const sharedLogger = createLogger((line, stream) => (stream === 1 ? process.stdout : process.stderr).write(line));

/** FC's `context` object for one invocation (or for the initializer). */
export function buildContext(fn: FunctionInfo, ctx: InvocationContextInfo) {
  return {
    requestId: ctx.requestId,
    credentials: { ...ctx.credentials },
    function: {
      name: fn.name,
      handler: fn.handler,
      memory: fn.memory,
      timeout: fn.timeout,
      initializer: fn.initializer,
      initializationTimeout: fn.initializationTimeout,
    },
    service: { ...fn.service, qualifier: ctx.qualifier, versionId: ctx.versionId },
    region: fn.region,
    accountId: fn.accountId,
    tracing: {
      traceparent: ctx.traceparent ?? "",
      openTracingSpanContext: jaegerSpanContext(ctx.traceparent),
      openTracingSpanBaggages: { ...ctx.baggage },
      jaegerEndpoint: ctx.jaegerEndpoint ?? "",
    },
    logger: sharedLogger,
    /** Milliseconds left before the function times out. */
    getRemainingTimeInMillis: () => Math.max(0, ctx.deadline - Date.now()),
  };
}

export type FcContext = ReturnType<typeof buildContext>;

/**
 * FC's `openTracingSpanContext` (Jaeger's `trace:span:parent:flags`): a new span of the invocation,
 * a child of the span the call arrived in (the W3C `traceparent`, or FC's OpenTracing header).
 */
function jaegerSpanContext(traceparent: string | undefined): string {
  const m = traceparent ? /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent) : null;
  return m ? `${m[1]}:${randomBytes(8).toString("hex")}:${m[2]}:${m[3]}` : "";
}
