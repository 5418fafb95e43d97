import { once } from "node:events";
import { Worker } from "node:worker_threads";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Naming } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";

/** What a service says about itself every few seconds. */
export interface Heartbeat {
  service: string;
  node: string;
  ready: boolean;
  startedAt: string;
  pid: number;
  /** How often this node beats; it is gone after three missed beats. */
  intervalMs: number;
  /** How far behind the node's main event loop is (ms): a busy node gets that much more grace. */
  lagMs?: number;
  /** An invoker's direct-call address and the token it asks for (see DirectAdvert). */
  direct?: { address: string; token: string };
  /** What an invoker runs each Python runtime name on (getFunction shows it). */
  runtimes?: Record<string, { path: string; version: string; configured?: true }>;
}

/** What a node says about itself in every heartbeat, beyond who and how it is. */
export type NodeAbout = Pick<Heartbeat, "direct" | "runtimes">;

export const HEARTBEAT_INTERVAL_MS = 2_000;
/** A node not heard from for this long is gone. */
export const HEARTBEAT_EXPIRY_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** The most grace a node's reported lag earns it. */
const MAX_LAG_GRACE_MS = 30_000;
/** How often the main thread tells its heartbeat thread it is alive. */
const TICK_MS = 100;

/** What the heartbeat thread is started with. */
export interface PresenceThreadData {
  natsUrl: string;
  prefix: string;
  identity: { service: string; node: string };
  about?: NodeAbout;
  startedAt: string;
  intervalMs: number;
  stallMs: number;
  shared: SharedArrayBuffer;
}

/**
 * The state a main thread shares with its heartbeat thread: when its event loop last ran, and
 * whether the service is ready. Both sides build this view over the same memory.
 */
export function mainThreadState(shared: SharedArrayBuffer) {
  const tick = new BigInt64Array(shared, 0, 1);
  const ready = new Int32Array(shared, 8, 1);
  return {
    /** Main thread: records that its loop runs, and its readiness. */
    update(isReady: boolean): void {
      Atomics.store(tick, 0, BigInt(Date.now()));
      Atomics.store(ready, 0, isReady ? 1 : 0);
    },
    /** How long the main thread's loop has not run, beyond its ticking interval. */
    lagMs(): number {
      return Math.max(0, Date.now() - Number(Atomics.load(tick, 0)) - TICK_MS);
    },
    ready(): boolean {
      return Atomics.load(ready, 0) === 1;
    },
  };
}

export interface PresenceOptions {
  /** The NATS server (with its credentials) the heartbeat thread connects to. */
  natsUrl: string;
  prefix: string;
  identity: { service: string; node: string };
  /** What this node says about itself: where it takes calls directly, its runtimes (invokers). */
  about?: NodeAbout;
  isReady: () => boolean;
  intervalMs?: number;
  /** A main thread that has not run for this long gets no more heartbeats (the node is presumed dead). */
  stallMs?: number;
  logger: Logger;
}

/**
 * Publishes this process's heartbeat periodically, and at once when someone probes — from a thread
 * of its own with a NATS connection of its own, so the heartbeat is not starved when the service's
 * own work keeps its event loop busy. The heartbeat says how far behind that loop is; a loop
 * stalled past `stallMs` stops the heartbeats.
 */
export class PresencePublisher {
  private worker: Worker | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly shared = new SharedArrayBuffer(16);
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly options: PresenceOptions) {}

  /** Starts the heartbeat thread; resolves once its first heartbeat is out (or it failed, which is logged). */
  async start(): Promise<void> {
    const state = mainThreadState(this.shared);
    const update = () => state.update(this.options.isReady());
    update();
    this.ticker = setInterval(update, TICK_MS);
    this.ticker.unref();
    const data: PresenceThreadData = {
      natsUrl: this.options.natsUrl,
      prefix: this.options.prefix,
      identity: this.options.identity,
      ...(this.options.about ? { about: this.options.about } : {}),
      startedAt: this.startedAt,
      intervalMs: this.options.intervalMs ?? HEARTBEAT_INTERVAL_MS,
      stallMs: this.options.stallMs ?? MAX_LAG_GRACE_MS,
      shared: this.shared,
    };
    const worker = new Worker(new URL("./presence-worker.js", import.meta.url), { workerData: data, name: "presence" });
    const log = this.options.logger.child({ module: "presence" });
    const beating = new Promise<void>((resolve) => {
      worker.on("message", (m: "beating" | { level: "info" | "warn" | "error"; obj: object; msg?: string }) => {
        if (m === "beating") resolve();
        else log[m.level](m.obj, m.msg);
      });
      worker.once("error", (err) => {
        log.error({ err }, "the heartbeat thread failed");
        resolve();
      });
    });
    worker.unref();
    this.worker = worker;
    await beating;
  }

  /** Stops the heartbeats (within a second, whatever the thread is doing). */
  async stop(): Promise<void> {
    clearInterval(this.ticker);
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = once(worker, "exit").then(() => undefined);
    worker.postMessage("stop");
    const timer = setTimeout(() => void worker.terminate(), 1_000);
    await exited;
    clearTimeout(timer);
  }
}

const decoder = new TextDecoder();

/** How long after its last heartbeat a node still counts as alive: three beats, plus the lag it reported. */
function expiryOf(beat: Heartbeat): number {
  return 3 * (beat.intervalMs || HEARTBEAT_INTERVAL_MS) + Math.min(MAX_LAG_GRACE_MS, Math.max(0, beat.lagMs ?? 0));
}

/** Follows every service's heartbeats: who is alive, and ready, right now. */
export class PresenceTracker {
  private readonly seen = new Map<string, { beat: Heartbeat; at: number }>();
  private readonly listeners: ((beat: Heartbeat) => void)[] = [];
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
            for (const listener of this.listeners) listener(beat);
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

  /** Calls `listener` with every heartbeat heard from now on. */
  onBeat(listener: (beat: Heartbeat) => void): void {
    this.listeners.push(listener);
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
      if (at < now - expiryOf(beat)) this.seen.delete(key);
      else out.push(beat);
    }
    return out;
  }

  /** The largest main-loop lag the live nodes of a service report (0 when none lags). */
  maxLagMs(service: string): number {
    let max = 0;
    for (const beat of this.alive()) if (beat.service === service) max = Math.max(max, beat.lagMs ?? 0);
    return max;
  }

  /**
   * True when a node is gone: heard from, but not within its expiry; or never heard from although
   * it has had a whole expiry window since `since` (when it was first known to exist, e.g. it
   * answered a request: its heartbeats travel on another connection and may arrive after that).
   */
  isGone(service: string, node: string, since: number): boolean {
    const entry = this.seen.get(`${service}/${node}`);
    const now = this.now();
    if (!entry) return now - since > HEARTBEAT_EXPIRY_MS;
    return entry.at < now - expiryOf(entry.beat);
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
