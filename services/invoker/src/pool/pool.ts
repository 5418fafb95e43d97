import { createHash, randomBytes } from "node:crypto";
import { effectiveFunction, errors, isNimbusError, LATEST, type FunctionRecord, type NimbusError, type ServiceRecord } from "@nimbus/protocol";
import type { Sandboxer } from "@nimbus/sandbox";
import type { Logger } from "@nimbus/telemetry";
import type { Registry } from "../cluster/registry.js";
import { Instance, InstanceStartError, type InvocationInput, type InvocationResult } from "../instances/instance.js";
import type { LogSink } from "../instances/log.js";
import { failures } from "../instances/messages.js";
import { NodeBudget } from "./budget.js";
import { Cancellations } from "./cancellations.js";
import { ClassPool, type ClassKey, type RunOutcome, type Scaler } from "./class-pool.js";
import { ImageRejectedError } from "./image-spec.js";
import { NODE_WITH_NETWORK, sandboxKind } from "./instance-spec.js";
import { PrestartPool } from "./prestart.js";
import { InstanceStarter } from "./starter.js";
import { acquireSource, type InstanceSource, type SourceDeps } from "./sources.js";

/** How much longer a request may wait for an instance of an image the node must pull first. */
const IMAGE_PULL_ALLOWANCE_MS = 5 * 60_000;

/** What an instance of a class is started from. */
export interface LaunchSpec {
  record: FunctionRecord;
  service: ServiceRecord;
  /** The qualifier whose on-demand config limits this function's instances. */
  qualifier: string;
}

export interface PoolOptions {
  nodeId: string;
  region: string;
  accountId: string;
  memoryBudgetMb: number;
  maxInstances: number;
  idleMs: number;
  /** How long a sandbox may take to come up (until the runtime in it says hello); the function's own load time comes on top. */
  startTimeoutMs: number;
  /** How long a request may wait for a slot when it cannot get one at once. */
  queueWaitMs: number;
  pidsMax: number;
  /** What one invocation may print (the log shipper's cap, told to the runtime too). */
  maxOutputBytesPerInvocation: number;
  /** The runtime (runtime-node's dist) as instances mount it. */
  runtimeDir: string;
  /**
   * Sandboxes to keep started ahead of any call, for each kind in demand (with the network, without),
   * each holding `memoryMb` of the budget while it waits, in `dir`; unset or size 0: none.
   */
  prestart?: { size: number; dir: string; memoryMb: number };
}

export interface PoolDeps extends SourceDeps {
  sandboxer: Sandboxer;
  registry: Registry;
  logSink: LogSink;
  logger: Logger;
  /** Cluster-wide instance limit of a function (its on-demand config, or the default). */
  maxInstancesFor(service: string, qualifier: string, fn: string): number;
  /** A class got its first instance (true) or lost its last (false): (un)subscribe its subject. */
  onClassActive(key: ClassKey, active: boolean): void;
}

interface Entry {
  pool: ClassPool;
  spec: LaunchSpec;
  /** Requests in run() and instances being started: the entry must stay while any exist. */
  busy: number;
}

/**
 * Every instance on this node, grouped by class. It decides whether this node can start another
 * instance (memory budget, instance count, evicting idle instances of other functions), takes the
 * cluster-wide slot in Redis, starts the sandbox, and reaps instances left idle too long.
 */
export class Pool implements Scaler {
  private readonly classes = new Map<string, Entry>();
  private readonly budget: NodeBudget;
  private readonly starter: InstanceStarter;
  private readonly prestart: PrestartPool | undefined;
  private reaper: NodeJS.Timeout | undefined;
  private draining = false;
  /** Requests stopped before they reached this node: refused if they still arrive (request id → until). */
  private readonly cancelled = new Cancellations();
  /** Names this node in its instances' ids (`c-<node tag>-<random>`). */
  private readonly nodeTag: string;

  constructor(
    private readonly options: PoolOptions,
    private readonly deps: PoolDeps,
  ) {
    this.nodeTag = createHash("sha256").update(options.nodeId).digest("hex").slice(0, 8);
    this.budget = new NodeBudget(options.memoryBudgetMb, options.maxInstances);
    this.starter = new InstanceStarter(options, deps);
    const prestart = options.prestart;
    if (prestart && prestart.size > 0) {
      this.prestart = new PrestartPool(
        {
          ...prestart,
          runtimeDir: options.runtimeDir,
          nodeTag: this.nodeTag,
          pidsMax: options.pidsMax,
          startTimeoutMs: options.startTimeoutMs,
          initial: NODE_WITH_NETWORK,
        },
        {
          sandboxer: deps.sandboxer,
          logger: deps.logger.child({ module: "prestart" }),
          reserve: (mb) => !this.draining && this.budget.holdWaiting(mb),
          release: (mb) => this.budget.releaseWaiting(mb),
        },
      );
    }
  }

  start(): void {
    this.reaper = setInterval(() => this.reap(), Math.min(30_000, Math.max(50, Math.floor(this.options.idleMs / 2))));
    this.reaper.unref();
    this.prestart?.start().catch((err: unknown) => this.deps.logger.error({ err }, "cannot pre-start sandboxes"));
  }

  /** Instances on this node, and pre-started sandboxes waiting for a function, for metrics and listInstances. */
  get stats(): { instances: number; memoryUsedMb: number; classes: number; prestarted: number } {
    const { count, memoryMb } = this.budget.instances;
    return { instances: count, memoryUsedMb: memoryMb, classes: this.classes.size, prestarted: this.prestart?.idle ?? 0 };
  }

  /** True when this node holds (or is starting) an instance of the class. */
  has(cls: string): boolean {
    return this.classes.has(cls);
  }

  /** Runs an invocation on an instance of the class, starting one if needed. */
  async run(key: ClassKey, spec: LaunchSpec, input: InvocationInput, waitUntil: number, lastResort = false, noQueueWait = false): Promise<RunOutcome> {
    if (this.draining) return { busy: true };
    const entry = this.entry(key, spec);
    entry.busy++;
    try {
      return await entry.pool.run(input, waitUntil, lastResort, noQueueWait);
    } finally {
      entry.busy--;
      this.deps.registry.setIdle(key.cls, entry.pool.hasFreeSlot());
      this.dropIfEmpty(key.cls);
    }
  }

  /** True when an instance of the class has a free slot right now. */
  hasFreeSlot(cls: string): boolean {
    return this.classes.get(cls)?.pool.hasFreeSlot() ?? false;
  }

  /**
   * Kills the instance running this request (FC's "stop" of an async invocation); false when none
   * here does. The request id is remembered for a while, so a stop that overtakes its request (still
   * on its way to a node) still keeps it from running.
   */
  cancel(requestId: string): boolean {
    this.cancelled.add(requestId);
    for (const { pool } of this.classes.values()) {
      for (const instance of pool.instances) {
        if (instance.runs(requestId)) {
          void instance.stop("stopped on request");
          return true;
        }
      }
    }
    return false;
  }

  /** A request stopped (FC's StopStatefulAsyncInvocation) before it got a slot does not run. */
  stoppedBeforeRun(requestId: string): InvocationResult | undefined {
    if (!this.cancelled.has(requestId)) return undefined;
    const stopped = failures.stopped();
    return { body: Buffer.from(stopped.body), errorType: stopped.errorType, durationMs: 0, maxMemoryMb: 0, coldStart: false };
  }

  /** Retires every LATEST class of a function except `keep` (the function changed or was deleted). */
  retireFunction(service: string, fn: string, keep?: string): void {
    this.retireLatest((key, cls) => key.service === service && key.fn === fn && cls !== keep, "retiring instances of a changed function");
  }

  /** Retires every LATEST class of a service's functions (a service setting they run with changed). */
  retireService(service: string): void {
    this.retireLatest((key) => key.service === service, "retiring instances of a changed service");
  }

  private retireLatest(match: (key: ClassKey, cls: string) => boolean, why: string): void {
    for (const [cls, entry] of this.classes) {
      const key = entry.pool.key;
      if (key.versionId !== LATEST || entry.pool.retired || !match(key, cls)) continue;
      this.deps.logger.info({ service: key.service, function: key.fn, cls }, why);
      entry.pool.retire();
      this.dropIfEmpty(cls);
    }
  }

  /**
   * Starts one provisioned instance of a class (warm: started and initialized before any call) and
   * adds it to the class's pool. Says what happened; "target-met" when other nodes got there first.
   */
  async provision(key: ClassKey, spec: LaunchSpec, target: number): Promise<"started" | "target-met" | "no-room" | "failed"> {
    if (this.draining) return "no-room";
    const entry = this.entry(key, spec);
    entry.busy++;
    try {
      const launched = await this.launch(entry.pool, { qualifier: spec.qualifier, target });
      if (launched === "target-met") return "target-met";
      if (launched === "node-full" || launched === "at-limit") return "no-room";
      if (!(launched instanceof Instance)) return "failed";
      launched.provisioned = spec.qualifier;
      if (!(await launched.warmUp(`provision-${launched.id}`, spec.qualifier, key.versionId === LATEST ? "" : key.versionId))) return "failed";
      entry.pool.adopt(launched, false);
      this.deps.registry.setIdle(key.cls, entry.pool.hasFreeSlot());
      await this.deps.registry.markReady(key.service, key.fn, {
        instanceId: launched.id,
        cls: key.cls,
        versionId: key.versionId,
        qualifier: spec.qualifier,
        startedAt: new Date(launched.startedAt).toISOString(),
        provisioned: spec.qualifier,
      });
      return "started";
    } finally {
      entry.busy--;
      this.dropIfEmpty(key.cls);
    }
  }

  /** This node's provisioned instances, with the class key they belong to. */
  provisionedInstances(): { key: ClassKey; instance: Instance }[] {
    const out: { key: ClassKey; instance: Instance }[] = [];
    for (const { pool } of this.classes.values()) {
      for (const instance of pool.instances) if (instance.provisioned && instance.state !== "dead") out.push({ key: pool.key, instance });
    }
    return out;
  }

  /** Retires every class of a deleted version of a service. */
  retireVersion(service: string, versionId: string): void {
    for (const [cls, entry] of this.classes) {
      if (entry.pool.key.service !== service || entry.pool.key.versionId !== versionId || entry.pool.retired) continue;
      this.deps.logger.info({ service, versionId, cls }, "retiring instances of a deleted version");
      entry.pool.retire();
      this.dropIfEmpty(cls);
    }
  }

  /** Stops taking work and stops every instance once its invocations are done. */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.reaper);
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && [...this.classes.values()].some((e) => [...e.pool.instances].some((i) => i.active > 0))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const all = [...this.starter.starting, ...[...this.classes.values()].flatMap((e) => [...e.pool.instances])];
    await Promise.all([...all.map((i) => i.stop("node stopping")), this.prestart?.stop()]);
  }

  private entry(key: ClassKey, spec: LaunchSpec): Entry {
    const existing = this.classes.get(key.cls);
    if (existing && !existing.pool.retired) return existing;
    const fn = effectiveFunction(spec.record);
    // A request waits for a start as long as a start may take: the sandbox, then the function's load
    // (and, for an image, pulling it the first time; the request's own deadline still bounds it).
    const startWaitMs = this.options.startTimeoutMs + fn.loadTimeoutMs + (fn.container ? IMAGE_PULL_ALLOWANCE_MS : 0);
    const pool = new ClassPool(key, fn.instanceConcurrency, this, startWaitMs, this.options.queueWaitMs, () =>
      errors.throttled(key.service, key.fn, this.deps.maxInstancesFor(key.service, spec.qualifier, key.fn)),
    );
    const entry: Entry = { pool, spec, busy: 0 };
    if (!existing) this.deps.onClassActive(key, true);
    this.classes.set(key.cls, entry);
    return entry;
  }

  /** Forgets a class that has no instance and nothing in progress (and stops taking its subject). */
  private dropIfEmpty(cls: string): void {
    const entry = this.classes.get(cls);
    if (!entry || entry.pool.size > 0 || entry.busy > 0) return;
    this.classes.delete(cls);
    this.deps.onClassActive(entry.pool.key, false);
  }

  /**
   * Starts one instance of a pool's class (Scaler). With `provision`, the instance is a provisioned
   * one: its cluster-wide slot is only taken while the qualifier has fewer than `target`.
   */
  async launch(
    pool: ClassPool,
    provision?: { qualifier: string; target: number },
  ): Promise<Instance | "node-full" | "at-limit" | "target-met" | { loadError: NimbusError | InvocationResult }> {
    const entry = this.classes.get(pool.key.cls);
    if (!entry || this.draining) return "node-full";
    const { record, service, qualifier } = entry.spec;
    const fn = effectiveFunction(record);
    const memory = fn.memoryMb;
    // A pre-started sandbox gives back its share of the budget when taken; it goes back if this start does not happen.
    const kind = this.prestart ? sandboxKind(fn, service.internetAccess !== false) : undefined;
    let sandbox = kind ? this.prestart?.take(kind) : undefined;
    const giveBack = () => {
      if (sandbox) this.prestart?.putBack(sandbox);
      sandbox = undefined;
    };
    if (!this.budget.room(memory) && !(await this.evictFor(memory, pool.key.cls))) {
      giveBack();
      return "node-full";
    }

    const instanceId = sandbox?.id ?? `c-${this.nodeTag}-${randomBytes(6).toString("hex")}`;
    const max = this.deps.maxInstancesFor(pool.key.service, qualifier, pool.key.fn);
    const entry0 = { instanceId, cls: pool.key.cls, versionId: pool.key.versionId, qualifier, startedAt: new Date().toISOString() };
    const reserved = await (provision
      ? this.deps.registry.reserveProvisioned(pool.key.service, pool.key.fn, { ...entry0, provisioned: provision.qualifier }, max, provision.target)
      : this.deps.registry.reserve(pool.key.service, pool.key.fn, entry0, max)
    ).catch((err: unknown) => err as Error);
    if (reserved !== true && reserved !== "reserved") giveBack();
    if (reserved instanceof Error) return { loadError: errors.unavailable("the instance registry (Redis) is unreachable; retry", reserved) };
    if (reserved === false || reserved === "limit") return "at-limit";
    if (reserved === "met") return "target-met";

    this.budget.addInstance(memory);
    entry.busy++;
    let source: InstanceSource | undefined;
    const fromSandbox = sandbox;
    const release = () => {
      this.budget.removeInstance(memory);
      source?.release();
      if (fromSandbox) void this.prestart?.cleanup(fromSandbox.id);
      void this.deps.registry.release(pool.key.service, pool.key.fn, instanceId);
    };
    try {
      source = await acquireSource(fn, this.deps).catch((err: unknown) => {
        giveBack();
        throw err;
      });
      const instance = await this.starter.start(instanceId, pool.key, fn, service, source, sandbox);
      instance.onDeath(() => {
        release();
        this.deps.registry.setIdle(pool.key.cls, pool.hasFreeSlot());
        this.dropIfEmpty(pool.key.cls);
      });
      return instance;
    } catch (err) {
      release();
      const failed = err instanceof ImageRejectedError ? this.starter.failedBeforeSandbox(instanceId, pool.key, fn, err.message) : err;
      if (failed instanceof InstanceStartError) {
        const { body, errorType } = failed.functionError;
        return { loadError: { body: Buffer.from(body), errorType, durationMs: 0, maxMemoryMb: 0, coldStart: true, logTail: failed.output } };
      }
      if (isNimbusError(failed)) return { loadError: failed };
      this.deps.logger.error({ err, cls: pool.key.cls }, "cannot start an instance");
      return { loadError: errors.internal("the function instance could not be started", err) };
    } finally {
      entry.busy--;
    }
  }

  /**
   * Makes room for `memoryMb`: pre-started sandboxes first, then idle instances of other classes
   * (never provisioned ones), least recently used first.
   */
  private async evictFor(memoryMb: number, forCls: string): Promise<boolean> {
    if ((await this.prestart?.yieldRoom()) && this.budget.room(memoryMb)) return true;
    const idle = [...this.classes.entries()]
      .filter(([cls]) => cls !== forCls)
      .flatMap(([, e]) => [...e.pool.instances].filter((i) => i.state === "ready" && i.active === 0 && !i.provisioned))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const instance of idle) {
      if (this.budget.room(memoryMb)) break;
      await instance.stop("evicted for another function");
    }
    return this.budget.room(memoryMb);
  }

  private reap(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const { pool } of this.classes.values()) {
      for (const instance of pool.instances) {
        if (instance.state === "ready" && instance.active === 0 && !instance.provisioned && instance.lastUsed < cutoff) void instance.stop("idle");
      }
    }
  }
}
