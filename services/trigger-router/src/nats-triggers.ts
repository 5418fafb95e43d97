import { createHash, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { isNimbusError, type NatsTriggerConfig, type Naming, type TriggerRecord } from "@nimbus/protocol";
import { InvokeHeaders } from "@nimbus/protocol/wire";
import type { Mirror } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import { natsCloudEvent } from "./events.js";
import type { TriggerInvoker } from "./invoke.js";

export interface NatsTriggerOptions {
  /** How long a durable message may go unacknowledged before JetStream redelivers it. */
  ackWaitMs: number;
  /** How long a durable trigger's stream keeps messages nobody took. */
  streamMaxAgeMs: number;
  replicas: number;
  /** Messages of one core (non-durable) trigger handled at once by this router; more are dropped. */
  maxInFlight: number;
}

/** One running trigger: its subscription or consumer, and what it was started with. */
interface Running {
  fingerprint: string;
  durable: boolean;
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** Headers on replies to request/reply messages and on failure records. */
/** The chain of invocations a message continues (a destination's, a function's publish): 0 from outside. */
function chainDepth(headers: MsgHdrs | undefined): number {
  const depth = Number.parseInt(headers?.get(InvokeHeaders.chainDepth) ?? "", 10);
  return Number.isInteger(depth) && depth > 0 ? Math.min(depth, 1_000_000) : 0;
}

export const ReplyHeaders = { errorType: "Nimbus-Error-Type", errorCode: "Nimbus-Error-Code", requestId: "Nimbus-Request-Id" } as const;

/**
 * NATS subject triggers. Without `durable`, a core subscription in a queue group shared by every
 * router: each message is handled by one router, at most once (a message published while no
 * router runs, or one a router held when it died, is gone). With `durable`, a JetStream stream of
 * the trigger's own and a durable pull consumer every router pulls from: a message is
 * acknowledged only once its invocation was queued (Async) or returned (Sync); a failure, or a
 * router that dies, has it redelivered, and after `maxDeliver` deliveries it is recorded on the
 * failure stream — never silently dropped. Sync triggers answer a message's reply subject with
 * the function's result (request/reply through a function; core triggers only: JetStream does
 * not keep reply subjects).
 */
export class NatsTriggers {
  private readonly running = new Map<string, Running>();
  private unwatch: (() => void) | undefined;
  /** Each trigger's changes, applied in order; one trigger's slow or failing stream holds up no other. */
  private readonly changes = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly triggers: Mirror<TriggerRecord>,
    private readonly invoker: TriggerInvoker,
    private readonly options: NatsTriggerOptions,
    private readonly logger: Logger,
  ) {}

  /** Resolves once every trigger there is has been tried once (those that failed keep being retried). */
  async start(): Promise<void> {
    await this.ensureFailureStream();
    this.unwatch = this.triggers.onChange((key, current) => {
      if (current && current.value.triggerType !== "nats") return;
      void this.schedule(key);
    });
    const tried: Promise<void>[] = [];
    for (const [key, entry] of this.triggers.withPrefix("")) if (entry.value.triggerType === "nats") tried.push(this.schedule(key));
    await Promise.all(tried);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.unwatch?.();
    await Promise.all(this.changes.values());
    await Promise.all([...this.running.values()].map((r) => r.stop()));
    this.running.clear();
  }

  /**
   * Brings a trigger in line with its record, after what is already queued for it. An attempt that
   * fails (JetStream did not answer, its stream could not be made) is retried, with backoff, until
   * it takes or the record changes again: a trigger is never left silently not listening. Resolves
   * after the first attempt.
   */
  private schedule(key: string): Promise<void> {
    let tried!: () => void;
    const firstAttempt = new Promise<void>((resolve) => (tried = resolve));
    const next = (this.changes.get(key) ?? Promise.resolve()).then(async () => {
      for (let attempt = 1; !this.stopped; attempt++) {
        try {
          await this.apply(key, this.record(key));
          return;
        } catch (err) {
          this.logger.warn({ err, trigger: key, attempt }, "cannot start or update a NATS trigger; trying again");
        } finally {
          tried();
        }
        await sleep(Math.min(30_000, 250 * 2 ** attempt), undefined, { signal: this.stopping.signal }).catch(() => undefined);
      }
    });
    this.changes.set(key, next);
    void next.finally(() => {
      if (this.changes.get(key) === next) this.changes.delete(key);
    });
    return firstAttempt;
  }

  /** The trigger's record as it is now (undefined once it is deleted). */
  private record(key: string): TriggerRecord | undefined {
    const value = this.triggers.get(key)?.value;
    return value?.triggerType === "nats" ? value : undefined;
  }

  /** Starts, restarts (its config changed) or stops a trigger. */
  private async apply(key: string, trigger: TriggerRecord | undefined): Promise<void> {
    const current = this.running.get(key);
    const fingerprint = trigger ? JSON.stringify([trigger.triggerConfig, trigger.qualifier]) : "";
    if (current && current.fingerprint === fingerprint) return;
    if (current) {
      await current.stop();
      this.running.delete(key);
    }
    const wasDurable = current !== undefined && current.durable;
    if (!trigger || (wasDurable && !(trigger.triggerConfig as NatsTriggerConfig).durable)) await this.removeStream(key);
    if (!trigger) return;
    if (this.stopped) return;
    const config = trigger.triggerConfig as NatsTriggerConfig;
    const running = config.durable ? await this.startDurable(key, trigger, config) : this.startCore(key, trigger, config);
    this.running.set(key, { fingerprint, durable: config.durable, stop: running });
    this.logger.info({ trigger: key, subject: config.subject, durable: config.durable }, "NATS trigger listening");
  }

  private server(): string {
    return this.nc.getServer();
  }

  /** The event a function gets for a message (a CloudEvent unless the trigger says otherwise). */
  private eventOf(config: NatsTriggerConfig, msg: { subject: string; data: Uint8Array; headers?: MsgHdrs | undefined }, id?: string): Buffer {
    if (!config.cloudEvents) return Buffer.from(msg.data);
    return Buffer.from(JSON.stringify(natsCloudEvent(msg, this.server(), id)));
  }

  private startCore(key: string, trigger: TriggerRecord, config: NatsTriggerConfig): () => Promise<void> {
    let inFlight = 0;
    let dropped = 0;
    const sub: Subscription = this.nc.subscribe(config.subject, {
      queue: config.queue ?? `nimbus-trigger.${key}`,
      callback: (err, msg) => {
        if (err) return;
        if (inFlight >= this.options.maxInFlight) {
          if (dropped++ % 1000 === 0) this.logger.warn({ trigger: key, dropped }, "NATS trigger overloaded: messages dropped (core NATS is at most once)");
          if (msg.reply) this.replyError(msg, "ResourceExhausted", "the trigger is overloaded; retry");
          return;
        }
        inFlight++;
        void this.handleCore(trigger, config, msg).finally(() => inFlight--);
      },
    });
    return async () => {
      await sub.drain().catch(() => undefined);
    };
  }

  private async handleCore(trigger: TriggerRecord, config: NatsTriggerConfig, msg: Msg): Promise<void> {
    const event = this.eventOf(config, msg);
    try {
      const traceparent = msg.headers?.get("traceparent") || undefined;
      if (config.invocationType === "Async") {
        const { invocationId } = await this.invoker.submit(trigger, event, "nats", { traceparent, depth: chainDepth(msg.headers) });
        if (msg.reply) this.reply(msg, encoder.encode(JSON.stringify({ invocationId })), undefined, invocationId);
        return;
      }
      const requestId = randomUUID();
      const outcome = await this.invoker.run(trigger, event, "nats", requestId, traceparent);
      if (msg.reply) this.reply(msg, outcome.body, outcome.errorType, requestId);
    } catch (err) {
      const code = isNimbusError(err) ? err.code : "InternalServerError";
      this.logger.warn({ trigger: `${trigger.serviceName}/${trigger.functionName}/${trigger.triggerName}`, code, err: (err as Error).message }, "NATS trigger message not handled");
      if (msg.reply) this.replyError(msg, code, (err as Error).message);
    }
  }

  private reply(msg: Msg, body: Uint8Array, errorType: string | undefined, requestId: string): void {
    const headers = natsHeaders();
    headers.set(ReplyHeaders.requestId, requestId);
    if (errorType) headers.set(ReplyHeaders.errorType, errorType);
    msg.respond(body, { headers });
  }

  private replyError(msg: Msg, code: string, message: string): void {
    const headers = natsHeaders();
    headers.set(ReplyHeaders.errorCode, code);
    msg.respond(encoder.encode(JSON.stringify({ ErrorCode: code, ErrorMessage: message })), { headers });
  }

  /** The JetStream stream of a durable trigger (its own: durable subjects never overlap). */
  private streamName(key: string): string {
    return `${this.naming.prefix.toUpperCase()}_TRG_${createHash("sha256").update(key).digest("hex").slice(0, 16)}`;
  }

  private async startDurable(key: string, trigger: TriggerRecord, config: NatsTriggerConfig): Promise<() => Promise<void>> {
    const jsm = await jetstreamManager(this.nc);
    const stream = this.streamName(key);
    const streamConfig = {
      name: stream,
      subjects: [config.subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(this.options.streamMaxAgeMs),
      num_replicas: this.options.replicas,
      description: `Nimbus durable trigger ${key}`,
    };
    try {
      await jsm.streams.add(streamConfig);
    } catch {
      // It exists (another router, an earlier run): make it match this trigger.
      await jsm.streams.update(stream, { subjects: [config.subject], max_age: streamConfig.max_age });
    }
    const consumer = {
      durable_name: "router",
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.options.ackWaitMs),
      max_deliver: config.maxDeliver,
      deliver_policy: DeliverPolicy.All,
    };
    try {
      await jsm.consumers.add(stream, consumer);
    } catch {
      await jsm.consumers.update(stream, "router", { ack_wait: consumer.ack_wait, max_deliver: consumer.max_deliver });
    }
    const js = jetstream(this.nc);
    let messages: ConsumerMessages | undefined;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        try {
          const c = await js.consumers.get(stream, "router");
          messages = await c.consume({ max_messages: 64 });
          for await (const m of messages) {
            if (stopped) break;
            await this.handleDurable(key, trigger, config, stream, m);
          }
        } catch (err) {
          if (!stopped) {
            this.logger.warn({ err: (err as Error).message, trigger: key }, "durable trigger consumer interrupted; resuming");
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      }
    })();
    return async () => {
      stopped = true;
      await messages?.close().catch(() => undefined);
      await loop;
    };
  }

  /** One durable message: acknowledged once handled, redelivered on failure, recorded after the last delivery. */
  private async handleDurable(key: string, trigger: TriggerRecord, config: NatsTriggerConfig, stream: string, m: JsMsg): Promise<void> {
    const id = `${stream}-${m.seq}`;
    const event = this.eventOf(config, { subject: m.subject, data: m.data, headers: m.headers }, id);
    const keepAlive = setInterval(() => m.working(), Math.max(500, Math.floor(this.options.ackWaitMs / 2)));
    try {
      if (config.invocationType === "Async") {
        // Named after the stream sequence: a redelivered message finds its invocation and is not queued twice.
        await this.invoker.submit(trigger, event, "nats", {
          invocationId: `nats_${m.seq}_${stream.toLowerCase()}`,
          traceparent: m.headers?.get("traceparent") || undefined,
          depth: chainDepth(m.headers),
        });
      } else {
        const outcome = await this.invoker.run(trigger, event, "nats", undefined, m.headers?.get("traceparent") || undefined);
        if (outcome.errorType) throw Object.assign(new Error(Buffer.from(outcome.body).toString("utf8").slice(0, 1000)), { code: outcome.errorType });
      }
      m.ack();
    } catch (err) {
      const code = (err as { code?: string }).code ?? "InternalServerError";
      const message = (err as Error).message;
      if (m.info.deliveryCount >= config.maxDeliver) {
        await this.recordFailure(key, trigger, m, code, message);
        m.term(`failed ${m.info.deliveryCount} times: ${code}`);
      } else {
        this.logger.warn({ trigger: key, seq: m.seq, delivery: m.info.deliveryCount, code, err: message }, "durable trigger message failed; it will be redelivered");
        m.nak(Math.min(30_000, 250 * 2 ** m.info.deliveryCount));
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** The failure stream keeps what a durable trigger could not deliver, with why. */
  private failureSubject(trigger: TriggerRecord): string {
    return `${this.naming.prefix}.triggers.failed.${trigger.serviceName}.${trigger.functionName}.${trigger.triggerName}`;
  }

  private async ensureFailureStream(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const name = `${this.naming.prefix.toUpperCase()}_TRIGGER_FAILURES`;
    await jsm.streams
      .add({ name, subjects: [`${this.naming.prefix}.triggers.failed.>`], storage: StorageType.File, max_age: nanos(7 * 24 * 3600_000), num_replicas: this.options.replicas })
      .catch(() => undefined);
  }

  private async recordFailure(key: string, trigger: TriggerRecord, m: JsMsg, code: string, message: string): Promise<void> {
    const record = {
      trigger: key,
      subject: m.subject,
      streamSequence: m.seq,
      deliveries: m.info.deliveryCount,
      errorCode: code,
      errorMessage: message,
      failedAt: new Date().toISOString(),
      data_base64: Buffer.from(m.data).toString("base64"),
    };
    this.logger.error({ trigger: key, seq: m.seq, deliveries: m.info.deliveryCount, code }, "durable trigger message failed for good; recorded on the failure stream");
    try {
      await jetstream(this.nc).publish(this.failureSubject(trigger), encoder.encode(JSON.stringify(record)));
    } catch (err) {
      this.logger.error({ err, record }, "cannot record a failed trigger message");
    }
  }

  private async removeStream(key: string): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    await jsm.streams.delete(this.streamName(key)).catch(() => undefined);
  }
}
