import type { NatsConnection } from "@nats-io/transport-node";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { AsyncJob, Naming } from "@nimbus/protocol";

/** The one job name on every async queue. */
export const INVOKE_JOB = "invoke";

/** How often BullMQ itself retries a job whose processor threw unexpectedly. */
export const UNEXPECTED_FAILURE_ATTEMPTS = 3;

const encoder = new TextEncoder();

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

  constructor(
    private readonly redis: Redis,
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
  ) {}

  /** The queue of a function (created on first use; cheap: it shares this process's connection). */
  queue(service: string, fn: string): Queue {
    const name = this.naming.bull.asyncQueue(service, fn);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.redis, prefix: this.naming.bull.prefix });
      queue.on("error", () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Queues an invocation; resolves once Redis has it. The job id is the invocation id, so adding the
   * same invocation twice queues it once.
   */
  async enqueue(job: AsyncJob, retentionMs: number): Promise<void> {
    await this.queue(job.service, job.function).add(INVOKE_JOB, job, {
      jobId: job.invocationId,
      // Retries of function and platform errors are the processor's own (they follow the async
      // config); these attempts only cover the processor itself failing unexpectedly.
      attempts: UNEXPECTED_FAILURE_ATTEMPTS,
      backoff: { type: "exponential", delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: Math.ceil(retentionMs / 1000) },
    });
    await this.redis.sadd(this.naming.redis.asyncQueues, `${job.service}.${job.function}`);
    const wake: WakeMessage = { service: job.service, function: job.function };
    if (!this.nc.isClosed()) this.nc.publish(this.naming.subjects.asyncWake, encoder.encode(JSON.stringify(wake)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
    this.queues.clear();
  }
}
