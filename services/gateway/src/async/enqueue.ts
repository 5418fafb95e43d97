import type { FastifyRequest } from "fastify";
import type { AsyncSubmitter } from "@nimbus/async";
import type { Target } from "@nimbus/dispatch";
import { assertName, errors } from "@nimbus/protocol";

export const STATEFUL_ID_HEADER = "x-fc-stateful-async-invocation-id";

/**
 * Queues an asynchronous invocation and returns its id, once Redis has it. A caller-chosen id that
 * exists already is FC's conflict error: a retried request never runs twice.
 */
export async function enqueueAsync(submitter: AsyncSubmitter, req: FastifyRequest, target: Target, body: Buffer, traceparent: string | undefined): Promise<string> {
  const header = req.headers[STATEFUL_ID_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  const invocationId = given === undefined || given === "" ? undefined : assertName("invocation", given);
  const result = await submitter.submit({ service: target.service, fn: target.fn, qualifier: target.qualifier, requestId: req.id, invocationId, payload: body, traceparent });
  if (result.duplicate) throw errors.invocationExists(result.invocationId);
  return result.invocationId;
}
