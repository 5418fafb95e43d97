import { randomUUID } from "node:crypto";
import type { AsyncSubmitter } from "@nimbus/async";
import { dispatchMeta, invokeRequestFor, type Dispatcher, type TargetResolver } from "@nimbus/dispatch";
import type { TriggerRecord } from "@nimbus/protocol";
import type { InvocationOutcome, TriggerKind } from "@nimbus/protocol/wire";
import { inSpan, SpanKind, traceparentFor, type Counter } from "@nimbus/telemetry";

export interface InvokeLimits {
  coldStartAllowanceMs: number;
  maxResponseBytes: number;
}

/** How a trigger's event becomes an invocation: queued (async) or run now (sync), with the trigger's qualifier. */
export class TriggerInvoker {
  constructor(
    private readonly resolver: TargetResolver,
    private readonly dispatcher: Dispatcher,
    private readonly submitter: AsyncSubmitter,
    private readonly limits: InvokeLimits,
    private readonly events?: Counter<"type" | "outcome">,
  ) {}

  private count<T>(kind: TriggerKind, work: Promise<T>, outcome: (result: T) => string): Promise<T> {
    return work.then(
      (result) => {
        this.events?.inc({ type: kind, outcome: outcome(result) });
        return result;
      },
      (err: unknown) => {
        this.events?.inc({ type: kind, outcome: "failed" });
        throw err;
      },
    );
  }

  /**
   * Queues the event; `invocationId` makes a repeated event (a redelivery, a retried tick) run once.
   * `traceparent` continues the trace the event came with (a NATS message's header).
   */
  submit(trigger: TriggerRecord, payload: Buffer, kind: TriggerKind, invocationId?: string, traceparent?: string): Promise<{ invocationId: string; duplicate: boolean }> {
    const requestId = randomUUID();
    const work = inSpan(`${kind} → ${trigger.serviceName}/${trigger.functionName}`, { kind: SpanKind.PRODUCER, attributes: this.attributes(trigger, kind, requestId), traceparent }, (span) =>
      this.submitter.submit({
        service: trigger.serviceName,
        fn: trigger.functionName,
        qualifier: trigger.qualifier,
        requestId,
        ...(invocationId ? { invocationId } : {}),
        payload,
        traceparent: traceparentFor(span, traceparent),
      }),
    );
    return this.count(kind, work, (r) => (r.duplicate ? "duplicate" : "queued"));
  }

  /** Runs the function now and returns what it produced (platform failures throw NimbusError). */
  run(trigger: TriggerRecord, payload: Buffer, kind: TriggerKind, requestId: string = randomUUID(), traceparent?: string): Promise<InvocationOutcome & { body: Uint8Array }> {
    const resolve = () => this.resolver.resolve(trigger.serviceName, trigger.qualifier, trigger.functionName);
    const work = inSpan(`${kind} → ${trigger.serviceName}/${trigger.functionName}`, { kind: SpanKind.CONSUMER, attributes: this.attributes(trigger, kind, requestId), traceparent }, (span) =>
      this.dispatcher.invoke(invokeRequestFor(resolve(), { kind: "event", trigger: kind, body: payload, ...this.limits }), dispatchMeta(requestId, traceparentFor(span, traceparent), resolve)),
    );
    return this.count(kind, work, (o) => (o.errorType ? "function-error" : "ran"));
  }

  private attributes(trigger: TriggerRecord, kind: TriggerKind, requestId: string) {
    return {
      "faas.trigger": kind === "nats" ? "pubsub" : kind === "oss" ? "datasource" : kind === "timer" ? "timer" : "other",
      "faas.invoked_name": trigger.functionName,
      "faas.invocation_id": requestId,
      "nimbus.service": trigger.serviceName,
      "nimbus.qualifier": trigger.qualifier,
      "nimbus.trigger": trigger.triggerName,
    };
  }
}
