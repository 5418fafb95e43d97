import { errors, type NimbusError } from "@nimbus/protocol";
import type { Instance, InvocationInput, InvocationResult } from "../instances/instance.js";

/** Identity of what a class pool runs. */
export interface ClassKey {
  service: string;
  fn: string;
  cls: string;
  versionId: string;
}

/** What the pool needs from the node to grow a class: room here, a cluster-wide slot, a started instance. */
export interface Scaler {
  /** Starts one more instance of this class, or says why not. */
  launch(pool: ClassPool): Promise<Instance | "node-full" | "at-limit" | "target-met" | { loadError: NimbusError | InvocationResult }>;
  /** The result to give instead of running, when the request was stopped while it waited. */
  stoppedBeforeRun(requestId: string): InvocationResult | undefined;
}

export type RunOutcome =
  | { ok: InvocationResult; instanceId: string }
  | { busy: true }
  | { failed: NimbusError };

interface Waiter {
  /** Every other node was full: wait here for a slot rather than be sent on. */
  lastResort: boolean;
  /** Refused at once at the instance limit (it waits in an async queue instead). */
  noQueueWait: boolean;
  grant: (instance: Instance, coldStart: boolean) => void;
  fail: (outcome: RunOutcome) => void;
  timer: NodeJS.Timeout;
  /** When the wait ends (for a cold start, or shorter once the function is at its limit). */
  until: number;
  expire: () => void;
}

/**
 * The instances of one class on this node, and the requests waiting for a slot in them. A request
 * takes a free slot at once if there is one; otherwise it waits, and the pool starts another
 * instance when the waiting requests outnumber the slots already starting.
 */
export class ClassPool {
  readonly instances = new Set<Instance>();
  private waiters: Waiter[] = [];
  private startingSlots = 0;
  private throttled = false;
  retired = false;

  constructor(
    readonly key: ClassKey,
    readonly capacityPerInstance: number,
    private readonly scaler: Scaler,
    /** How long a request waits for an instance to start. */
    private readonly startWaitMs: number,
    /** How long it waits for a slot to free up once the function is at its instance limit. */
    private readonly queueWaitMs: number,
    private readonly limitMessage: () => NimbusError,
  ) {}

  /** Free slots across ready instances. */
  get freeSlots(): number {
    let free = 0;
    for (const instance of this.instances) free += instance.free;
    return free;
  }

  get size(): number {
    return this.instances.size;
  }

  /** The instance to use: the busiest one with room (packing lets the others go idle and be reaped). */
  private pick(): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of this.instances) {
      if (instance.free > 0 && (!best || instance.active > best.active)) best = instance;
    }
    return best;
  }

  /** True when a slot is free right now. */
  hasFreeSlot(): boolean {
    return this.pick() !== undefined;
  }

  /**
   * Runs an invocation, waiting for a slot (and starting an instance) if needed, up to `waitUntil`;
   * at the function's instance limit only `queueWaitMs`, or not at all with `noQueueWait`.
   */
  async run(input: InvocationInput, waitUntil: number, lastResort = false, noQueueWait = false): Promise<RunOutcome> {
    if (this.retired) return { failed: errors.unavailable("the function changed; retry") };
    const ready = this.pick();
    if (ready) {
      ready.reserve();
      return this.exec(ready, input, false);
    }
    if (noQueueWait && this.throttled) return { failed: this.limitMessage() };
    const slot = await new Promise<{ instance: Instance; coldStart: boolean } | RunOutcome>((resolve) => {
      const until = Math.min(waitUntil, Date.now() + (this.throttled ? this.queueWaitMs : this.startWaitMs));
      const waiter: Waiter = {
        lastResort,
        noQueueWait,
        grant: (instance, coldStart) => resolve({ instance, coldStart }),
        fail: (outcome) => resolve(outcome),
        until,
        expire: () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(this.throttled ? { failed: this.limitMessage() } : { busy: true });
        },
        timer: setTimeout(() => waiter.expire(), Math.max(0, until - Date.now())),
      };
      this.waiters.push(waiter);
      this.scaleIfNeeded();
    });
    if (!("instance" in slot)) return slot;
    return this.exec(slot.instance, input, slot.coldStart);
  }

  /** Adds an instance (started by the scaler) and hands its slots to waiting requests. */
  adopt(instance: Instance, fromColdStart: boolean): void {
    if (this.retired) {
      // Its function changed or went while it started: it must not linger outside any pool.
      instance.retire();
      return;
    }
    this.instances.add(instance);
    instance.onSlotFree(() => this.handOut(false));
    instance.onDeath(() => {
      this.instances.delete(instance);
      // A request still waiting may need a replacement now.
      this.scaleIfNeeded();
    });
    this.handOut(fromColdStart);
  }

  /** Gives free slots to waiting requests, oldest first. */
  handOut(coldStart: boolean): void {
    for (;;) {
      if (this.waiters.length === 0) return;
      const instance = this.pick();
      if (!instance) return;
      const waiter = this.waiters.shift() as Waiter;
      clearTimeout(waiter.timer);
      instance.reserve();
      waiter.grant(instance, coldStart);
    }
  }

  /** Stops new work; every instance stops once it is idle. */
  retire(): void {
    this.retired = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.fail({ failed: errors.unavailable("the function changed; retry") });
    }
    for (const instance of this.instances) instance.retire();
  }

  private async exec(instance: Instance, input: InvocationInput, coldStart: boolean): Promise<RunOutcome> {
    const stopped = this.scaler.stoppedBeforeRun(input.requestId);
    if (stopped) {
      instance.unreserve();
      return { ok: stopped, instanceId: instance.id };
    }
    const result = await instance.invoke(input, coldStart);
    return { ok: result, instanceId: instance.id };
  }

  private scaleIfNeeded(): void {
    if (this.retired) return;
    const needed = this.waiters.length - this.startingSlots;
    if (needed <= 0) return;
    this.startingSlots += this.capacityPerInstance;
    void this.scaler
      .launch(this)
      .then((launched) => {
        this.startingSlots -= this.capacityPerInstance;
        if (launched === "at-limit") {
          // Waiters keep waiting for a slot to free up, briefly; if none does they get ResourceExhausted.
          this.throttled = true;
          const until = Date.now() + this.queueWaitMs;
          for (const waiter of [...this.waiters]) {
            if (waiter.noQueueWait) {
              clearTimeout(waiter.timer);
              waiter.expire();
              continue;
            }
            if (waiter.until <= until) continue;
            clearTimeout(waiter.timer);
            waiter.until = until;
            waiter.timer = setTimeout(() => waiter.expire(), this.queueWaitMs);
          }
          return;
        }
        this.throttled = false;
        if (launched === "node-full" || launched === "target-met") {
          // This node cannot take another instance: its waiting requests go to other nodes (which
          // start instances there: that is how a burst scales out), except those every other node
          // already refused, which wait here for a slot.
          if (this.instances.size === 0 && this.startingSlots === 0) this.failWaiters({ busy: true });
          else this.shedWaiters(this.startingSlots);
          return;
        }
        if ("loadError" in launched) {
          const failure = launched.loadError;
          this.failWaiters("code" in failure ? { failed: failure } : { ok: failure, instanceId: "" });
          return;
        }
        this.adopt(launched, true);
        this.scaleIfNeeded();
      })
      .catch(() => {
        this.startingSlots -= this.capacityPerInstance;
      });
  }

  /** Sends waiting requests elsewhere, except the oldest `served` (instances being started will take them) and last resorts. */
  private shedWaiters(served: number): void {
    const keep: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.lastResort || keep.length < served) {
        keep.push(waiter);
        continue;
      }
      clearTimeout(waiter.timer);
      waiter.fail({ busy: true });
    }
    this.waiters = keep;
  }

  private failWaiters(outcome: RunOutcome): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.fail(outcome);
    }
  }
}
