import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Naming } from "@nimbus/protocol";

/** What a service says about itself every few seconds. */
export interface Heartbeat {
  service: string;
  node: string;
  ready: boolean;
  startedAt: string;
  pid: number;
  /** How often this node beats; it is gone after three missed beats. */
  intervalMs: number;
}

export const HEARTBEAT_INTERVAL_MS = 2_000;
/** A node not heard from for this long is gone. */
export const HEARTBEAT_EXPIRY_MS = 3 * HEARTBEAT_INTERVAL_MS;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Publishes this process's heartbeat periodically, and at once when someone probes. */
export class PresencePublisher {
  private timer: NodeJS.Timeout | undefined;
  private probes: Subscription | undefined;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly identity: { service: string; node: string },
    private readonly isReady: () => boolean,
    private readonly intervalMs = HEARTBEAT_INTERVAL_MS,
  ) {}

  start(): void {
    this.publish();
    this.timer = setInterval(() => this.publish(), this.intervalMs);
    this.timer.unref();
    this.probes = this.nc.subscribe(this.naming.subjects.presenceProbe, { callback: () => this.publish() });
  }

  stop(): void {
    clearInterval(this.timer);
    this.probes?.unsubscribe();
  }

  private publish(): void {
    if (this.nc.isClosed()) return;
    const beat: Heartbeat = { ...this.identity, ready: this.isReady(), startedAt: this.startedAt, pid: process.pid, intervalMs: this.intervalMs };
    this.nc.publish(this.naming.subjects.presence, encoder.encode(JSON.stringify(beat)));
  }
}

/** Follows every service's heartbeats: who is alive, and ready, right now. */
export class PresenceTracker {
  private readonly seen = new Map<string, { beat: Heartbeat; at: number }>();
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly now: () => number = Date.now,
  ) {}

  /** Subscribes, then asks everyone to announce themselves (once the subscription is on the server). */
  start(): void {
    this.sub = this.nc.subscribe(this.naming.subjects.presence, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const beat = JSON.parse(decoder.decode(msg.data)) as Heartbeat;
          if (typeof beat.service === "string" && typeof beat.node === "string") {
            this.seen.set(`${beat.service}/${beat.node}`, { beat, at: this.now() });
          }
        } catch {
          // not a heartbeat; ignore
        }
      },
    });
    void this.nc.flush().then(
      () => this.probe(),
      () => undefined,
    );
  }

  /** Asks every service to publish its heartbeat now. */
  probe(): void {
    if (!this.nc.isClosed()) this.nc.publish(this.naming.subjects.presenceProbe);
  }

  /** Heartbeats heard within each node's expiry window (three of its intervals). */
  alive(): Heartbeat[] {
    const now = this.now();
    const out: Heartbeat[] = [];
    for (const [key, { beat, at }] of this.seen) {
      if (at < now - 3 * (beat.intervalMs || HEARTBEAT_INTERVAL_MS)) this.seen.delete(key);
      else out.push(beat);
    }
    return out;
  }

  /** True when a node of that service is alive. */
  isAlive(service: string, node: string): boolean {
    const entry = this.seen.get(`${service}/${node}`);
    if (!entry) return false;
    return entry.at >= this.now() - 3 * (entry.beat.intervalMs || HEARTBEAT_INTERVAL_MS);
  }

  /** The services among `required` with no ready node (`self` is the caller's own service: it knows it is there). */
  missing(required: readonly string[], self?: string): string[] {
    const ready = new Set(this.alive().filter((b) => b.ready).map((b) => b.service));
    return required.filter((s) => s !== self && !ready.has(s));
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}
