import { LATEST, type Naming } from "@nimbus/protocol";
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
        ...(meta.traceparent ? { traceparent: meta.traceparent } : {}),
        logTail: req.logTail,
      },
      req.deadline,
      req.lastResort ?? false,
    );
    if ("busy" in outcome) return { s: "busy", node: deps.node };
    if ("failed" in outcome) return { s: "failed", error: outcome.failed.toWire() };

    let result = outcome.ok;
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
