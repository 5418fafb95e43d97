import { headers as natsHeaders } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";
import { newInvocationRecord, type AsyncQueues, type InvocationStore } from "@nimbus/async";
import type { FunctionCaller } from "@nimbus/dispatch";
import { InvokeHeaders } from "@nimbus/protocol/wire";
import { isNimbusError, parseDestination, type AsyncJob, type DestinationRecord } from "@nimbus/protocol";

const encoder = new TextEncoder();

export interface DestinationDeps {
  nc: NatsConnection;
  queues: AsyncQueues;
  /** Checks a destination function exists (FC's not-found errors). */
  resolver: Pick<FunctionCaller, "resolve">;
  records: InvocationStore;
}

/**
 * Delivers a destination record: to another function (queued as its own asynchronous invocation) or
 * to a NATS subject (published with the request id in a header). Other FC destinations (MNS,
 * EventBridge) are reported, never silently dropped. Returns the destinationStatus to record.
 *
 * Delivering twice (a worker died after recording the final state, before recording the delivery)
 * queues the destination invocation once: its id is derived from the request it reports on.
 */
export async function deliver(arn: string, record: DestinationRecord, deps: DestinationDeps): Promise<string> {
  const destination = parseDestination(arn);
  const body = Buffer.from(JSON.stringify(record));
  if (!destination) return `Failed: '${arn}' is not a destination ARN`;
  switch (destination.kind) {
    case "nats": {
      const headers = natsHeaders();
      headers.set(InvokeHeaders.requestId, record.requestContext.requestId);
      deps.nc.publish(destination.subject, encoder.encode(body.toString("utf8")), { headers });
      await deps.nc.flush();
      return "Succeeded";
    }
    case "function": {
      try {
        deps.resolver.resolve({ service: destination.service, qualifier: destination.qualifier, fn: destination.fn });
      } catch (err) {
        return `Failed: ${isNimbusError(err) ? err.message : String(err)}`;
      }
      const id = `${record.requestContext.requestId}-${record.requestContext.condition === "Success" ? "onSuccess" : "onFailure"}`;
      const job: AsyncJob = {
        invocationId: id,
        requestId: id,
        service: destination.service,
        function: destination.fn,
        qualifier: destination.qualifier,
        payload: body.toString("base64"),
        enqueuedAt: Date.now(),
        functionErrors: 0,
        platformErrors: 0,
        destinationOf: record.requestContext.requestId,
      };
      await deps.records.create(
        newInvocationRecord({ invocationId: id, requestId: id, service: job.service, fn: job.function, qualifier: job.qualifier, enqueuedAt: job.enqueuedAt, payload: body }),
      );
      await deps.queues.enqueue(job, deps.records.retentionMs);
      return "Succeeded";
    }
    case "unsupported":
      return `Failed: Nimbus cannot deliver to ${arn} (supported destinations: functions and NATS subjects)`;
  }
}
