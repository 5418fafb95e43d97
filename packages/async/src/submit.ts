import { waitForReplicas, type RedisClient } from "@nimbus/service-kit";
import { errors, type AsyncJob, type EffectiveAsyncConfig, type Naming } from "@nimbus/protocol";
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
  /** Its place in a chain of invocations (0, or absent, from outside). */
  depth?: number | undefined;
  /** A redrive: the invocation this one runs again. */
  redriveOf?: string | undefined;
  /** Keeps a record whatever the function's async config says (a redrive, to be followed). */
  stateful?: boolean | undefined;
}

export interface SubmitterOptions {
  /** The most invocations a function's queue holds waiting; more are refused. */
  maxBacklog: number;
  /** The async config that applies to a call (whether it keeps a record). */
  asyncConfig: (service: string, qualifier: string, fn: string) => Pick<EffectiveAsyncConfig, "stateful">;
  /** The time an invocation is stamped with (a RedisClock's: the one its age is checked against). */
  now: () => number;
  /**
   * With a replicated Redis: how many replicas must have an invocation before it is acknowledged,
   * and how long to wait for them (Redis's WAIT); past that the caller is told to retry (503), so an
   * acknowledged invocation survives the primary's loss and a failover.
   */
  replicas?: { count: number; timeoutMs: number } | undefined;
}

interface Pending {
  s: Submission;
  invocationId: string;
  stateful: boolean;
  /** Set when it turned out to be a duplicate (or failed): it is answered and not queued. */
  answered?: boolean;
  /** A record (or id marker) this attempt created, to remove if its job cannot be queued. */
  created?: boolean;
  enqueuedAt: number;
  resolve: (result: { invocationId: string; duplicate: boolean }) => void;
  reject: (err: unknown) => void;
}

const unavailable = (err: unknown) => errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);

/**
 * Queues asynchronous invocations — for the gateway, and for triggers — once Redis has the job (and
 * its record, for a function whose async config asks for `statefulInvocation`; others keep none,
 * as on FC). What is submitted in one event-loop turn goes to Redis together: the records in one
 * write, then each function's jobs in one MULTI, so Redis sees a few round trips per batch rather
 * than per invocation; each caller is still answered only once its own invocation is durable.
 *
 * An id that exists already is reported (`duplicate`), never queued twice: a client's retry, or an
 * event delivered again, runs once (without a record, a caller-chosen id leaves a small marker for
 * the retention period: `pending`, `queued` once its job is, `done` once its run ended). The one
 * exception completes an attempt cut off between recording the invocation and queueing it (a
 * process that died, Redis gone mid-way): that record is still `Enqueued` (the marker still
 * `pending`) with no job, so the retry queues it.
 */
export class AsyncSubmitter {
  private batch: Pending[] = [];

  constructor(
    private readonly queues: AsyncQueues,
    private readonly records: InvocationStore,
    private readonly redis: RedisClient,
    private readonly naming: Naming,
    private readonly options: SubmitterOptions,
  ) {}

  async submit(s: Submission): Promise<{ invocationId: string; duplicate: boolean }> {
    // Nobody can fill Redis: a function's queue takes a bounded number of waiting invocations.
    if ((await this.queues.backlog(s.service, s.fn)) >= this.options.maxBacklog) throw errors.asyncBacklogFull(s.service, s.fn, this.options.maxBacklog);
    const stateful = s.stateful ?? this.options.asyncConfig(s.service, s.qualifier, s.fn).stateful;
    return new Promise((resolve, reject) => {
      this.batch.push({ s, invocationId: s.invocationId ?? s.requestId, stateful, enqueuedAt: this.options.now(), resolve, reject });
      if (this.batch.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    // 1. Records (or markers) first, all in one write: a job never runs without the record it updates.
    await Promise.all(batch.map((p) => this.claim(p)));
    const byQueue = new Map<string, Pending[]>();
    for (const p of batch) {
      if (p.answered) continue;
      const name = `${p.s.service}.${p.s.fn}`;
      byQueue.set(name, [...(byQueue.get(name) ?? []), p]);
    }
    // 2. Each function's jobs in one MULTI.
    await Promise.all([...byQueue.values()].map((pending) => this.queue(pending)));
  }

  /** Records the invocation (or its caller-chosen id); marks it answered when it is a duplicate. */
  private async claim(p: Pending): Promise<void> {
    const { s } = p;
    try {
      if (p.stateful) {
        const record = newInvocationRecord({ ...s, invocationId: p.invocationId, enqueuedAt: p.enqueuedAt });
        if (await this.records.create(record)) return void (p.created = true);
        const existing = await this.records.get(s.service, s.fn, p.invocationId);
        const half = existing?.status === "Enqueued" && !(await this.queues.queue(s.service, s.fn).getJob(p.invocationId));
        if (!existing || !half) return this.answer(p, true);
        p.enqueuedAt = existing.startedTime;
        return;
      }
      if (s.invocationId === undefined) return; // a fresh request id: nothing to deduplicate
      const marker = this.naming.redis.invocationSeen(s.service, s.fn, p.invocationId);
      if ((await this.redis.set(marker, "pending", "PX", this.records.retentionMs, "NX")) === "OK") return void (p.created = true);
      const seen = await this.redis.get(marker);
      const half = seen === "pending" && !(await this.queues.queue(s.service, s.fn).getJob(p.invocationId));
      if (!half) return this.answer(p, true);
    } catch (err) {
      p.answered = true;
      p.reject(unavailable(err));
    }
  }

  private async queue(pending: Pending[]): Promise<void> {
    const first = pending[0] as Pending;
    const jobs = pending.map((p) => this.jobOf(p));
    try {
      await this.queues.enqueueMany(first.s.service, first.s.fn, jobs, this.records.retentionMs);
      const replicas = this.options.replicas;
      if (replicas && replicas.count > 0) {
        const [jobsOn, recordsOn] = await Promise.all([
          this.queues.replicated(first.s.service, first.s.fn, replicas.count, replicas.timeoutMs),
          pending.some((p) => p.created) ? waitForReplicas(this.redis, this.naming.redis.invocationIndex(first.s.service, first.s.fn), replicas.count, replicas.timeoutMs) : replicas.count,
        ]);
        if (Math.min(jobsOn, recordsOn) < replicas.count) {
          // Queued on the primary, not yet on enough replicas: the caller retries (a retry under the
          // same id runs it once; its record or marker, and its job, are found).
          for (const p of pending) p.reject(errors.unavailable(`the async queue (Redis) has the invocation on ${Math.min(jobsOn, recordsOn)} of the ${replicas.count} replicas it must reach; retry`));
          return;
        }
      }
    } catch (err) {
      // The record stays `Enqueued` without a job: a retry with the same id completes it; a request
      // id nobody will retry is cleaned up.
      await Promise.all(pending.map((p) => (p.created && p.s.invocationId === undefined ? this.unclaim(p) : undefined)));
      for (const p of pending) p.reject(unavailable(err));
      return;
    }
    for (const p of pending) {
      if (!p.stateful && p.created) void this.redis.set(this.naming.redis.invocationSeen(p.s.service, p.s.fn, p.invocationId), "queued", "KEEPTTL", "XX").catch(() => undefined);
      this.answer(p, false);
    }
  }

  private jobOf(p: Pending): AsyncJob {
    const { s } = p;
    return {
      invocationId: p.invocationId,
      requestId: s.requestId,
      service: s.service,
      function: s.fn,
      qualifier: s.qualifier,
      payload: s.payload.toString("base64"),
      ...(s.http ? { http: s.http } : {}),
      ...(s.traceparent ? { traceparent: s.traceparent } : {}),
      enqueuedAt: p.enqueuedAt,
      functionErrors: 0,
      platformErrors: 0,
      stateful: p.stateful,
      ...(s.depth ? { depth: s.depth } : {}),
      ...(s.redriveOf ? { redriveOf: s.redriveOf } : {}),
      ...(!p.stateful && s.invocationId !== undefined ? { marked: true } : {}),
    };
  }

  /**
   * Marks a caller-chosen id's run as ended (before its job completes and is removed): a delivery
   * of the same event after that finds `done`, not a `pending` marker without a job, and is not
   * queued again.
   */
  async markDone(service: string, fn: string, id: string): Promise<void> {
    await this.redis.set(this.naming.redis.invocationSeen(service, fn, id), "done", "KEEPTTL", "XX");
  }

  private async unclaim(p: Pending): Promise<void> {
    if (!p.stateful) return;
    await this.records.discard(newInvocationRecord({ ...p.s, invocationId: p.invocationId, enqueuedAt: p.enqueuedAt })).catch(() => undefined);
  }

  private answer(p: Pending, duplicate: boolean): void {
    p.answered = true;
    p.resolve({ invocationId: p.invocationId, duplicate });
  }
}
