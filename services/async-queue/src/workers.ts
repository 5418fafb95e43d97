import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Worker, type Job } from "bullmq";
import type { RedisClient } from "@nimbus/service-kit";
import type { AsyncQueues, InvocationStore, WakeMessage } from "@nimbus/async";
import { bullQueueKey, type AsyncJob, type BullQueueName, type Naming } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";
import type { QueueControl } from "./processor.js";
import { takeoverTimings } from "./takeover.js";

export interface WorkerOptions {
  concurrency: number;
  /** A job whose worker died or froze runs again on another replica within this long. */
  takeoverMs: number;
  idleMs: number;
  /** How often every known queue is checked for work without a worker (a wake-up lost with NATS down). */
  scanMs: number;
  /**
   * Also serve queues where a function's invocations waited before queues had hash tags (until they
   * are empty): on one Redis server, where an upgrade may have left some. Never on Redis Cluster.
   */
  drainLegacy: boolean;
  /** How long a queue whose function is at capacity is held back at first (doubling, in a row, to 16×). */
  throttleMs: number;
}

/** How many of a function's invocations may run at once, cluster-wide (undefined: no cap beyond the workers'). */
export type CapacityOf = (service: string, fn: string) => number | undefined;

interface Running {
  worker: Worker<AsyncJob>;
  queue: BullQueueName;
  service: string;
  fn: string;
  emptySince?: number;
}

const decoder = new TextDecoder();

/**
 * One BullMQ worker per function queue that has work, on every replica: started when a job is
 * queued (a NATS wake-up), or found at start-up or by a periodic scan (so a wake-up lost while NATS
 * was down delays work, never strands it); closed once its queue — delayed retries and jobs still
 * active on a dead replica included — has been empty for a while. A function's own
 * `maxAsyncConcurrency` caps it cluster-wide.
 */
export class WorkerManager {
  private readonly running = new Map<string, Running>();
  private starting = new Map<string, Promise<void>>();
  private wake: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private scanner: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly queues: AsyncQueues,
    private readonly records: InvocationStore,
    private readonly capacity: CapacityOf,
    private readonly processor: (job: Job<AsyncJob>, token: string | undefined, control: QueueControl) => Promise<void>,
    private readonly options: WorkerOptions,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.wake = this.nc.subscribe(this.naming.subjects.asyncWake, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const wake = JSON.parse(decoder.decode(msg.data)) as WakeMessage;
          if (typeof wake.service === "string" && typeof wake.function === "string") void this.ensure(wake.service, wake.function);
        } catch {
          // not a wake-up
        }
      },
    });
    // Queues that had work before this replica started (or while no replica ran).
    await this.scan();
    this.sweeper = setInterval(() => void this.closeIdle(), Math.max(100, Math.floor(this.options.idleMs / 3)));
    this.sweeper.unref();
    this.scanner = setInterval(() => void this.scan().catch((err: unknown) => this.logger.warn({ err }, "async queue scan failed")), this.options.scanMs);
    this.scanner.unref();
  }

  /** A function's capacity may have changed (its async, on-demand or function config): applies it. */
  capacityChanged(service: string, fn: string): void {
    for (const queue of this.queuesOf(service, fn)) if (this.running.has(bullQueueKey(queue))) void this.applyConcurrency(queue, service, fn);
  }

  private queuesOf(service: string, fn: string): BullQueueName[] {
    const current = this.naming.bull.asyncQueue(service, fn);
    return this.options.drainLegacy ? [current, this.naming.bull.legacyAsyncQueue(service, fn)] : [current];
  }

  /** Starts a worker for every known queue that has work and none here. */
  private async scan(): Promise<void> {
    for (const entry of await this.redis.smembers(this.naming.redis.asyncQueues)) {
      const { service, fn } = this.naming.parseKey.function(entry);
      for (const queue of this.queuesOf(service, fn)) {
        if (this.stopped) return;
        if (this.running.has(bullQueueKey(queue))) continue;
        if (await this.hasWork(queue)) await this.serve(queue, service, fn);
      }
    }
  }

  /** Functions with a worker on this replica (for health and tests). */
  get active(): string[] {
    return [...this.running.keys()];
  }

  /** The functions whose queues this replica serves. */
  queuesServed(): { service: string; fn: string }[] {
    return [...this.running.values()].map((r) => ({ service: r.service, fn: r.fn }));
  }

  /** Starts the worker of a function's queue if it is not running. */
  ensure(service: string, fn: string): Promise<void> {
    return this.serve(this.naming.bull.asyncQueue(service, fn), service, fn);
  }

  private serve(queue: BullQueueName, service: string, fn: string): Promise<void> {
    const name = bullQueueKey(queue);
    if (this.stopped || this.running.has(name)) return Promise.resolve();
    let pending = this.starting.get(name);
    if (!pending) {
      pending = this.startWorker(queue, service, fn).finally(() => this.starting.delete(name));
      this.starting.set(name, pending);
    }
    return pending;
  }

  private async startWorker(queue: BullQueueName, service: string, fn: string): Promise<void> {
    const name = bullQueueKey(queue);
    await this.applyConcurrency(queue, service, fn);
    const throttling = { inARow: 0 };
    const control: QueueControl = {
      // The whole queue waits (every replica's worker): its jobs stay queued, untouched, meanwhile.
      throttled: () => worker.rateLimit(this.options.throttleMs * 2 ** Math.min(throttling.inARow++, 4)),
      ran: () => {
        throttling.inARow = 0;
      },
    };
    const worker: Worker<AsyncJob> = new Worker<AsyncJob>(queue.name, (job, token) => this.processor(job, token, control), {
      connection: this.redis,
      prefix: queue.prefix,
      concurrency: this.options.concurrency,
      ...takeoverTimings(this.options.takeoverMs),
      // A job whose worker died is taken over, again and again if need be: at least once, never lost.
      maxStalledCount: 1_000,
      autorun: true,
    });
    worker.on("error", (err) => this.logger.warn({ err: err.message, queue: name }, "async worker error"));
    worker.on("failed", (job, err) => void this.failed(job, err));
    this.running.set(name, { worker, queue, service, fn });
    this.logger.debug({ queue: name }, "async worker started");
  }

  /** A job BullMQ gave up on (its processor threw unexpectedly): record it, never drop it silently. */
  private async failed(job: Job<AsyncJob> | undefined, err: Error): Promise<void> {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return; // BullMQ retries it
    this.logger.error({ err: err.message, invocationId: job.data.invocationId }, "async invocation failed in the queue");
    if (job.data.stateful === false) return;
    const record = await this.records.get(job.data.service, job.data.function, job.data.invocationId);
    if (record) await this.records.save({ ...record, status: "Failed", endTime: Date.now(), invocationErrorMessage: `the async queue failed: ${err.message}` });
  }

  /**
   * Caps how many of the function's invocations the replicas take at once to what it can run, so
   * the rest wait in the queue (where their age is checked) rather than in a worker.
   */
  private async applyConcurrency(ref: BullQueueName, service: string, fn: string): Promise<void> {
    const cap = this.capacity(service, fn);
    const queue = this.queues.named(ref);
    if (cap) await queue.setGlobalConcurrency(cap).catch(() => undefined);
    else await queue.removeGlobalConcurrency().catch(() => undefined);
  }

  private async hasWork(ref: BullQueueName): Promise<boolean> {
    const counts = await this.queues.named(ref).getJobCounts("wait", "active", "delayed", "prioritized", "paused");
    return Object.values(counts).some((n) => n > 0);
  }

  private async closeIdle(): Promise<void> {
    for (const [name, running] of this.running) {
      if (await this.hasWork(running.queue).catch(() => true)) {
        delete running.emptySince;
        continue;
      }
      running.emptySince ??= Date.now();
      if (Date.now() - running.emptySince < this.options.idleMs) continue;
      this.running.delete(name);
      await running.worker.close().catch(() => undefined);
      this.logger.debug({ queue: name }, "async worker closed (queue empty)");
      // A job queued while it closed must not wait for the next wake-up.
      if (await this.hasWork(running.queue).catch(() => false)) await this.serve(running.queue, running.service, running.fn);
    }
  }

  /** Stops taking jobs; lets running ones finish until the deadline, then leaves them to be taken over. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    clearInterval(this.scanner);
    this.wake?.unsubscribe();
    await Promise.all(this.starting.values());
    const closing = Promise.all([...this.running.values()].map((r) => r.worker.close()));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
    await Promise.race([closing, timer]);
    await Promise.all([...this.running.values()].map((r) => r.worker.close(true).catch(() => undefined)));
    this.running.clear();
  }
}
