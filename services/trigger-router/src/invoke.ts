import { randomUUID } from "node:crypto";
import type { AsyncSubmitter } from "@nimbus/async";
import { callAttributes, type FunctionCaller } from "@nimbus/dispatch";
import type { TriggerRecord } from "@nimbus/protocol";
import type { InvocationOutcome, TriggerKind } from "@nimbus/protocol/wire";
import { Attr, inSpan, SpanKind, traceparentFor, type Counter } from "@nimbus/telemetry";

/** How a trigger's event becomes an invocation: queued (async) or run now (sync), with the trigger's qualifier. */
export class TriggerInvoker {
  constructor(
    private readonly caller: FunctionCaller,
    private readonly submitter: AsyncSubmitter,
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
   * `traceparent` continues the trace the event came with (a NATS message's header), `depth` the
   * chain of invocations it is part of (loop protection).
   */
  submit(
    trigger: TriggerRecord,
    payload: Buffer,
    kind: TriggerKind,
    { invocationId, traceparent, depth }: { invocationId?: string | undefined; traceparent?: string | undefined; depth?: number | undefined } = {},
  ): Promise<{ invocationId: string; duplicate: boolean }> {
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
        depth,
      }),
    );
    return this.count(kind, work, (r) => (r.duplicate ? "duplicate" : "queued"));
  }

  /** Runs the function now and returns what it produced (platform failures throw NimbusError). */
  run(trigger: TriggerRecord, payload: Buffer, kind: TriggerKind, requestId: string = randomUUID(), traceparent?: string): Promise<InvocationOutcome & { body: Uint8Array }> {
    const work = this.caller
      .call({
        to: { service: trigger.serviceName, qualifier: trigger.qualifier, fn: trigger.functionName },
        kind: "event",
        trigger: kind,
        body: payload,
        requestId,
        traceparent,
        span: { name: `${kind} → ${trigger.serviceName}/${trigger.functionName}`, kind: SpanKind.CONSUMER, attributes: { [Attr.trigger]: trigger.triggerName } },
      })
      .then((r) => r.outcome);
    return this.count(kind, work, (o) => (o.errorType ? "function-error" : "ran"));
  }

  private attributes(trigger: TriggerRecord, kind: TriggerKind, requestId: string) {
    const to = { service: trigger.serviceName, qualifier: trigger.qualifier, fn: trigger.functionName };
    return { ...callAttributes(to, requestId, kind), [Attr.trigger]: trigger.triggerName };
  }
}
