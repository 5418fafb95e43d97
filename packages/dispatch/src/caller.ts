import { effectiveFunction } from "@nimbus/protocol";
import type { HttpRequestInfo, InvocationOutcome, InvokeRequest, TriggerKind } from "@nimbus/protocol/wire";
import { Attr, faasTrigger, inSpan, traceparentFor, tracingFor, type SpanKind } from "@nimbus/telemetry";
import type { DispatchMeta, Dispatcher } from "./dispatcher.js";
import type { Target, TargetResolver } from "./resolver.js";

/** What every call from one caller (a gateway, an async-queue replica, a trigger router) is allowed. */
export interface CallLimits {
  /** Time a call may spend starting an instance, on top of the function's own timeouts. */
  coldStartAllowanceMs: number;
  maxResponseBytes: number;
}

/** The function a call is for, as the caller names it. */
export interface CallAddress {
  service: string;
  /** LATEST when absent: LATEST, a version id or an alias. */
  qualifier: string | undefined;
  fn: string;
}

/** One call of a function. */
export interface Call {
  to: CallAddress;
  /**
   * The target, when the caller resolved it already to check something of it first (an HTTP
   * trigger's methods, an async invocation's validity): this resolution is the one that runs, so
   * an alias's weighted pick is made once.
   */
  target?: Target;
  kind: "event" | "http";
  trigger: TriggerKind;
  body: Uint8Array;
  http?: HttpRequestInfo;
  logTail?: boolean;
  requestId: string;
  /** The caller's trace (its `traceparent`), which the call's span continues. */
  traceparent?: string | undefined;
  /** FC's OpenTracing baggage the caller sent, for the function's `context.tracing`. */
  baggage?: Record<string, string> | undefined;
  /** At the function's instance limit, be refused at once (ResourceExhausted) rather than wait for a slot. */
  noQueueWait?: boolean | undefined;
  /** The call's span: its name, its kind, and what the caller adds to the attributes every call has. */
  span: { name: string; kind: SpanKind; attributes?: Record<string, string | number | boolean> };
}

/**
 * The attributes every span of a call carries, whoever makes it: a call run now (FunctionCaller)
 * or one queued to run later (an async invocation, a trigger's event).
 */
export function callAttributes(to: { service: string; qualifier: string; fn: string }, requestId: string, trigger: TriggerKind): Record<string, string> {
  return {
    [Attr.faasTrigger]: faasTrigger(trigger),
    [Attr.faasInvokedName]: to.fn,
    [Attr.faasInvocationId]: requestId,
    [Attr.service]: to.service,
    [Attr.qualifier]: to.qualifier,
  };
}

export interface CallResult {
  target: Target;
  outcome: InvocationOutcome & { body: Uint8Array };
}

/**
 * The one owner of "call a function": resolves the target (FC's not-found errors), applies the
 * function's effective configuration to the request once, runs it through the dispatcher —
 * resolving again when an invoker says the function changed meanwhile — in a span with the
 * attributes every call has (and what it turned out to be: cold start, error type, HTTP status).
 * The gateway (API calls, HTTP triggers, custom domains), the async queue and the trigger router
 * each make one call here.
 */
export class FunctionCaller {
  constructor(
    private readonly resolver: TargetResolver,
    private readonly dispatcher: Dispatcher,
    private readonly limits: CallLimits,
  ) {}

  /** The function a call names, now (throws FC's ServiceNotFound/FunctionNotFound/…). */
  resolve(to: CallAddress): Target {
    return this.resolver.resolve(to.service, to.qualifier, to.fn);
  }

  /** Runs the call; platform failures throw NimbusError, the function's own come back in the outcome. */
  async call(call: Call): Promise<CallResult> {
    const target = call.target ?? this.resolve(call.to);
    const attributes = tracingFor(target.service) ? { ...callAttributes(target, call.requestId, call.trigger), ...call.span.attributes } : undefined;
    return inSpan(call.span.name, { kind: call.span.kind, ...(attributes ? { attributes } : {}), traceparent: call.traceparent }, async (span) => {
      const request = invokeRequestFor(target, call, this.limits);
      const outcome = await this.dispatcher.invoke(request, dispatchMeta(call.requestId, traceparentFor(span, call.traceparent), () => this.resolve(call.to)));
      span.setAttribute(Attr.faasColdstart, outcome.coldStart);
      if (outcome.errorType) span.setAttribute(Attr.errorType, outcome.errorType);
      if (outcome.http) span.setAttribute(Attr.httpResponseStatusCode, outcome.http.status);
      return { target, outcome };
    });
  }
}

/**
 * What a call to `target` asks an invoker for. Its deadline allows the function's timeout, its
 * initializer's when it has one, and a cold start.
 */
function invokeRequestFor(target: Target, call: Call, limits: CallLimits): InvokeRequest {
  const fn = effectiveFunction(target.record);
  const timeoutMs = fn.timeoutMs + (fn.hasInitializer ? fn.initializationTimeoutMs : 0);
  return {
    service: target.service,
    function: target.fn,
    qualifier: target.qualifier,
    ...(target.versionId ? { versionId: target.versionId } : {}),
    cls: target.cls,
    kind: call.kind,
    trigger: call.trigger,
    body: call.body,
    ...(call.http ? { http: call.http } : {}),
    ...(call.baggage && Object.keys(call.baggage).length ? { baggage: call.baggage } : {}),
    logTail: call.logTail ?? false,
    ...(call.noQueueWait ? { noQueueWait: true } : {}),
    deadline: Date.now() + timeoutMs + limits.coldStartAllowanceMs,
    hops: 0,
    maxResponseBytes: limits.maxResponseBytes,
  };
}

/** A call's meta: its ids, and how to resolve its target again when an invoker says it changed. */
function dispatchMeta(requestId: string, traceparent: string | undefined, resolve: () => Target): DispatchMeta {
  return {
    requestId,
    ...(traceparent ? { traceparent } : {}),
    reresolve: () => {
      const fresh = resolve();
      return { cls: fresh.cls, ...(fresh.versionId ? { versionId: fresh.versionId } : {}) };
    },
  };
}
