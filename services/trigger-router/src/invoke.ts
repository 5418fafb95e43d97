import { randomUUID } from "node:crypto";
import type { AsyncSubmitter } from "@nimbus/async";
import { dispatchMeta, invokeRequestFor, type Dispatcher, type TargetResolver } from "@nimbus/dispatch";
import type { TriggerRecord } from "@nimbus/protocol";
import type { InvocationOutcome, TriggerKind } from "@nimbus/protocol/wire";

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
  ) {}

  /** Queues the event; `invocationId` makes a repeated event (a redelivery, a retried tick) run once. */
  submit(trigger: TriggerRecord, payload: Buffer, invocationId?: string): Promise<{ invocationId: string; duplicate: boolean }> {
    const requestId = randomUUID();
    return this.submitter.submit({
      service: trigger.serviceName,
      fn: trigger.functionName,
      qualifier: trigger.qualifier,
      requestId,
      ...(invocationId ? { invocationId } : {}),
      payload,
    });
  }

  /** Runs the function now and returns what it produced (platform failures throw NimbusError). */
  run(trigger: TriggerRecord, payload: Buffer, kind: TriggerKind, requestId: string = randomUUID()): Promise<InvocationOutcome & { body: Uint8Array }> {
    const resolve = () => this.resolver.resolve(trigger.serviceName, trigger.qualifier, trigger.functionName);
    return this.dispatcher.invoke(invokeRequestFor(resolve(), { kind: "event", trigger: kind, body: payload, ...this.limits }), dispatchMeta(requestId, undefined, resolve));
  }
}
