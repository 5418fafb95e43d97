import { randomBytes, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { errors } from "@nimbus/protocol";
import { FrameReader, FrameWriter, MAX_FRAME_BYTES, MAX_HELLO_BYTES, type DirectAdvert, type FromInvoker, type InvokeReply } from "@nimbus/protocol/wire";
import type { Logger } from "@nimbus/telemetry";
import { handleSafely, isInvokeRequest, type Handler } from "./server.js";

export interface DirectServerOptions {
  /** Where to listen (`host`, `port` 0 for a free one). */
  host: string;
  port: number;
  /**
   * The host callers reach this node at; default: the listening host, or, when that is a wildcard,
   * this machine's first non-loopback IPv4 address (a container's, in Compose or Kubernetes), else its name.
   */
  advertiseHost?: string;
  node: string;
}

/** A caller that has not said hello within this long is hung up on. */
const HELLO_TIMEOUT_MS = 5_000;
/** Callers are services (gateways, async-queues, trigger routers), a handful per invoker. */
const MAX_CONNECTIONS = 1_024;

/** One caller's connection. */
interface Peer {
  socket: Socket;
  writer: FrameWriter<FromInvoker>;
  caller?: string;
}

/**
 * The invoker's direct side: callers holding a link send calls of the classes this node has
 * instances of straight here, over one persistent TCP connection each, in length-prefixed msgpack
 * frames — no message bus in between. A caller proves it may call by the token this node's
 * heartbeat carries (only those on the bus see it). Calls run through the same handler as those
 * from NATS; the classes this node holds are sent to every caller as they change.
 */
export class DirectServer {
  private readonly server: Server;
  private readonly peers = new Set<Peer>();
  private readonly classes = new Set<string>();
  private readonly token = randomBytes(24);
  private changes: { add: Set<string>; remove: Set<string> } | undefined;
  private inflight = 0;
  private accepting = true;

  constructor(
    private readonly options: DirectServerOptions,
    private readonly handle: Handler,
    private readonly logger: Logger,
  ) {
    this.server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 10_000 }, (socket) => this.accept(socket));
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /** Listens; resolves with what the heartbeat advertises. */
  async start(): Promise<DirectAdvert> {
    this.server.listen(this.options.port, this.options.host);
    await once(this.server, "listening");
    const { port } = this.server.address() as { port: number };
    const wildcard = this.options.host === "0.0.0.0" || this.options.host === "::";
    const host = this.options.advertiseHost ?? (wildcard ? (firstAddress() ?? hostname()) : this.options.host);
    const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    this.logger.info({ address }, "taking direct calls");
    return { address, token: this.token.toString("base64url") };
  }

  /** This node got its first (or lost its last) instance of a class: callers learn it within the turn. */
  setClassActive(cls: string, active: boolean): void {
    if (active === this.classes.has(cls)) return;
    if (active) this.classes.add(cls);
    else this.classes.delete(cls);
    if (!this.changes) {
      this.changes = { add: new Set(), remove: new Set() };
      setImmediate(() => this.announce());
    }
    const { add, remove } = this.changes;
    (active ? remove : add).delete(cls);
    (active ? add : remove).add(cls);
  }

  /** Tells callers to send nothing more, answers stragglers `busy`, waits for calls in flight, hangs up. */
  async drain(deadlineMs: number): Promise<void> {
    this.accepting = false;
    this.server.close();
    for (const peer of this.peers) if (peer.caller) peer.writer.send({ t: "draining" });
    const until = Date.now() + deadlineMs;
    while (this.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const peer of this.peers) await peer.writer.flush().catch(() => undefined);
    for (const peer of this.peers) peer.socket.destroy();
  }

  private announce(): void {
    const changes = this.changes;
    this.changes = undefined;
    if (!changes || (changes.add.size === 0 && changes.remove.size === 0)) return;
    const message: FromInvoker = { t: "classes", add: [...changes.add], remove: [...changes.remove] };
    for (const peer of this.peers) if (peer.caller) peer.writer.send(message);
  }

  private accept(socket: Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const peer: Peer = { socket, writer: new FrameWriter<FromInvoker>(socket) };
    this.peers.add(peer);
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    const reader = new FrameReader<unknown>((message) => this.receive(peer, message, reader, helloTimer), MAX_HELLO_BYTES);
    socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.logger.warn({ caller: peer.caller, remote: socket.remoteAddress, err: (err as Error).message }, "closing a direct link that sent an unreadable frame");
        socket.destroy();
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      clearTimeout(helloTimer);
      this.peers.delete(peer);
    });
  }

  private receive(peer: Peer, message: unknown, reader: FrameReader<unknown>, helloTimer: NodeJS.Timeout): void {
    const m = message as { t?: unknown; token?: unknown; caller?: unknown; id?: unknown; requestId?: unknown; traceparent?: unknown; req?: unknown } | null;
    if (peer.caller === undefined) {
      if (m?.t !== "hello" || typeof m.token !== "string" || typeof m.caller !== "string" || !this.tokenMatches(m.token)) {
        this.logger.warn({ remote: peer.socket.remoteAddress }, "refused a direct link without the right token");
        peer.socket.destroy();
        return;
      }
      clearTimeout(helloTimer);
      peer.caller = m.caller.slice(0, 200);
      reader.maxFrameBytes = MAX_FRAME_BYTES;
      peer.writer.send({ t: "welcome", node: this.options.node, classes: [...this.classes] });
      this.logger.debug({ caller: peer.caller }, "direct link open");
      return;
    }
    if (m?.t !== "call" || typeof m.id !== "number" || typeof m.requestId !== "string" || (m.traceparent !== undefined && typeof m.traceparent !== "string")) {
      this.logger.warn({ caller: peer.caller }, "closing a direct link that sent something other than a call");
      peer.socket.destroy();
      return;
    }
    const id = m.id;
    if (!isInvokeRequest(m.req)) {
      this.reply(peer, id, { s: "failed", error: errors.invalidArgument("malformed invocation request").toWire() });
      return;
    }
    if (!this.accepting) {
      this.reply(peer, id, { s: "busy", node: this.options.node });
      return;
    }
    const requestId = m.requestId;
    this.inflight++;
    void handleSafely(this.handle, m.req, { requestId, placement: false, ...(m.traceparent ? { traceparent: m.traceparent } : {}) }, this.logger).then((reply) => {
      this.inflight--;
      this.reply(peer, id, reply);
    });
  }

  private reply(peer: Peer, id: number, reply: InvokeReply): void {
    if (!peer.socket.destroyed) peer.writer.send({ t: "reply", id, reply });
  }

  private tokenMatches(token: string): boolean {
    const given = Buffer.from(token, "base64url");
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }
}

/** This machine's first non-loopback IPv4 address, if it has one. */
function firstAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}
