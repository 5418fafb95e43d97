import { DelayedError, Worker, type Job } from "bullmq";
import { newInvocationRecord, type AsyncQueues, type AsyncSubmitter, type InvocationStore, type InvocationUpdate } from "@nimbus/async";
import type { FunctionCaller, Target } from "@nimbus/dispatch";
import {
  CHAIN_DEPTH_BAGGAGE,
  effectiveAsyncConfig,
  FINAL_STATUSES,
  isNimbusError,
  MAX_RETURN_PAYLOAD_BYTES,
  type AsyncConfigRecord,
  type AsyncJob,
  type DestinationRecord,
  type InvocationRecord,
  type InvocationStatus,
  type Naming,
} from "@nimbus/protocol";
import type { InvocationOutcome } from "@nimbus/protocol/wire";
import type { Mirror } from "@nimbus/store";
import { Attr, SpanKind, type Counter, type Logger } from "@nimbus/telemetry";
import type { NatsConnection } from "@nats-io/transport-node";
import { backoffMs } from "./backoff.js";
import { deliver, destinationRecord } from "./destinations.js";

export interface ProcessorDeps {
  naming: Naming;
  arn: { region: string; accountId: string };
  nc: NatsConnection;
  caller: FunctionCaller;
  records: InvocationStore;
  queues: AsyncQueues;
  /** Queues destination invocations (with their own functions' async configs). */
  submitter: AsyncSubmitter;
  asyncConfigs: Mirror<AsyncConfigRecord>;
  logger: Logger;
  retry: { baseMs: number; platformBaseMs: number; maxMs: number };
  metrics: AsyncMetrics;
  /** Redis's time (a RedisClock): events are stamped with it where they are queued, so ages are measured on one clock. */
  now: () => number;
  /** A run still going after this long is recorded Running at once; a quicker one with its end, in one write. */
  runningRecordAfterMs?: number;
}

/** What a worker lets its processor do to the queue it serves. */
export interface QueueControl {
  /** The function is at capacity: holds the queue back for a while (longer each time in a row). */
  throttled(): Promise<void>;
  /** An invocation ran: the next throttle starts short again. */
  ran(): void;
}

/** What the async queue counts (per function; bounded by what is deployed). */
export interface AsyncMetrics {
  /** Invocations that reached a final state, by status. */
  final: Counter<"service" | "function" | "status">;
  /** Retries scheduled, by kind (function error, platform error). */
  retries: Counter<"service" | "function" | "kind">;
  /** Destination records delivered or not. */
  destinations: Counter<"service" | "function" | "outcome">;
  /** Invocations put back in the queue because the function was at capacity. */
  throttled: Counter<"service" | "function">;
  /** Chains of invocations stopped at their depth limit. */
  loops: Counter<"service" | "function">;
}

/** Errors that say the function itself cannot run any more: the invocation is Invalid, not retried. */
const INVALID = new Set(["ServiceNotFound", "FunctionNotFound", "VersionNotFound", "AliasNotFound", "InvalidArgument"]);

/** The async config that applies: the qualifier's own, else LATEST's, else FC's defaults. */
export function asyncConfigFor(configs: Mirror<AsyncConfigRecord>, service: string, qualifier: string, fn: string) {
  return effectiveAsyncConfig((key) => configs.get(key)?.value, service, qualifier, fn);
}

/** Platform errors that mean "no room right now": the invocation waits in the queue, it did not run. */
const THROTTLED = new Set(["ResourceExhausted"]);

interface Ending {
  status: InvocationStatus;
  fields?: Partial<InvocationRecord>;
  detail?: string;
  /** The destination record's condition and response, when a destination applies. */
  destination?: { arn: string | undefined; condition: string; statusCode: number; functionError: string; response: string };
}

/** A BullMQ processor running queued asynchronous invocations. */
export function createProcessor(deps: ProcessorDeps): (job: Job<AsyncJob>, token: string | undefined, control: QueueControl) => Promise<void> {
  return (job, token, control) => new AsyncRun(deps, job, token, control).run();
}

/**
 * One attempt at one queued invocation: checks its age and its chain's depth, resolves the qualifier
 * as it stands now, invokes through the same path as synchronous calls, and decides: done, retry
 * (function errors count against maxAsyncRetryAttempts; platform errors retry with a longer backoff
 * until the event is too old), or give up. A function at capacity puts the invocation back in the
 * queue untouched: it waits there, and ends `Expired` if it waits past its age, never run.
 *
 * A stateful invocation's record is written only while this worker still holds the job's lock, so a
 * worker that lost its job (frozen, then taken over) records nothing more; only the worker that
 * recorded the final state delivers destinations. A quick run is recorded once, with its end; one
 * still going after `runningRecordAfterMs` shows Running meanwhile. Without `statefulInvocation` no
 * record is kept: the job's completion is the final state, and destinations are delivered before it.
 */
class AsyncRun {
  private readonly data: AsyncJob;
  private readonly stateful: boolean;
  private readonly lock: { key: string; token: string } | undefined;
  private readonly log: Logger;
  private readonly config: ReturnType<typeof asyncConfigFor>;
  private record: InvocationRecord | undefined;
  /** When the run started, while its Running event is not written yet. */
  private ranSince: { at: number; detail: string } | undefined;

  constructor(
    private readonly deps: ProcessorDeps,
    private readonly job: Job<AsyncJob>,
    private readonly token: string | undefined,
    private readonly control: QueueControl,
  ) {
    this.data = job.data;
    this.stateful = job.data.stateful !== false;
    this.lock = token ? { key: `${job.queueQualifiedName}:${job.id}:lock`, token } : undefined;
    this.log = deps.logger.child({ requestId: this.data.requestId, invocationId: this.data.invocationId, service: this.data.service, function: this.data.function });
    this.config = asyncConfigFor(deps.asyncConfigs, this.data.service, this.data.qualifier, this.data.function);
  }

  async run(): Promise<void> {
    const { data, deps } = this;
    if (this.stateful) {
      const record = await this.loadRecord();
      if (FINAL_STATUSES.has(record.status)) {
        // Finished before a crash (or stopped while queued); a destination may still be owed.
        if (record.pendingDestination) await this.deliver(record.pendingDestination);
        return;
      }
      if (record.status === "Stopping") return this.finish({ status: "Stopped", detail: "stopped before it ran again" });
    }

    if (deps.now() - data.enqueuedAt > this.config.maxAgeMs) {
      return this.finish({
        status: "Expired",
        fields: { invocationErrorMessage: `the event is older than maxAsyncEventAgeInSeconds (${this.config.maxAgeMs / 1000} s) and was not run` },
        destination: { arn: this.config.onFailure, condition: "EventAgeExceeded", statusCode: 0, functionError: "", response: "" },
      });
    }
    const depth = data.depth ?? 0;
    if (depth >= this.config.maxChainDepth && this.config.loop === "Terminate") {
      deps.metrics.loops.inc({ service: data.service, function: data.function });
      this.log.warn({ depth }, "a chain of invocations reached its limit; stopped as a recursive loop");
      return this.finish({
        status: "Failed",
        fields: {
          invocationErrorMessage: `recursive loop detected: this invocation is number ${depth + 1} of a chain of invocations (destinations, triggers, calls back into Nimbus), past the function's limit of ${this.config.maxChainDepth}; it was not run (set recursiveLoop: Allow in its async config to allow longer chains)`,
        },
        detail: JSON.stringify({ Error: "RecursiveLoopDetected" }),
        destination: { arn: this.config.onFailure, condition: "RecursiveLoopDetected", statusCode: 0, functionError: "", response: "" },
      });
    }

    let target: Target;
    try {
      target = deps.caller.resolve({ service: data.service, qualifier: data.qualifier, fn: data.function });
    } catch (err) {
      return this.finish({ status: "Invalid", fields: { invocationErrorMessage: isNimbusError(err) ? err.message : String(err) } });
    }

    let outcome: InvocationOutcome & { body: Uint8Array };
    this.ranSince = { at: Date.now(), detail: JSON.stringify({ attempt: data.functionErrors + data.platformErrors + 1 }) };
    const running = this.stateful ? setTimeout(() => void this.recordRunning(), deps.runningRecordAfterMs ?? 200) : undefined;
    try {
      outcome = await this.invoke(target);
    } catch (err) {
      return this.platformError(err);
    } finally {
      clearTimeout(running);
    }
    this.control.ran();
    const response = Buffer.from(outcome.body).toString("utf8");
    const ran = { instanceId: outcome.instanceId, durationMs: Math.round(outcome.durationMs), returnPayload: cut(response) };
    if (!outcome.errorType) {
      return this.finish({
        status: "Succeeded",
        fields: { ...ran, invocationErrorMessage: "" },
        destination: { arn: this.config.onSuccess, condition: "Success", statusCode: 200, functionError: "", response },
      });
    }
    return this.functionError(outcome.errorType, response, ran);
  }

  /** The stored record; one is made for an invocation that has none (its record expired, or an older destination). */
  private async loadRecord(): Promise<InvocationRecord> {
    const { data, deps } = this;
    this.record = await deps.records.get(data.service, data.function, data.invocationId);
    if (this.record) return this.record;
    this.record = newInvocationRecord({
      invocationId: data.invocationId,
      requestId: data.requestId,
      service: data.service,
      fn: data.function,
      qualifier: data.qualifier,
      enqueuedAt: data.enqueuedAt,
      payload: Buffer.from(data.payload, "base64"),
      http: data.http,
      depth: data.depth,
    });
    await deps.records.create(this.record);
    return this.record;
  }

  /** A run still going: shows Running now (and stops recording it with the end). */
  private async recordRunning(): Promise<void> {
    const since = this.ranSince;
    if (!since) return;
    this.ranSince = undefined;
    const saved = await this.deps.records.save({ ...this.who(), status: "Running" }, { lock: this.lock, detail: since.detail }).catch(() => "failed" as const);
    if (saved !== "saved") this.log.debug({ saved }, "the Running state was not recorded");
  }

  private async invoke(target: Target): Promise<InvocationOutcome & { body: Uint8Array }> {
    const { data, deps } = this;
    // A child of the span that queued it (the caller's trace, carried in the job).
    const { outcome } = await deps.caller.call({
      to: { service: data.service, qualifier: data.qualifier, fn: data.function },
      target,
      ...(data.http ? { kind: "http" as const, http: data.http } : { kind: "event" as const }),
      trigger: "async",
      body: Buffer.from(data.payload, "base64"),
      requestId: data.requestId,
      traceparent: data.traceparent,
      // The function's place in its chain: passed on with its tracing context, a call back continues it.
      baggage: { [CHAIN_DEPTH_BAGGAGE]: String(data.depth ?? 0) },
      // At capacity it waits in the queue, not in an invoker.
      noQueueWait: true,
      span: {
        name: `process ${target.service}/${target.fn}`,
        kind: SpanKind.CONSUMER,
        attributes: { [Attr.messagingSystem]: "bullmq", [Attr.messagingMessageId]: data.invocationId, [Attr.attempt]: data.functionErrors + data.platformErrors + 1 },
      },
    });
    return outcome;
  }

  /**
   * The platform could not run it. At capacity: back to the queue as it was (the queue holds back a
   * moment), to expire there if it waits too long. Anything else (no invoker, a node died): retried
   * within the event age, with a longer backoff.
   */
  private async platformError(err: unknown): Promise<void> {
    const { data } = this;
    if (await this.stopRequested()) return this.finish({ status: "Stopped", detail: "stopped on request" });
    const code = isNimbusError(err) ? err.code : "InternalServerError";
    const message = isNimbusError(err) ? err.message : String(err);
    if (INVALID.has(code)) return this.finish({ status: "Invalid", fields: { invocationErrorMessage: message } });
    if (THROTTLED.has(code)) {
      this.deps.metrics.throttled.inc({ service: data.service, function: data.function });
      // Shown Running meanwhile (a slow refusal): it is waiting again.
      if (this.stateful && !this.ranSince) await this.update({ status: "Enqueued", invocationErrorMessage: message }, JSON.stringify({ Error: code }));
      await this.control.throttled();
      throw Worker.RateLimitError();
    }
    const delay = backoffMs(data.platformErrors + 1, this.deps.retry.platformBaseMs, this.deps.retry.maxMs);
    if (this.deps.now() + delay - data.enqueuedAt > this.config.maxAgeMs) {
      return this.finish({
        status: "Failed",
        fields: { invocationErrorMessage: `${message} (not retried: the event would exceed maxAsyncEventAgeInSeconds)` },
        detail: JSON.stringify({ Error: code }),
        destination: { arn: this.config.onFailure, condition: "EventAgeExceeded", statusCode: 0, functionError: "", response: "" },
      });
    }
    this.log.warn({ code, message, delay }, "platform error; the async invocation will be retried");
    return this.retryLater(delay, { invocationErrorMessage: message }, JSON.stringify({ Error: code }), { ...data, platformErrors: data.platformErrors + 1 });
  }

  /** The function ran and failed: retried with backoff up to maxAsyncRetryAttempts, within the event age. */
  private async functionError(errorType: string, response: string, ran: Partial<InvocationRecord>): Promise<void> {
    const { data } = this;
    if (await this.stopRequested()) return this.finish({ status: "Stopped", fields: ran, detail: "stopped on request" });
    let message = response;
    try {
      message = String((JSON.parse(response) as { errorMessage?: unknown }).errorMessage ?? response);
    } catch {
      // not JSON: keep the text
    }
    const detail = JSON.stringify({ Error: errorType });
    const functionErrors = data.functionErrors + 1;
    if (functionErrors <= this.config.maxRetries) {
      const delay = backoffMs(functionErrors, this.deps.retry.baseMs, this.deps.retry.maxMs);
      if (this.deps.now() + delay - data.enqueuedAt <= this.config.maxAgeMs) {
        return this.retryLater(delay, { ...ran, invocationErrorMessage: message, alreadyRetriedTimes: functionErrors }, detail, { ...data, functionErrors });
      }
    }
    return this.finish({
      status: "Failed",
      fields: { ...ran, invocationErrorMessage: message, alreadyRetriedTimes: Math.min(functionErrors - 1, this.config.maxRetries) },
      detail,
      destination: {
        arn: this.config.onFailure,
        condition: functionErrors > this.config.maxRetries ? "RetriesExhausted" : "EventAgeExceeded",
        statusCode: 200,
        functionError: errorType,
        response,
      },
    });
  }

  /**
   * Records a non-final state under the job's lock (with the run's Running event when it was not
   * written yet). False when the record refused it (stopped meanwhile: then it is finished as
   * Stopped here); throws when the lock is lost, so BullMQ leaves the job to the worker that has it.
   * Without a record there is nothing to write.
   */
  private async update(fields: Partial<InvocationRecord> & { status: InvocationStatus }, detail?: string): Promise<boolean> {
    if (!this.stateful) return true;
    const saved = await this.deps.records.save({ ...this.who(), ...fields }, { lock: this.lock, detail, ranSince: this.takeRanSince() });
    if (saved === "lost") return this.lockLost(fields.status);
    if (saved === "saved") return true;
    if (await this.stopRequested()) await this.finish({ status: "Stopped", detail: "stopped on request" });
    return false;
  }

  /** The run's Running event if it still has to be written (once). */
  private takeRanSince(): { at: number; detail: string } | undefined {
    const since = this.ranSince;
    this.ranSince = undefined;
    return since;
  }

  /** This worker was too slow (frozen, cut off): another has the job now, and this run records nothing. */
  private lockLost(status: InvocationStatus): never {
    this.log.warn({ status }, "lost the job's lock to another worker; not recording this run");
    throw new Error("the job's lock was lost: another worker has it");
  }

  private async retryLater(delayMs: number, fields: Partial<InvocationRecord>, detail: string, next: AsyncJob): Promise<void> {
    const kind = next.platformErrors > this.data.platformErrors ? "platform" : "function";
    this.deps.metrics.retries.inc({ service: this.data.service, function: this.data.function, kind });
    if (!(await this.update({ ...fields, status: "Retrying" }, detail))) return;
    await this.job.updateData(next);
    await this.job.moveToDelayed(Date.now() + delayMs, this.token);
    throw new DelayedError();
  }

  private async stopRequested(): Promise<boolean> {
    if (!this.stateful) return false;
    const now = await this.deps.records.get(this.data.service, this.data.function, this.data.invocationId);
    return now?.status === "Stopping";
  }

  private who(): Pick<InvocationUpdate, "serviceName" | "functionName" | "invocationId"> {
    return { serviceName: this.data.service, functionName: this.data.function, invocationId: this.data.invocationId };
  }

  /** Records the final state (once, under the lock), then delivers the destination if one applies. */
  private async finish(ending: Ending): Promise<void> {
    const { data, deps } = this;
    const pending = ending.destination?.arn ? { arn: ending.destination.arn, record: destinationRecord(deps.arn, data, ending.destination, ending.status === "Expired" || ending.destination.condition === "RecursiveLoopDetected") } : undefined;
    if (this.stateful) {
      const saved = await deps.records.save(
        { ...this.who(), ...ending.fields, status: ending.status, endTime: Date.now(), ...(pending ? { pendingDestination: pending } : {}) },
        { lock: this.lock, detail: ending.detail, ranSince: this.takeRanSince() },
      );
      if (saved === "lost") return this.lockLost(ending.status);
      if (saved === "refused") {
        this.log.warn({ status: ending.status }, "the async invocation is already final; not recording it twice");
        return;
      }
    }
    deps.metrics.final.inc({ service: data.service, function: data.function, status: ending.status });
    if (pending) await this.deliver(pending);
    // Without a record, the marker of a caller-chosen id says the run ended (its job goes next).
    if (!this.stateful && data.marked) await deps.submitter.markDone(data.service, data.function, data.invocationId);
  }

  private async deliver(pending: { arn: string; record: DestinationRecord }): Promise<void> {
    const { data, deps } = this;
    const status = await deliver(pending.arn, pending.record, { nc: deps.nc, resolver: deps.caller, submitter: deps.submitter, depth: (data.depth ?? 0) + 1 }).catch(
      (err: unknown) => `Failed: ${(err as Error).message}`,
    );
    if (status !== "Succeeded") this.log.warn({ destination: pending.arn, status }, "destination not delivered");
    deps.metrics.destinations.inc({ service: data.service, function: data.function, outcome: status === "Succeeded" ? "delivered" : "failed" });
    if (this.stateful) await deps.records.setDestinationStatus(data.service, data.function, data.invocationId, status);
  }
}

/** A function result cut to what a record keeps. */
function cut(text: string): string {
  if (Buffer.byteLength(text) <= MAX_RETURN_PAYLOAD_BYTES) return text;
  return Buffer.from(text).subarray(0, MAX_RETURN_PAYLOAD_BYTES).toString("utf8");
}
