import { errors, type AsyncJob } from "@nimbus/protocol";
import type { HttpRequestInfo } from "@nimbus/protocol/wire";
import type { AsyncQueues } from "./queues.js";
import { newInvocationRecord, type InvocationStore } from "./records.js";

/** One asynchronous invocation to queue. */
export interface Submission {
  service: string;
  fn: string;
  /** As the caller gave it: resolved when the invocation runs. */
  qualifier: string;
  requestId: string;
  /** The caller's (or a deterministic) id; the request id when absent. */
  invocationId?: string | undefined;
  payload: Buffer;
  /** An HTTP trigger's request (`payload` is its body), run by the function's HTTP handler. */
  http?: HttpRequestInfo | undefined;
  traceparent?: string | undefined;
}

/**
 * Queues asynchronous invocations — for the gateway, and for triggers — once Redis has both the
 * job and its record. An id that exists already is reported (`duplicate`), never queued twice: a
 * client's retry, or an event delivered again, runs once. The one exception completes an attempt
 * cut off between recording the invocation and queueing it (a process that died, Redis gone
 * mid-way): that record is still `Enqueued` with no job, so the retry queues it.
 */
export class AsyncSubmitter {
  constructor(
    private readonly queues: AsyncQueues,
    private readonly records: InvocationStore,
    private readonly maxBacklog: number,
  ) {}

  async submit(s: Submission): Promise<{ invocationId: string; duplicate: boolean }> {
    const invocationId = s.invocationId ?? s.requestId;
    // Nobody can fill Redis: a function's queue takes a bounded number of waiting invocations.
    if ((await this.queues.backlog(s.service, s.fn)) >= this.maxBacklog) throw errors.asyncBacklogFull(s.service, s.fn, this.maxBacklog);
    const record = newInvocationRecord({ invocationId, requestId: s.requestId, service: s.service, fn: s.fn, qualifier: s.qualifier, enqueuedAt: Date.now(), payload: s.payload });
    let created: boolean;
    try {
      created = await this.records.create(record);
    } catch (err) {
      throw errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);
    }
    let queued = record;
    if (!created) {
      const existing = await this.records.get(s.service, s.fn, invocationId);
      const half = existing?.status === "Enqueued" && !(await this.queues.queue(s.service, s.fn).getJob(invocationId));
      if (!existing || !half) return { invocationId, duplicate: true };
      queued = existing;
    }
    const job: AsyncJob = {
      invocationId,
      requestId: queued.requestId,
      service: s.service,
      function: s.fn,
      qualifier: queued.qualifier,
      payload: s.payload.toString("base64"),
      ...(s.http ? { http: s.http } : {}),
      ...(s.traceparent ? { traceparent: s.traceparent } : {}),
      enqueuedAt: queued.startedTime,
      functionErrors: 0,
      platformErrors: 0,
    };
    try {
      await this.queues.enqueue(job, this.records.retentionMs);
    } catch (err) {
      // The record stays `Enqueued` without a job: a retry with the same id completes it.
      if (s.invocationId === undefined) await this.records.discard(record).catch(() => undefined);
      throw errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);
    }
    return { invocationId, duplicate: false };
  }
}
