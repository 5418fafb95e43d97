import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { headers as natsHeaders, nuid } from "@nats-io/nats-core";
import { errors, NimbusError, type Naming } from "@nimbus/protocol";
import { decode, encode, InvokeHeaders, type InvocationOutcome, type InvokeReply, type InvokeRequest } from "@nimbus/protocol/wire";
import { TickBatch, type PresenceTracker } from "@nimbus/service-kit";
import type { PayloadStore } from "@nimbus/store";
import type { Logger } from "@nimbus/telemetry";
import { InvokerLinks, type Answer, type InvokerLink } from "./links.js";

export interface DispatchOptions {
  /** An invoker must answer (or say it accepted) within this long, or it is presumed gone. */
  ackTimeoutMs: number;
  /** How often in-flight requests are checked against the liveness of the node running them. */
  livenessCheckMs: number;
  /**
   * Who is calling (`service/node`), as invokers log it; set to send warm calls over direct links
   * to the invokers that hold their class, unset to send every call through NATS.
   */
  direct?: { caller: string };
}

export interface DispatchMeta {
  requestId: string;
  traceparent?: string;
  /** Called when an invoker says the function changed since it was resolved: resolve again. */
  reresolve: () => Pick<InvokeRequest, "cls" | "versionId">;
}

interface Pending {
  resolve: (answer: Answer) => void;
  node?: string;
  /** When the node said it took the request. */
  acceptedAt: number;
  ackTimer?: NodeJS.Timeout;
  /** When the caller stops waiting whatever happens (the deadline plus a grace), checked with liveness. */
  giveUpAt: number;
  /** Takes a direct call off its link's books (it ended some other way: deadline, liveness). */
  forget?: () => void;
}

/** Where one attempt of a call goes: a direct link to an invoker, or a NATS subject. */
type Route = { link: InvokerLink } | { subject: string };

/** Times an answer may be `busy`, `redirect` or `stale` before the gateway gives up. */
const MAX_ATTEMPTS = 8;
const MIN_INLINE_BYTES = 64 * 1024;
/** An invoker whose main loop is this far behind is busy, not gone. */
const LAGGING_MS = 500;
const INLINE_HEADROOM = 64 * 1024;
/** How long past its deadline a call is still waited for (the invoker answers timeouts itself). */
const DEADLINE_GRACE_MS = 5_000;

/**
 * Sends invocations to invokers and waits for their answers. A call whose instance class an
 * invoker holds goes straight to it over a direct link (the one with the fewest calls outstanding);
 * the rest go through NATS: the class's subject, else placement. One inbox subscription serves
 * every NATS request (the reply subject carries a token), so an invoker can answer twice:
 * `accepted` with its node id, then the outcome. A request whose node stops heartbeating, or whose
 * link closes, fails at once instead of waiting for the function's timeout; a request nobody
 * subscribes to goes to placement, and with no invoker at all fails in milliseconds (NATS answers
 * "no responders").
 */
export class Dispatcher {
  private readonly inbox = `_INBOX.${nuid.next()}`;
  private readonly pending = new Map<string, Pending>();
  private sub: Subscription | undefined;
  private liveness: NodeJS.Timeout | undefined;
  private lastLivenessCheck = Date.now();
  private counter = 0;
  /** Publishes leave once per event-loop turn: one socket write for many requests under load. */
  private readonly outbox = new TickBatch();
  private readonly links: InvokerLinks | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly presence: PresenceTracker,
    private readonly payloads: PayloadStore,
    private readonly logger: Logger,
    private readonly options: DispatchOptions,
  ) {
    if (options.direct) {
      const links = new InvokerLinks(options.direct.caller, logger.child({ module: "direct" }));
      presence.onBeat((beat) => links.observe(beat));
      this.links = links;
    }
  }

  start(): void {
    this.sub = this.nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.receive(msg)) });
    this.lastLivenessCheck = Date.now();
    this.liveness = setInterval(() => this.checkLiveness(), this.options.livenessCheckMs);
    this.liveness.unref();
  }

  /** Asks every invoker to stop the invocation with this request id (the one running it kills its instance). */
  cancel(requestId: string): void {
    const headers = natsHeaders();
    headers.set(InvokeHeaders.requestId, requestId);
    this.nc.publish(this.naming.subjects.invokeCancel, new Uint8Array(0), { headers });
  }

  stop(): void {
    clearInterval(this.liveness);
    this.sub?.unsubscribe();
    this.links?.stop();
    for (const pending of this.pending.values()) pending.resolve({ s: "lost", reason: "the gateway is stopping" });
  }

  /** Largest body sent inline; bigger ones go through the payload store. */
  maxInlineBytes(): number {
    return Math.max(MIN_INLINE_BYTES, (this.nc.info?.max_payload ?? 1024 * 1024) - INLINE_HEADROOM);
  }

  /** Runs an invocation; resolves with what the function produced (its body fetched if parked). */
  async invoke(request: InvokeRequest, meta: DispatchMeta): Promise<InvocationOutcome & { body: Uint8Array }> {
    let req = request;
    if (req.body && req.body.length > this.maxInlineBytes()) {
      const ref = `req-${meta.requestId}`;
      await this.payloads.put(ref, req.body);
      const { body: _inline, ...rest } = req;
      req = { ...rest, bodyRef: ref };
    }
    let route = this.classRoute(req);
    const busy = new Set<string>();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const answer = await this.send(route, req, meta);
      switch (answer.s) {
        case "done": {
          const body = answer.bodyRef ? await this.payloads.take(answer.bodyRef) : (answer.body ?? new Uint8Array(0));
          return { ...answer, body };
        }
        case "no-responders":
          // No invoker holds an instance of this class: any invoker may start one. None at all: fail now.
          if ("subject" in route && route.subject === this.naming.subjects.invokePlace) throw errors.noInvoker();
          route = { subject: this.naming.subjects.invokePlace };
          break;
        case "busy": {
          // That node is full: try each other live invoker once, directly (the placement subject's
          // random pick could land on a full node again and again); when every one was full, wait
          // for a slot on the one that answered last; when even that fails, 429.
          if (req.lastResort) throw new NimbusError("ResourceExhausted", "no invoker had room to run the function; retry later");
          busy.add(answer.node);
          const others = this.presence.alive().filter((b) => b.service === "invoker" && b.ready && !busy.has(b.node));
          const next = others[Math.floor(Math.random() * others.length)];
          if (next) route = this.nodeRoute(next.node);
          else {
            route = this.nodeRoute(answer.node);
            req = { ...req, lastResort: true };
          }
          break;
        }
        case "redirect":
          route = this.nodeRoute(answer.node);
          req = { ...req, hops: req.hops + 1 };
          break;
        case "stale": {
          const fresh = meta.reresolve();
          req = { ...req, ...fresh };
          route = this.classRoute(req);
          break;
        }
        case "failed":
          throw NimbusError.fromWire(answer.error);
        case "lost":
          throw errors.unavailable(answer.reason);
        case "accepted":
          break;
      }
    }
    throw new NimbusError("ResourceExhausted", "no invoker had room to run the function; retry later");
  }

  /** Where a call of the request's class goes first: an invoker holding it, directly, else its NATS subject. */
  private classRoute(req: InvokeRequest): Route {
    const link = this.links?.pick(req.cls);
    return link ? { link } : { subject: this.naming.subjects.invokeClass(req.service, req.function, req.cls) };
  }

  /** Where a call for one node goes: its direct link when open, else its NATS subject. */
  private nodeRoute(node: string): Route {
    const link = this.links?.forNode(node);
    return link ? { link } : { subject: this.naming.subjects.invokeNode(node) };
  }

  private send(route: Route, req: InvokeRequest, meta: DispatchMeta): Promise<Answer> {
    return new Promise((resolve) => {
      const token = (this.counter++).toString(36);
      const finish = (answer: Answer) => {
        const pending = this.pending.get(token);
        if (!pending) return;
        clearTimeout(pending.ackTimer);
        pending.forget?.();
        this.pending.delete(token);
        resolve(answer);
      };
      const now = Date.now();
      const wait = Math.max(0, req.deadline - now);
      const giveUpAt = now + wait + DEADLINE_GRACE_MS;
      if ("link" in route) {
        // The node is known from the start, and a closed link says so at once: no ack to wait for.
        this.pending.set(token, { resolve: finish, node: route.link.node, acceptedAt: now, giveUpAt });
        const forget = route.link.call(meta.requestId, meta.traceparent, req, finish);
        const entry = this.pending.get(token);
        if (entry) entry.forget = forget;
        return;
      }
      const subject = route.subject;
      const headers = natsHeaders();
      headers.set(InvokeHeaders.requestId, meta.requestId);
      if (meta.traceparent) headers.set(InvokeHeaders.traceparent, meta.traceparent);
      const ackWait = Math.min(this.options.ackTimeoutMs, wait + 1_000);
      // No answer yet: lost, unless invokers say they are busy (their main loops lag): then it waits
      // on, up to the deadline, since the one that took it may just not have had a turn to say so.
      const noAnswer = () => {
        if (this.presence.maxLagMs("invoker") >= LAGGING_MS && Date.now() < req.deadline) {
          const entry = this.pending.get(token);
          if (entry) entry.ackTimer = setTimeout(noAnswer, ackWait);
          return;
        }
        finish({ s: "lost", reason: "no invoker answered in time" });
      };
      this.pending.set(token, { resolve: finish, acceptedAt: 0, ackTimer: setTimeout(noAnswer, ackWait), giveUpAt });
      const data = encode(req);
      this.outbox.push(() => {
        try {
          this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers });
        } catch (err) {
          finish({ s: "lost", reason: `cannot reach the message bus: ${(err as Error).message}` });
        }
      });
    });
  }

  private receive(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const pending = this.pending.get(token);
    if (!pending) return;
    if (msg.headers?.code === 503) {
      pending.resolve({ s: "no-responders" });
      return;
    }
    let reply: InvokeReply;
    try {
      reply = decode<InvokeReply>(msg.data);
    } catch (err) {
      this.logger.warn({ err }, "undecodable invocation reply");
      return;
    }
    if (reply.s === "accepted") {
      pending.node = reply.node;
      pending.acceptedAt = Date.now();
      clearTimeout(pending.ackTimer);
      return;
    }
    pending.resolve(reply);
  }

  /**
   * Fails requests past their deadline (and its grace), then those whose invoker stopped
   * heartbeating: the caller learns within seconds, not at the
   * timeout. A check that comes late (this process was itself too busy to run it on time) decides
   * nothing: heartbeats may be waiting unread. Otherwise it decides after this turn's I/O, so
   * heartbeats that arrived meanwhile count.
   */
  private checkLiveness(): void {
    const now = Date.now();
    for (const pending of this.pending.values()) {
      if (now > pending.giveUpAt) pending.resolve({ s: "lost", reason: "the invocation did not finish before its deadline" });
    }
    const late = now - this.lastLivenessCheck - this.options.livenessCheckMs;
    this.lastLivenessCheck = now;
    if (late > this.options.livenessCheckMs) return;
    setImmediate(() => {
      this.links?.prune((node) => this.presence.isGone("invoker", node, now));
      for (const pending of this.pending.values()) {
        if (pending.node && this.presence.isGone("invoker", pending.node, pending.acceptedAt)) {
          pending.resolve({ s: "lost", reason: `the invoker node running the function (${pending.node}) stopped` });
        }
      }
    });
  }
}
