import { randomUUID } from "node:crypto";
import type { FromInstance, FunctionError, ToInstance } from "@nimbus/protocol/wire";
import { failures } from "./messages.js";
import type { InstanceOutput, OutputOwner } from "./log.js";
import type { StopReason } from "./stop-reasons.js";
import { contextFor, type InvocationInput } from "./types.js";

/** What the hooks need of their instance. */
export interface HookHost {
  nextId(): number;
  send(message: ToInstance): void;
  expect(key: string, timeoutMs: number, after: () => void): Promise<FromInstance>;
  stop(reason: StopReason): Promise<void>;
  readonly output: InstanceOutput;
  dead(): boolean;
}

export interface HookOptions {
  hasInitializer: boolean;
  initializationTimeoutMs: number;
  /** The pre-stop hook runs (at most this long) before the instance is stopped on purpose. */
  preStopTimeoutMs?: number;
  qualifier: string;
  versionId: string;
}

/** The most a pre-stop hook gets when its whole node is stopping (the node has its own shutdown deadline). */
const NODE_STOPPING_HOOK_MS = 5_000;
/** Stops the platform decides on while the instance is healthy: FC runs the pre-stop hook first. */
const ON_PURPOSE: ReadonlySet<StopReason> = new Set<StopReason>(["retired", "idle", "evicted for another function", "node stopping"]);

/**
 * FC's lifecycle hooks of one instance: the initializer, once, before its first invocation (its
 * output that invocation's), and the pre-stop hook, once, under a request id of its own.
 */
export class LifecycleHooks {
  /** Who the output of a hook running now belongs to, by frame id. */
  private readonly owners = new Map<number, OutputOwner>();
  private initialized: Promise<FunctionError | undefined> | undefined;
  private preStopRun: Promise<void> | undefined;
  /** How long the initializer took, once it ran. */
  initDurationMs: number | undefined;

  constructor(
    private readonly host: HookHost,
    private readonly options: HookOptions,
  ) {}

  /** The request the output of frame `id` belongs to, when a hook runs under it. */
  ownerOf(id: number): OutputOwner | undefined {
    return this.owners.get(id);
  }

  /** Runs the initializer once, with the first invocation's request id, under its own timeout. */
  initializeFor(owner: OutputOwner & { input: InvocationInput }): Promise<FunctionError | undefined> {
    if (!this.options.hasInitializer) return Promise.resolve(undefined);
    this.initialized ??= (async () => {
      const started = Date.now();
      const timeoutMs = this.options.initializationTimeoutMs;
      const id = this.host.nextId();
      this.owners.set(id, owner);
      const initTimeout = setTimeout(() => void this.host.stop("initializer timed out"), timeoutMs);
      try {
        const reply = await this.host.expect(`initialized:${id}`, timeoutMs + 1_000, () =>
          this.host.send({ t: "initialize", id, ctx: contextFor(owner.input, started + timeoutMs) }),
        );
        this.initDurationMs = Date.now() - started;
        return reply.t === "initialized" ? reply.error : undefined;
      } catch {
        return failures.initializationTimedOut(timeoutMs / 1000);
      } finally {
        clearTimeout(initTimeout);
        this.owners.delete(id);
      }
    })();
    return this.initialized;
  }

  /** Before a loaded instance is stopped for `reason`: its pre-stop hook, when it has one and the stop is on purpose. */
  async beforeStop(reason: StopReason): Promise<void> {
    const configured = this.options.preStopTimeoutMs;
    if (!configured || !ON_PURPOSE.has(reason)) return;
    const timeoutMs = reason === "node stopping" ? Math.min(configured, NODE_STOPPING_HOOK_MS) : configured;
    this.preStopRun ??= this.runPreStop(timeoutMs);
    await this.preStopRun;
  }

  /** FC's pre-stop hook, under its own request id and timeout; the instance stops afterwards whatever it did. */
  private async runPreStop(timeoutMs: number): Promise<void> {
    const id = this.host.nextId();
    const input: InvocationInput = { requestId: randomUUID(), qualifier: this.options.qualifier, versionId: this.options.versionId, kind: "event", body: Buffer.alloc(0), logTail: false };
    const owner: OutputOwner = { input, tail: undefined };
    this.owners.set(id, owner);
    try {
      const reply = await this.host.expect(`preStopped:${id}`, timeoutMs, () => this.host.send({ t: "preStop", id, ctx: contextFor(input, Date.now() + timeoutMs) }));
      if (reply.t === "preStopped" && reply.error) this.host.output.platform(owner, `FC PreStop Error: ${reply.error.errorMessage}`);
    } catch (err) {
      if (!this.host.dead()) this.host.output.platform(owner, `[nimbus] the pre-stop hook did not finish within ${timeoutMs / 1000} seconds: ${(err as Error).message}`);
    } finally {
      this.owners.delete(id);
      this.host.output.end(owner);
    }
  }
}
