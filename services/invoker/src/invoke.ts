import { LATEST, type Naming, type ServiceRecord } from "@nimbus/protocol";
import { Attr, contextFrom, faasTrigger, NOT_RECORDING, SpanKind, SpanStatusCode, traceparentFor, tracer, tracingFor } from "@nimbus/telemetry";
import type { InvocationRecorder } from "./telemetry/recorder.js";
import type { PayloadStore } from "@nimbus/store";
import type { Registry } from "./cluster/registry.js";
import type { Pool } from "./pool/pool.js";
import type { Resolver } from "./resolver.js";
import type { Handler } from "./transport/server.js";

export interface HandlerDeps {
  node: string;
  naming: Naming;
  resolver: Resolver;
  pool: Pool;
  registry: Registry;
  payloads: PayloadStore;
  /** Bodies above this travel through the payload store (the NATS server's max_payload, less headroom). */
  maxInlineBytes: () => number;
  recorder: InvocationRecorder;
}

/** Redirects a request may take before it must be served (or refused) where it is. */
const MAX_HOPS = 2;

/**
 * What an invoker does with one request: check the function is the one the caller resolved, send it
 * to a node with a free warm slot if this one has none (before ever cold-starting), else run it
 * here — waiting for a slot, starting an instance if needed — and return the outcome.
 */
export function createInvokeHandler(deps: HandlerDeps): Handler {
  return async (req, meta) => {
    const resolution = await deps.resolver.resolve(req);
    if ("stale" in resolution) return { s: "stale" };
    if ("failed" in resolution) return { s: "failed", error: resolution.failed.toWire() };

    if (!meta.placement && req.hops < MAX_HOPS && !deps.pool.hasFreeSlot(req.cls)) {
      const elsewhere = await deps.registry.idleNode(req.cls);
      if (elsewhere) return { s: "redirect", node: elsewhere };
    }

    const body = req.bodyRef ? Buffer.from(await deps.payloads.take(req.bodyRef)) : Buffer.from(req.body ?? new Uint8Array(0));
    const versionId = req.versionId ?? LATEST;
    const started = Date.now();
    // The invocation's span: a child of the caller's trace; the function sees this span as its parent.
    const span = tracingFor(req.service)
      ? tracer.startSpan(
          `invoke ${req.service}/${req.function}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              [Attr.faasTrigger]: faasTrigger(req.trigger),
              [Attr.faasInvocationId]: meta.requestId,
              [Attr.faasName]: req.function,
              [Attr.faasVersion]: versionId,
              [Attr.service]: req.service,
              [Attr.qualifier]: req.qualifier,
            },
          },
          contextFrom(meta.traceparent),
        )
      : NOT_RECORDING;
    const traceparent = traceparentFor(span, meta.traceparent);
    const outcome = await deps.pool.run(
      { service: req.service, fn: req.function, cls: req.cls, versionId },
      { record: resolution.record, service: resolution.service, qualifier: req.qualifier },
      {
        requestId: meta.requestId,
        kind: req.kind,
        body,
        ...(req.http ? { http: req.http } : {}),
        qualifier: req.qualifier,
        versionId: versionId === LATEST ? "" : versionId,
        ...(traceparent ? { traceparent } : {}),
        ...(req.baggage ? { baggage: req.baggage } : {}),
        ...jaegerEndpointOf(resolution.service),
        logTail: req.logTail,
      },
      req.deadline,
      req.lastResort ?? false,
      req.noQueueWait ?? false,
    );
    const record = {
      requestId: meta.requestId,
      service: req.service,
      function: req.function,
      qualifier: req.qualifier,
      versionId: versionId === LATEST ? "" : versionId,
      trigger: req.trigger,
      startTime: started,
    };
    if ("busy" in outcome) {
      span.end();
      return { s: "busy", node: deps.node };
    }
    if ("failed" in outcome) {
      if (outcome.failed.code === "ResourceExhausted") {
        deps.recorder.record({ ...record, instanceId: "", durationMs: Date.now() - started, maxMemoryMb: 0, coldStart: false, status: "Throttled", errorType: "ResourceExhausted" });
      }
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.failed.message });
      span.end();
      return { s: "failed", error: outcome.failed.toWire() };
    }

    let result = outcome.ok;
    deps.recorder.record({
      ...record,
      instanceId: outcome.instanceId,
      durationMs: Math.round(result.durationMs),
      maxMemoryMb: result.maxMemoryMb,
      coldStart: result.coldStart,
      ...(result.initDurationMs === undefined ? {} : { initDurationMs: result.initDurationMs }),
      status: result.errorType ? "Failed" : "Succeeded",
      ...(result.errorType ? { errorType: result.errorType } : {}),
      ...(result.timedOut ? { timedOut: true } : {}),
    });
    span.setAttribute(Attr.faasColdstart, result.coldStart);
    span.setAttribute(Attr.faasInstance, outcome.instanceId);
    if (result.errorType) span.setStatus({ code: SpanStatusCode.ERROR, message: result.errorType });
    span.end();
    if (result.body.length > req.maxResponseBytes) {
      const errorMessage = `the function's response of ${result.body.length} bytes exceeds the limit of ${req.maxResponseBytes} bytes`;
      result = { ...result, body: Buffer.from(JSON.stringify({ errorMessage })), errorType: "UnhandledInvocationError" };
      delete result.http;
    }
    let inline: Uint8Array | undefined = result.body;
    let bodyRef: string | undefined;
    if (result.body.length > deps.maxInlineBytes()) {
      bodyRef = `res-${meta.requestId}-${Date.now()}`;
      await deps.payloads.put(bodyRef, result.body);
      inline = undefined;
    }
    return {
      s: "done",
      ...(inline ? { body: inline } : {}),
      ...(bodyRef ? { bodyRef } : {}),
      ...(result.errorType ? { errorType: result.errorType } : {}),
      ...(result.http ? { http: result.http } : {}),
      durationMs: result.durationMs,
      maxMemoryMb: result.maxMemoryMb,
      instanceId: outcome.instanceId,
      versionId,
      coldStart: result.coldStart,
      ...(result.initDurationMs === undefined ? {} : { initDurationMs: result.initDurationMs }),
      ...(result.logTail ? { logTail: result.logTail } : {}),
    };
  };
}

/** The Jaeger endpoint a service's tracingConfig names (FC: `{type: "Jaeger", params: {endpoint}}`), for the function's context. */
function jaegerEndpointOf(service: ServiceRecord): { jaegerEndpoint?: string } {
  const config = service.tracingConfig;
  const endpoint = config?.type?.toLowerCase() === "jaeger" ? config.params?.["endpoint"] : undefined;
  return typeof endpoint === "string" && endpoint ? { jaegerEndpoint: endpoint } : {};
}
