import type { FastifyRequest } from "fastify";
import { newInvocationRecord, type AsyncQueues, type InvocationStore } from "@nimbus/async";
import type { Target } from "@nimbus/dispatch";
import { assertName, errors, type AsyncJob } from "@nimbus/protocol";

export const STATEFUL_ID_HEADER = "x-fc-stateful-async-invocation-id";

/**
 * Queues an asynchronous invocation and returns its id, once Redis has both the job and its record.
 * A caller-chosen id that exists already is FC's conflict error: a retried request never runs twice.
 * The one exception completes an earlier attempt cut off between recording the invocation and
 * queueing it (a gateway that died, Redis gone mid-way): that record is still `Enqueued` with no job,
 * so the retry queues it and is answered 202 — the invocation then runs exactly once.
 */
export async function enqueueAsync(
  deps: { queues: AsyncQueues; records: InvocationStore; maxBacklog: number },
  req: FastifyRequest,
  target: Target,
  body: Buffer,
  traceparent: string | undefined,
): Promise<string> {
  const header = req.headers[STATEFUL_ID_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  const invocationId = given === undefined || given === "" ? req.id : assertName("invocation", given);
  // A client cannot fill Redis: a function's queue takes a bounded number of waiting invocations.
  if ((await deps.queues.backlog(target.service, target.fn)) >= deps.maxBacklog) throw errors.asyncBacklogFull(target.service, target.fn, deps.maxBacklog);
  const record = newInvocationRecord({ invocationId, requestId: req.id, service: target.service, fn: target.fn, qualifier: target.qualifier, enqueuedAt: Date.now(), payload: body });
  let created: boolean;
  try {
    created = await deps.records.create(record);
  } catch (err) {
    throw errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);
  }
  let queued = record;
  if (!created) {
    const existing = await deps.records.get(target.service, target.fn, invocationId);
    const half = existing?.status === "Enqueued" && !(await deps.queues.queue(target.service, target.fn).getJob(invocationId));
    if (!existing || !half) throw errors.invocationExists(invocationId);
    queued = existing;
  }
  const job: AsyncJob = {
    invocationId,
    requestId: queued.requestId,
    service: target.service,
    function: target.fn,
    qualifier: queued.qualifier,
    payload: body.toString("base64"),
    ...(traceparent ? { traceparent } : {}),
    enqueuedAt: queued.startedTime,
    functionErrors: 0,
    platformErrors: 0,
  };
  try {
    await deps.queues.enqueue(job, deps.records.retentionMs);
  } catch (err) {
    // The record stays `Enqueued` without a job: a retry with the same id completes it.
    if (given === undefined || given === "") await deps.records.discard(record).catch(() => undefined);
    throw errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);
  }
  return invocationId;
}
