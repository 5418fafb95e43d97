import type { NatsConnection } from "@nats-io/nats-core";
import type { InvocationLogRecord, InvocationRecordBatch, Naming } from "@nimbus/protocol";
import type { FaasMetrics } from "@nimbus/telemetry";

const encoder = new TextEncoder();

/**
 * One record per invocation this node ran (or refused at the function's limit): counted in the
 * node's Prometheus FaaS series, and published in batches per function on
 * `<prefix>.invocations.<svc>.<fn>` for the logs stream (the invocations-log and metrics APIs
 * read them there, through the collector).
 */
export class InvocationRecorder {
  private readonly queued = new Map<string, InvocationRecordBatch>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly metrics: FaasMetrics,
    private readonly flushMs: number,
  ) {}

  record(record: InvocationLogRecord): void {
    const labels = { service: record.service, function: record.function, qualifier: record.qualifier, trigger: record.trigger };
    if (record.status === "Throttled") this.metrics.throttles.inc(labels);
    else {
      this.metrics.invocations.inc(labels);
      this.metrics.invokeDuration.observe(labels, record.durationMs / 1000);
      if (record.coldStart) {
        this.metrics.coldstarts.inc(labels);
        if (record.initDurationMs !== undefined) this.metrics.initDuration.observe(labels, record.initDurationMs / 1000);
      }
      if (record.errorType) this.metrics.errors.inc({ ...labels, error_type: record.errorType });
      if (record.timedOut) this.metrics.timeouts.inc(labels);
    }
    const subject = this.naming.subjects.invocationRecords(record.service, record.function);
    let batch = this.queued.get(subject);
    if (!batch) this.queued.set(subject, (batch = { service: record.service, function: record.function, records: [] }));
    batch.records.push(record);
    if (batch.records.length >= 500) this.send(subject, batch);
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [subject, batch] of this.queued) this.send(subject, batch);
  }

  private send(subject: string, batch: InvocationRecordBatch): void {
    this.queued.delete(subject);
    if (!this.nc.isClosed()) this.nc.publish(subject, encoder.encode(JSON.stringify(batch)));
  }
}
