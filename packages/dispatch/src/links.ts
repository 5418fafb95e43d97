import { connect, type Socket } from "node:net";
import { FrameReader, FrameWriter, MAX_FRAME_BYTES, type FromInvoker, type InvokeReply, type InvokeRequest, type ToInvoker } from "@nimbus/protocol/wire";
import type { Heartbeat } from "@nimbus/service-kit";
import type { Logger } from "@nimbus/telemetry";

/** What a call sent to an invoker came to: its reply, or why there is none. */
export type Answer = InvokeReply | { s: "no-responders" } | { s: "lost"; reason: string };

/** A link that cannot connect is tried again after this long, doubling up to the maximum. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
/** TCP keepalive on a link: a peer host that vanished is noticed even with no call in flight. */
const KEEPALIVE_MS = 10_000;

/**
 * A persistent connection to one invoker, for calls of the classes it holds instances of. It is
 * usable once the invoker has welcomed it (with those classes, kept current after); it is not
 * picked once the invoker says it is draining; when it closes, every call on it ends `lost`.
 */
class InvokerLink {
  readonly classes = new Set<string>();
  private state: "connecting" | "open" | "draining" | "closed" = "connecting";
  private readonly calls = new Map<number, (answer: Answer) => void>();
  private nextId = 0;
  private readonly socket: Socket;
  private readonly writer: FrameWriter<ToInvoker>;

  constructor(
    readonly node: string,
    readonly advert: NonNullable<Heartbeat["direct"]>,
    caller: string,
    private readonly onClose: (link: InvokerLink, opened: boolean) => void,
    private readonly logger: Logger,
  ) {
    const { host, port } = splitAddress(advert.address);
    this.socket = connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    this.writer = new FrameWriter<ToInvoker>(this.socket);
    const reader = new FrameReader<FromInvoker>((message) => this.receive(message), MAX_FRAME_BYTES);
    this.socket.on("connect", () => this.writer.send({ t: "hello", token: advert.token, caller }));
    this.socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.close(`the invoker sent an unreadable frame: ${(err as Error).message}`);
      }
    });
    this.socket.on("error", (err) => this.close(err.message));
    this.socket.on("close", () => this.close("the connection closed"));
  }

  /** Open, welcomed and not draining. */
  get usable(): boolean {
    return this.state === "open";
  }

  /** Calls sent and not yet answered. */
  get outstanding(): number {
    return this.calls.size;
  }

  /** Sends a call; `answer` gets its reply, or `lost` if the link closes first. Returns a handle to forget it. */
  call(requestId: string, traceparent: string | undefined, req: InvokeRequest, answer: (a: Answer) => void): () => void {
    if (this.state === "closed") {
      answer({ s: "lost", reason: `the invoker node ${this.node} cannot be reached: its connection closed` });
      return () => undefined;
    }
    const id = this.nextId++;
    this.calls.set(id, answer);
    this.writer.send(traceparent ? { t: "call", id, requestId, traceparent, req } : { t: "call", id, requestId, req });
    return () => this.calls.delete(id);
  }

  close(reason: string): void {
    if (this.state === "closed") return;
    const opened = this.state !== "connecting";
    this.state = "closed";
    this.socket.destroy();
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const answer of calls) answer({ s: "lost", reason: `the invoker node running the function (${this.node}) stopped or cannot be reached: ${reason}` });
    if (opened) this.logger.info({ node: this.node, reason, lostCalls: calls.length }, "direct link to invoker closed");
    this.onClose(this, opened);
  }

  private receive(message: FromInvoker): void {
    switch (message.t) {
      case "reply": {
        const answer = this.calls.get(message.id);
        if (!answer) return;
        this.calls.delete(message.id);
        answer(message.reply);
        return;
      }
      case "welcome":
        if (message.node !== this.node) {
          this.close(`it says it is node ${message.node}, not ${this.node}`);
          return;
        }
        for (const cls of message.classes) this.classes.add(cls);
        if (this.state === "connecting") this.state = "open";
        this.logger.debug({ node: this.node, classes: this.classes.size }, "direct link to invoker open");
        return;
      case "classes":
        for (const cls of message.add) this.classes.add(cls);
        for (const cls of message.remove) this.classes.delete(cls);
        return;
      case "draining":
        if (this.state === "open") this.state = "draining";
        return;
    }
  }
}

export type { InvokerLink };

/**
 * The caller's direct links, one per invoker that advertises a direct address in its heartbeat.
 * Links open as heartbeats arrive, are replaced when a node comes back with a new address or
 * token, and close when the node is gone. A warm call goes to the link with the fewest calls
 * outstanding among those whose invoker holds the call's class.
 */
export class InvokerLinks {
  private readonly links = new Map<string, InvokerLink>();
  /** Per node: no new attempt before this time, and the wait after the next failure. */
  private readonly backoff = new Map<string, { until: number; nextMs: number }>();
  private stopped = false;

  constructor(
    private readonly caller: string,
    private readonly logger: Logger,
  ) {}

  /** Follows a heartbeat: opens (or replaces) the link to an invoker that takes direct calls. */
  observe(beat: Heartbeat): void {
    if (this.stopped || beat.service !== "invoker" || !beat.direct) return;
    const existing = this.links.get(beat.node);
    if (existing && existing.advert.address === beat.direct.address && existing.advert.token === beat.direct.token) return;
    existing?.close("the invoker now advertises another address");
    const wait = this.backoff.get(beat.node);
    if (!existing && wait && Date.now() < wait.until) return;
    this.links.set(beat.node, new InvokerLink(beat.node, beat.direct, this.caller, (link, opened) => this.closed(link, opened), this.logger));
  }

  /** The usable link with the fewest outstanding calls among invokers holding `cls`; ties are broken at random. */
  pick(cls: string): InvokerLink | undefined {
    let best: InvokerLink | undefined;
    let ties = 0;
    for (const link of this.links.values()) {
      if (!link.usable || !link.classes.has(cls)) continue;
      if (!best || link.outstanding < best.outstanding) {
        best = link;
        ties = 1;
      } else if (link.outstanding === best.outstanding && Math.random() * ++ties < 1) {
        best = link;
      }
    }
    return best;
  }

  /** The usable link to a node, if there is one. */
  forNode(node: string): InvokerLink | undefined {
    const link = this.links.get(node);
    return link?.usable ? link : undefined;
  }

  /** Closes links to nodes that `isGone` says stopped heartbeating (a host lost without a TCP reset). */
  prune(isGone: (node: string) => boolean): void {
    for (const link of this.links.values()) if (isGone(link.node)) link.close("the invoker stopped heartbeating");
    const now = Date.now();
    for (const [node, wait] of this.backoff) if (wait.until < now - RETRY_MAX_MS) this.backoff.delete(node);
  }

  /** How many links are usable now. */
  get open(): number {
    let n = 0;
    for (const link of this.links.values()) if (link.usable) n++;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const link of this.links.values()) link.close("the caller is stopping");
  }

  private closed(link: InvokerLink, opened: boolean): void {
    if (this.links.get(link.node) === link) this.links.delete(link.node);
    // A link that worked is tried again at the next heartbeat; one that never opened waits longer each time.
    if (opened) {
      this.backoff.delete(link.node);
      return;
    }
    const waitMs = this.backoff.get(link.node)?.nextMs ?? RETRY_MIN_MS;
    this.backoff.set(link.node, { until: Date.now() + waitMs, nextMs: Math.min(RETRY_MAX_MS, waitMs * 2) });
  }
}

/** `host:port`, `[v6]:port`. */
function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(address.slice(colon + 1)) };
}
