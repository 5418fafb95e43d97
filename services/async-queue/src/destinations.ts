import { createHash } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AsyncSubmitter } from "@nimbus/async";
import type { FunctionCaller } from "@nimbus/dispatch";
import { InvokeHeaders } from "@nimbus/protocol/wire";
import { functionArn, isNimbusError, parseDestination, type AsyncJob, type DestinationRecord } from "@nimbus/protocol";

const encoder = new TextEncoder();

/**
 * FC's destination record of an invocation's outcome. `unrun`: it ended without this attempt running
 * (expired, or stopped as a loop), so the attempt is not counted.
 */
export function destinationRecord(
  arn: { region: string; accountId: string },
  data: AsyncJob,
  outcome: { condition: string; statusCode: number; functionError: string; response: string },
  unrun: boolean,
): DestinationRecord {
  return {
    timestamp: Date.now(),
    requestContext: {
      requestId: data.requestId,
      functionArn: functionArn(arn, data.service, data.qualifier, data.function),
      condition: outcome.condition,
      approximateInvokeCount: data.functionErrors + data.platformErrors + (unrun ? 0 : 1),
    },
    requestPayload: Buffer.from(data.payload, "base64").toString("utf8"),
    responseContext: { statusCode: outcome.statusCode, functionError: outcome.functionError },
    responsePayload: outcome.response,
  };
}

/**
 * The id of the invocation a destination starts: derived from the request it reports on, so it is
 * queued once however often it is delivered; kept short along a chain (a hash past 100 characters).
 */
export function destinationId(requestId: string, which: "onSuccess" | "onFailure"): string {
  const base = requestId.length > 100 ? `d${createHash("sha256").update(requestId).digest("hex").slice(0, 40)}` : requestId;
  return `${base}-${which}`;
}

export interface DestinationDeps {
  nc: NatsConnection;
  /** Checks a destination function exists (FC's not-found errors). */
  resolver: Pick<FunctionCaller, "resolve">;
  submitter: AsyncSubmitter;
  /** The place in its chain of what the destination starts (the invocation reported on's, plus one). */
  depth: number;
}

/**
 * Delivers a destination record: to another function (queued as its own asynchronous invocation) or
 * to a NATS subject (published with the request id and the chain's depth in headers, so a NATS
 * trigger on that subject continues the chain). Other FC destinations (MNS,
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
      headers.set(InvokeHeaders.chainDepth, String(deps.depth));
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
      const id = destinationId(record.requestContext.requestId, record.requestContext.condition === "Success" ? "onSuccess" : "onFailure");
      // A function destination is an async invocation of its own (with its function's async config).
      await deps.submitter.submit({
        service: destination.service,
        fn: destination.fn,
        qualifier: destination.qualifier,
        requestId: id,
        invocationId: id,
        payload: body,
        depth: deps.depth,
      });
      return "Succeeded";
    }
    case "unsupported":
      return `Failed: Nimbus cannot deliver to ${arn} (supported destinations: functions and NATS subjects)`;
  }
}
