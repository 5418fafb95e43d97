import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { RedisClient } from "@nimbus/service-kit";
import { errors, type Naming } from "@nimbus/protocol";

/** A message of the logs stream: its sequence and its JSON body. */
export interface StreamEntry<T> {
  seq: number;
  body: T;
}

export interface ScanLimits {
  /** Messages read at most (a page can end early with a token to go on from). */
  maxMessages: number;
  /** Time spent at most. */
  maxMs: number;
}

/**
 * Reads the logs stream for the API: a function's batches from a time or a sequence on, up to an
 * end time, within a budget (so a keyword search over days of output answers in pages instead of
 * holding a request for minutes); and single batches by sequence (what the collector's request
 * index points to).
 */
export class LogReader {
  private jsm: JetStreamManager | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly redis: RedisClient,
  ) {}

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc);
    return this.jsm;
  }

  /** The stream sequences the collector indexed for a request, oldest first. */
  async requestSequences(service: string, fn: string, requestId: string): Promise<number[]> {
    const seqs = await this.redis.zrange(this.naming.redis.logIndex(service, fn, requestId), 0, -1).catch((err: unknown) => {
      throw errors.unavailable("the log index (Redis) is unreachable; retry", err);
    });
    return seqs.map(Number).filter(Number.isFinite);
  }

  /** One batch by sequence (undefined when the retention has removed it). */
  async get<T>(seq: number): Promise<StreamEntry<T> | undefined> {
    const jsm = await this.manager();
    const stored = await jsm.streams.getMessage(this.naming.streams.logs, { seq }).catch(() => null);
    return stored ? { seq: stored.seq, body: stored.json<T>() } : undefined;
  }

  /**
   * A subject's batches from `from` (a time, or the sequence a token named) until `untilMs`, within
   * `limits`; `next` is the sequence to go on from when the scan stopped early.
   */
  async *scan<T>(subject: string, from: { time: number } | { seq: number }, untilMs: number | undefined, limits: ScanLimits): AsyncGenerator<StreamEntry<T>, { next?: number }> {
    const jsm = await this.manager();
    const last = await jsm.streams.getMessage(this.naming.streams.logs, { last_by_subj: subject }).catch(() => null);
    if (!last) return {};
    const consumer = await jetstream(this.nc).consumers.get(this.naming.streams.logs, {
      filter_subjects: subject,
      ...("seq" in from
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(from.time).toISOString() }),
    });
    const deadline = Date.now() + limits.maxMs;
    let read = 0;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: Math.min(256, limits.maxMessages - read), expires: 1_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        read++;
        if (untilMs !== undefined && m.info.timestampNanos / 1e6 > untilMs) return {};
        try {
          yield { seq: m.seq, body: m.json<T>() };
        } catch {
          // an unreadable batch: skip it
        }
        if (m.seq >= last.seq) return {};
        if (read >= limits.maxMessages || Date.now() > deadline) return { next: m.seq + 1 };
      }
      if (got === 0) return {};
    }
  }
}
