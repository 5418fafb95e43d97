import type { NatsConnection } from "@nats-io/transport-node";
import { Queue } from "bullmq";
import { waitForReplicas, type RedisClient } from "@nimbus/service-kit";
import { bullQueueKey, type AsyncJob, type BullQueueName, type Naming } from "@nimbus/protocol";

/** The one job name on every async queue. */
export const INVOKE_JOB = "invoke";

/** How often BullMQ itself retries a job whose processor threw unexpectedly. */
export const UNEXPECTED_FAILURE_ATTEMPTS = 3;

const encoder = new TextEncoder();

const WAKE_INTERVAL_MS = 200;
const BACKLOG_TTL_MS = 1_000;
const REGISTER_INTERVAL_MS = 60_000;

/** What a wake-up message says: this function's queue has work. */
export interface WakeMessage {
  service: string;
  function: string;
}

/**
 * The per-function BullMQ queues asynchronous invocations wait in (one queue per function, so one
 * function's backlog or failures never hold another's back). Adding a job also records the queue
 * and wakes the async-queue replicas.
 */
export class AsyncQueues {
  private readonly queues = new Map<string, Queue>();
  /** When each queue was last announced by this process. */
  private readonly announced = new Map<string, number>();
  /** Each queue's backlog as last counted, and when. */
  private readonly backlogs = new Map<string, { count: number; at: number }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
  ) {}

  /** The queue of a function (created on first use; cheap: it shares this process's connection). */
  queue(service: string, fn: string): Queue {
    return this.named(this.naming.bull.asyncQueue(service, fn));
  }

  /** A queue by its BullMQ name (a function's queue, or where it was before it had a hash tag). */
  named(ref: BullQueueName): Queue {
    const key = bullQueueKey(ref);
    let queue = this.queues.get(key);
    if (!queue) {
      queue = new Queue(ref.name, { connection: this.redis, prefix: ref.prefix });
      queue.on("error", () => undefined);
      this.queues.set(key, queue);
    }
    return queue;
  }

  /**
   * Queues an invocation; resolves once Redis has it. The job id is the invocation id, so adding the
   * same invocation twice queues it once.
   */
  async enqueue(job: AsyncJob, retentionMs: number): Promise<void> {
    await this.enqueueMany(job.service, job.function, [job], retentionMs);
  }

  /** Queues invocations of one function in one MULTI (all or none); resolves once Redis has them. */
  async enqueueMany(service: string, fn: string, jobs: AsyncJob[], retentionMs: number): Promise<void> {
    const queue = this.queue(service, fn);
    const opts = {
      // Retries of function and platform errors are the processor's own (they follow the async
      // config); these attempts only cover the processor itself failing unexpectedly.
      attempts: UNEXPECTED_FAILURE_ATTEMPTS,
      backoff: { type: "exponential" as const, delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: Math.ceil(retentionMs / 1000) },
    };
    if (jobs.length === 1) await queue.add(INVOKE_JOB, jobs[0] as AsyncJob, { ...opts, jobId: (jobs[0] as AsyncJob).invocationId });
    else await queue.addBulk(jobs.map((job) => ({ name: INVOKE_JOB, data: job, opts: { ...opts, jobId: job.invocationId } })));
    await this.announce(service, fn);
  }

  /**
   * Waits until `replicas` Redis replicas have every write this process's queue connection made
   * (Redis's WAIT); resolves with how many did within `timeoutMs`.
   */
  async replicated(service: string, fn: string, replicas: number, timeoutMs: number): Promise<number> {
    // The queue's connection is the one it was given (BullMQ types it more narrowly).
    const client = (await this.queue(service, fn).client) as unknown as RedisClient;
    return waitForReplicas(client, `${bullQueueKey(this.naming.bull.asyncQueue(service, fn))}:id`, replicas, timeoutMs);
  }

  /**
   * Registers the queue (so a replica starting later finds it) and wakes the replicas, at most once
   * per WAKE_INTERVAL_MS per queue and process: a replica keeps a busy queue's worker running, and
   * a wake-up lost to a worker closing at that very moment is made up by the replicas' periodic scan.
   */
  private async announce(service: string, fn: string): Promise<void> {
    const name = this.naming.kvKeys.function(service, fn);
    const now = Date.now();
    const last = this.announced.get(name) ?? 0;
    if (now - last < WAKE_INTERVAL_MS) return;
    this.announced.set(name, now);
    if (now - last > REGISTER_INTERVAL_MS) await this.redis.sadd(this.naming.redis.asyncQueues, name);
    const wake: WakeMessage = { service, function: fn };
    if (!this.nc.isClosed()) this.nc.publish(this.naming.subjects.asyncWake, encoder.encode(JSON.stringify(wake)));
  }

  /**
   * How many invocations of a function wait to run (queued, delayed for a retry), counted at most
   * once per BACKLOG_TTL_MS per process — an approximate figure, enough for a limit.
   */
  async backlog(service: string, fn: string): Promise<number> {
    const name = this.naming.kvKeys.function(service, fn);
    const known = this.backlogs.get(name);
    if (known && Date.now() - known.at < BACKLOG_TTL_MS) return known.count;
    const counts = await this.queue(service, fn).getJobCounts("wait", "delayed", "prioritized", "paused");
    const count = Object.values(counts).reduce((n, c) => n + c, 0);
    this.backlogs.set(name, { count, at: Date.now() });
    return count;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.queues.clear();
  }
}
