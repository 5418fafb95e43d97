import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import type { RedisClient } from "@nimbus/service-kit";
import { durationBucket, type InvocationRecordBatch, type LogBatch, type Naming } from "@nimbus/protocol";
import type { Counter, Logger } from "@nimbus/telemetry";

const COUNT = readFileSync(fileURLToPath(new URL("./lua/count-invocations-1.lua", import.meta.url)), "utf8");
const ACCOUNT = readFileSync(fileURLToPath(new URL("./lua/account-log-batch-3.lua", import.meta.url)), "utf8");
/** A function's share of the stream is tracked in chunks of this fraction of it (or of a minute's output). */
const CHUNKS_PER_SHARE = 16;
const CHUNK_MS = 60_000;
const CONSUMER = "collector";
/** How long "this batch was counted" is remembered: longer than any redelivery. */
const COUNTED_TTL_S = 3_600;

type RedisWithScripts = RedisClient & {
  countInvocations(marker: string, ttlS: number, retentionMs: number, n: number, ...args: (string | number)[]): Promise<number>;
  accountLogBatch(...args: (string | number)[]): Promise<number>;
};

export interface CollectorMetrics {
  batches: Counter<"kind">;
  lines: Counter;
  records: Counter;
  /** Purges of a function's oldest output that went over its share of the stream. */
  purges: Counter;
}

export interface CollectorOptions {
  retentionMs: number;
  ackWaitMs: number;
  /** What one function may hold of the stream (NIMBUS_LOG_MAX_BYTES_PER_FUNCTION). */
  maxBytesPerFunction: number;
}

/**
 * Follows the logs stream with a durable consumer every collector replica pulls from, so a
 * collector that is down misses nothing: it catches up from where the consumer stands. For each
 * batch of output lines it indexes, in Redis, the stream sequences holding each request's lines
 * (so a request's output is found without scanning); for each batch of invocation records it adds
 * the records to their functions' per-minute figures (counted once, even when delivered twice).
 * Both expire with the log retention. A batch is acknowledged once Redis has it.
 *
 * It also keeps each function within its share of the stream: every batch of output is charged to
 * its function, and a function over its share has its own oldest output purged from the stream (a
 * purge of its subject up to a sequence), so a function that floods its output pushes out only its
 * own, never another function's.
 */
export class Collector {
  private readonly redis: RedisWithScripts;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    redis: RedisClient,
    private readonly naming: Naming,
    private readonly options: CollectorOptions,
    private readonly metrics: CollectorMetrics,
    private readonly logger: Logger,
  ) {
    redis.defineCommand("countInvocations", { numberOfKeys: 1, lua: COUNT });
    redis.defineCommand("accountLogBatch", { numberOfKeys: 3, lua: ACCOUNT });
    this.redis = redis as RedisWithScripts;
  }

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const consumer = { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(this.options.ackWaitMs), deliver_policy: DeliverPolicy.All, max_ack_pending: 1_000 };
    try {
      await jsm.consumers.add(this.naming.streams.logs, consumer);
    } catch {
      await jsm.consumers.update(this.naming.streams.logs, CONSUMER, { ack_wait: consumer.ack_wait, max_ack_pending: consumer.max_ack_pending });
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  /** How many batches wait for a collector. */
  async pending(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.consumers.info(this.naming.streams.logs, CONSUMER);
    return info.num_pending + info.num_ack_pending;
  }

  private async run(): Promise<void> {
    const js = jetstream(this.nc);
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(this.naming.streams.logs, CONSUMER);
        this.messages = await consumer.consume({ max_messages: 256 });
        for await (const m of this.messages) {
          if (this.stopped) break;
          await this.handle(m);
        }
      } catch (err) {
        if (this.stopped) break;
        this.logger.warn({ err: (err as Error).message }, "logs consumer interrupted; resuming");
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    try {
      if (m.subject.startsWith(`${this.naming.prefix}.logs.`)) await this.indexLines(m);
      else if (m.subject.startsWith(`${this.naming.prefix}.invocations.`)) await this.countRecords(m);
      m.ack();
    } catch (err) {
      if (err instanceof SyntaxError) {
        this.logger.warn({ subject: m.subject, seq: m.seq }, "unreadable batch on the logs stream; skipped");
        m.term();
        return;
      }
      this.logger.warn({ err, seq: m.seq }, "cannot process a logs batch now; it will be delivered again");
      m.nak(1_000);
    }
  }

  private async indexLines(m: JsMsg): Promise<void> {
    const batch = m.json<LogBatch>();
    const requests = new Set<string>();
    for (const line of batch.lines) if (line.r) requests.add(line.r);
    if (requests.size > 0) {
      const pipeline = this.redis.pipeline();
      for (const requestId of requests) {
        const key = this.naming.redis.logIndex(batch.service, batch.function, requestId);
        pipeline.zadd(key, m.seq, String(m.seq)).pexpire(key, this.options.retentionMs);
      }
      const results = (await pipeline.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
    }
    await this.keepWithinShare(batch.service, batch.function, m);
    this.metrics.batches.inc({ kind: "logs" });
    this.metrics.lines.inc(batch.lines.length);
  }

  /** Charges a batch to its function; purges the function's oldest output when it holds more than its share. */
  private async keepWithinShare(service: string, fn: string, m: JsMsg): Promise<void> {
    const share = this.options.maxBytesPerFunction;
    const r = this.naming.redis;
    const purgeBelow = await this.redis.accountLogBatch(
      r.logUsage(service, fn),
      r.logUsageTotal(service, fn),
      r.logUsageCounted(service, fn, m.seq),
      m.seq,
      m.data.length,
      Date.now(),
      Math.max(1, Math.floor(share / CHUNKS_PER_SHARE)),
      CHUNK_MS,
      share,
      this.options.retentionMs,
      COUNTED_TTL_S,
    );
    if (purgeBelow > 0) {
      const jsm = await jetstreamManager(this.nc);
      const purged = await jsm.streams.purge(this.naming.streams.logs, { filter: m.subject, seq: purgeBelow });
      this.metrics.purges.inc();
      this.logger.debug({ service, function: fn, below: purgeBelow, purged: purged.purged }, "purged a function's oldest output: it held more than its share of the logs stream");
    }
  }

  private async countRecords(m: JsMsg): Promise<void> {
    const batch = m.json<InvocationRecordBatch>();
    // Per function: its figures and the batch's "counted" marker share its Redis Cluster slot.
    const byFunction = new Map<string, { service: string; fn: string; groups: number; args: (string | number)[] }>();
    for (const r of batch.records) {
      const flags = `${r.status === "Throttled" ? "t" : ""}${r.errorType && r.status !== "Throttled" ? "e" : ""}${r.coldStart ? "c" : ""}${r.timedOut ? "o" : ""}`;
      const minute = Math.floor(r.startTime / 60_000);
      const figures = [durationBucket(r.durationMs), Math.round(r.durationMs), flags || "-"];
      const key = `${r.service}.${r.function}`;
      const group = byFunction.get(key) ?? { service: r.service, fn: r.function, groups: 0, args: [] };
      byFunction.set(key, group);
      group.args.push(this.naming.redis.functionMinute(r.service, r.function, minute), ...figures);
      group.groups++;
      // Calls on an alias or a version are also counted for it (the metrics API's `qualifier`).
      if (r.qualifier && r.qualifier !== "LATEST") {
        group.args.push(this.naming.redis.qualifierMinute(r.service, r.function, r.qualifier, minute), ...figures);
        group.groups++;
      }
    }
    await Promise.all(
      [...byFunction.values()].map((g) => this.redis.countInvocations(this.naming.redis.countedBatch(g.service, g.fn, m.seq), COUNTED_TTL_S, this.options.retentionMs, g.groups, ...g.args)),
    );
    this.metrics.batches.inc({ kind: "invocations" });
    this.metrics.records.inc(batch.records.length);
  }
}
