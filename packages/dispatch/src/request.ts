import { effectiveFunction } from "@nimbus/protocol";
import type { HttpRequestInfo, InvokeRequest, TriggerKind } from "@nimbus/protocol/wire";
import type { DispatchMeta } from "./dispatcher.js";
import type { Target } from "./resolver.js";

export interface CallSpec {
  kind: "event" | "http";
  trigger: TriggerKind;
  body: Uint8Array;
  http?: HttpRequestInfo;
  logTail?: boolean;
  /** Time a call may spend starting an instance, on top of the function's own timeouts. */
  coldStartAllowanceMs: number;
  maxResponseBytes: number;
}

/**
 * What a call to `target` asks an invoker for. Its deadline allows the function's timeout, its
 * initializer's when it has one, and a cold start.
 */
export function invokeRequestFor(target: Target, call: CallSpec): InvokeRequest {
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
    logTail: call.logTail ?? false,
    deadline: Date.now() + timeoutMs + call.coldStartAllowanceMs,
    hops: 0,
    maxResponseBytes: call.maxResponseBytes,
  };
}

/** A call's meta: its ids, and how to resolve its target again when an invoker says it changed. */
export function dispatchMeta(requestId: string, traceparent: string | undefined, resolve: () => Target): DispatchMeta {
  return {
    requestId,
    ...(traceparent ? { traceparent } : {}),
    reresolve: () => {
      const fresh = resolve();
      return { cls: fresh.cls, ...(fresh.versionId ? { versionId: fresh.versionId } : {}) };
    },
  };
}
