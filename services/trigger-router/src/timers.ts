import { createHash } from "node:crypto";
import { Queue, Worker, type Job } from "bullmq";
import type { RedisClient } from "@nimbus/service-kit";
import { parseTimerSchedule, type Naming, type TimerTriggerConfig, type TriggerRecord } from "@nimbus/protocol";
import type { Mirror } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import { timerEvent } from "./events.js";
import type { TriggerInvoker } from "./invoke.js";

const TICK_JOB = "tick";

interface TickData {
  service: string;
  fn: string;
  trigger: string;
}

/** The scheduler id of a timer trigger (names never contain '.'). */
function schedulerId(t: { serviceName: string; functionName: string; triggerName: string }): string {
  return `${t.serviceName}.${t.functionName}.${t.triggerName}`;
}

/**
 * Timer triggers as BullMQ job schedulers: one scheduler per enabled timer, kept in step with the
 * triggers bucket by every router (idempotently), and one worker per router taking the ticks. A
 * tick is one job (BullMQ names it by the scheduler and the tick's time), so however many routers
 * run, each tick fires once; after downtime the scheduler's one pending job fires once and the
 * schedule continues from now (missed ticks are not replayed). Each fire queues the function
 * asynchronously with FC's timer event, under an invocation id derived from the tick, so a tick
 * processed twice (a router died mid-way) still runs once.
 */
export class Timers {
  private readonly queue: Queue;
  private worker: Worker<TickData> | undefined;
  private unwatch: (() => void) | undefined;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisClient,
    private readonly naming: Naming,
    private readonly triggers: Mirror<TriggerRecord>,
    private readonly invoker: TriggerInvoker,
    private readonly logger: Logger,
  ) {
    this.queue = new Queue(naming.bull.timers.name, { connection: redis, prefix: naming.bull.timers.prefix });
    this.queue.on("error", (err) => this.logger.warn({ err: err.message }, "timer queue error"));
  }

  async start(): Promise<void> {
    await this.forgetLegacyQueue();
    await this.reconcileAll();
    this.unwatch = this.triggers.onChange((key, current) => {
      if (current && current.value.triggerType !== "timer") return;
      this.syncing = this.syncing.then(() => this.reconcile(key, current?.value)).catch((err: unknown) => this.logger.warn({ err, key }, "cannot update a timer"));
    });
    this.worker = new Worker<TickData>(this.naming.bull.timers.name, (job) => this.fire(job), {
      connection: this.redis,
      prefix: this.naming.bull.timers.prefix,
      concurrency: 16,
    });
    this.worker.on("error", (err) => this.logger.warn({ err: err.message }, "timer worker error"));
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.syncing;
    await this.worker?.close();
    await this.queue.close();
  }

  /**
   * Removes the timers' queue from where it was before it had a hash tag (one Redis server only):
   * its schedulers are made again here from the triggers, and a tick both fire runs once.
   */
  private async forgetLegacyQueue(): Promise<void> {
    if (this.redis.isCluster) return;
    const legacy = new Queue(this.naming.bull.legacyTimers.name, { connection: this.redis, prefix: this.naming.bull.legacyTimers.prefix });
    try {
      if ((await legacy.getJobSchedulersCount()) > 0 || Object.values(await legacy.getJobCounts()).some((n) => n > 0)) await legacy.obliterate({ force: true });
    } catch (err) {
      this.logger.warn({ err }, "cannot remove the timers' former queue");
    } finally {
      await legacy.close().catch(() => undefined);
    }
  }

  /** Makes the schedulers exactly the enabled timer triggers (run at start: triggers may have changed meanwhile). */
  private async reconcileAll(): Promise<void> {
    const wanted = new Map<string, TriggerRecord>();
    for (const { value } of this.triggers.values()) if (value.triggerType === "timer") wanted.set(schedulerId(value), value);
    for (const scheduler of await this.queue.getJobSchedulers(0, -1)) {
      const id = scheduler.key;
      if (!wanted.has(id)) await this.queue.removeJobScheduler(id);
    }
    for (const trigger of wanted.values()) await this.reconcile(schedulerId(trigger), trigger);
  }

  /** Brings one timer's scheduler in line with its trigger (KV key `svc.fn.trigger` = scheduler id). */
  private async reconcile(id: string, trigger: TriggerRecord | undefined): Promise<void> {
    const config = trigger?.triggerConfig as TimerTriggerConfig | undefined;
    if (!trigger || !config?.enable) {
      if (await this.queue.getJobScheduler(id)) {
        await this.queue.removeJobScheduler(id);
        this.logger.info({ timer: id }, "timer stopped");
      }
      return;
    }
    const schedule = parseTimerSchedule(config.cronExpression);
    const existing = await this.queue.getJobScheduler(id);
    const same =
      existing &&
      ("every" in schedule ? Number(existing.every) === schedule.every : existing.pattern === schedule.pattern && (existing.tz ?? undefined) === schedule.tz);
    if (same) return;
    const data: TickData = { service: trigger.serviceName, fn: trigger.functionName, trigger: trigger.triggerName };
    await this.queue.upsertJobScheduler(id, "every" in schedule ? { every: schedule.every } : { pattern: schedule.pattern, ...(schedule.tz ? { tz: schedule.tz } : { utc: true }) }, {
      name: TICK_JOB,
      data,
      opts: { removeOnComplete: true, removeOnFail: { age: 24 * 3600 } },
    });
    this.logger.info({ timer: id, schedule }, "timer scheduled");
  }

  /** One tick: the timer event, queued as an asynchronous invocation. */
  private async fire(job: Job<TickData>): Promise<void> {
    const { service, fn, trigger } = job.data;
    const record = this.triggers.get(this.naming.kvKeys.trigger(service, fn, trigger))?.value;
    const config = record?.triggerConfig as TimerTriggerConfig | undefined;
    if (!record || record.triggerType !== "timer" || !config?.enable) return; // deleted or paused since
    const tick = tickOf(job);
    const id = `timer_${tick}_${trigger.length <= 100 ? trigger : createHash("sha256").update(trigger).digest("hex").slice(0, 16)}`;
    const result = await this.invoker.submit(record, timerEvent(trigger, tick, config.payload), "timer", { invocationId: id });
    if (!result.duplicate) this.logger.debug({ timer: schedulerId(record), tick, invocationId: result.invocationId }, "timer fired");
  }
}

/** The time a scheduler's job is for: BullMQ names it `repeat:<scheduler>:<millis>`. */
function tickOf(job: Job): number {
  const millis = Number(String(job.id ?? "").split(":").at(-1));
  return Number.isFinite(millis) && millis > 0 ? millis : job.timestamp + (job.opts.delay ?? 0);
}
