import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { errors, type Naming } from "@nimbus/protocol";
import { decode, encode, InvokeHeaders, type InvokeReply, type InvokeRequest } from "@nimbus/protocol/wire";
import { TickBatch } from "@nimbus/service-kit";
import type { Logger } from "@nimbus/telemetry";
import type { ClassKey } from "../pool/class-pool.js";

export interface RequestMeta {
  requestId: string;
  traceparent?: string;
  /** Came through the placement subject: no instance of the class was known to be anywhere. */
  placement: boolean;
}

export type Handler = (req: InvokeRequest, meta: RequestMeta) => Promise<InvokeReply>;

/** Runs a request through the handler; a throw inside the invoker is logged and answered as FC's internal error. */
export function handleSafely(handle: Handler, req: InvokeRequest, meta: RequestMeta, logger: Logger): Promise<InvokeReply> {
  return handle(req, meta).catch((err: unknown) => {
    logger.error({ err, requestId: meta.requestId }, "invocation failed inside the invoker");
    return { s: "failed", error: errors.internal().toWire() } as InvokeReply;
  });
}

/** Requests in flight longer than this get an `accepted` (so a caller can tell a slow function from a dead node). */
const ACK_AFTER_MS = 50;

/** Checks the shape of an invocation request (from NATS or a direct link) before anything uses it. */
export function isInvokeRequest(value: unknown): value is InvokeRequest {
  const r = value as Partial<InvokeRequest> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.service === "string" &&
    typeof r.function === "string" &&
    typeof r.qualifier === "string" &&
    typeof r.cls === "string" &&
    (r.kind === "event" || r.kind === "http") &&
    typeof r.deadline === "number" &&
    typeof r.hops === "number" &&
    typeof r.maxResponseBytes === "number" &&
    (r.body === undefined || r.body instanceof Uint8Array) &&
    (r.bodyRef === undefined || typeof r.bodyRef === "string") &&
    (r.kind === "event" || (typeof r.http === "object" && r.http !== null))
  );
}

/**
 * The invoker's NATS side: the placement subject and its own node subject always, and the subject
 * of every instance class it holds instances of (queue group, so NATS spreads requests over the
 * invokers that have warm instances). Replies go to the caller's inbox: `accepted` when a request
 * takes longer than 50 ms, then the outcome.
 */
export class InvokeServer {
  private readonly classSubs = new Map<string, Subscription>();
  private readonly fixed: Subscription[] = [];
  private readonly inflight = new Map<Msg, { started: number; acked: boolean }>();
  private sweeper: NodeJS.Timeout | undefined;
  private accepting = true;
  /** Replies leave once per event-loop turn: one socket write for many under load. */
  private readonly outbox = new TickBatch();

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly node: string,
    private readonly handle: Handler,
    private readonly logger: Logger,
    private readonly cancel: (requestId: string) => boolean = () => false,
  ) {}

  start(): void {
    const queue = this.naming.queues.invokers;
    this.fixed.push(this.nc.subscribe(this.naming.subjects.invokePlace, { queue, callback: (err, msg) => { if (!err) this.receive(msg, true); } }));
    this.fixed.push(this.nc.subscribe(this.naming.subjects.invokeNode(this.node), { callback: (err, msg) => { if (!err) this.receive(msg, false); } }));
    this.fixed.push(
      this.nc.subscribe(this.naming.subjects.invokeCancel, {
        callback: (err, msg) => {
          const requestId = err ? undefined : msg.headers?.get(InvokeHeaders.requestId);
          if (requestId && this.cancel(requestId)) this.logger.info({ requestId }, "invocation stopped on request");
        },
      }),
    );
    this.sweeper = setInterval(() => this.ackSlow(), ACK_AFTER_MS);
    this.sweeper.unref();
  }

  /** Starts or stops taking a class's requests (this node got its first / lost its last instance). */
  setClassActive(key: ClassKey, active: boolean): void {
    const subject = this.naming.subjects.invokeClass(key.service, key.fn, key.cls);
    if (active && !this.classSubs.has(key.cls) && this.accepting) {
      this.classSubs.set(key.cls, this.nc.subscribe(subject, { queue: this.naming.queues.invokers, callback: (err, msg) => { if (!err) this.receive(msg, false); } }));
    } else if (!active) {
      this.classSubs.get(key.cls)?.unsubscribe();
      this.classSubs.delete(key.cls);
    }
  }

  /** Stops taking requests; resolves when those in flight are answered (or the deadline passes). */
  async drain(deadlineMs: number): Promise<void> {
    this.accepting = false;
    for (const sub of [...this.fixed, ...this.classSubs.values()]) sub.unsubscribe();
    this.classSubs.clear();
    const until = Date.now() + deadlineMs;
    while (this.inflight.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    clearInterval(this.sweeper);
  }

  private receive(msg: Msg, placement: boolean): void {
    if (!msg.reply) return;
    let req: unknown;
    try {
      req = decode(msg.data);
    } catch {
      req = undefined;
    }
    if (!isInvokeRequest(req)) {
      this.reply(msg, { s: "failed", error: errors.invalidArgument("malformed invocation request").toWire() });
      return;
    }
    const requestId = msg.headers?.get(InvokeHeaders.requestId) ?? "";
    const traceparent = msg.headers?.get(InvokeHeaders.traceparent) || undefined;
    this.inflight.set(msg, { started: Date.now(), acked: false });
    void handleSafely(this.handle, req, { requestId, placement, ...(traceparent ? { traceparent } : {}) }, this.logger).then((reply) => {
      this.inflight.delete(msg);
      this.reply(msg, reply);
    });
  }

  private reply(msg: Msg, reply: InvokeReply): void {
    const data = encode(reply);
    this.outbox.push(() => {
      try {
        msg.respond(data);
      } catch (err) {
        this.logger.warn({ err }, "cannot send an invocation reply");
      }
    });
  }

  private ackSlow(): void {
    const cutoff = Date.now() - ACK_AFTER_MS;
    for (const [msg, state] of this.inflight) {
      if (state.acked || state.started > cutoff) continue;
      state.acked = true;
      this.reply(msg, { s: "accepted", node: this.node });
    }
  }
}
