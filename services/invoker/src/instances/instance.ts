import type { FromInstance, FunctionError, HttpResponseInfo, ToInstance } from "@nimbus/protocol/wire";
import type { SandboxedProcess } from "@nimbus/sandbox";
import { ControlChannel, pauseFor, TimeoutError } from "./control.js";
import { failures } from "./messages.js";
import { failureFor, InstanceStartError, type StopReason } from "./stop-reasons.js";
import { InstanceOutput, reportLine, type TailBuffer } from "./log.js";
import { LifecycleHooks } from "./hooks.js";
import { contextFor, type InstanceOptions, type InvocationInput, type InvocationResult } from "./types.js";

export type { InstanceOptions, InvocationInput, InvocationResult } from "./types.js";
export { InstanceStartError, type StopReason } from "./stop-reasons.js";

interface Pending {
  id: number;
  input: InvocationInput;
  started: number;
  resolve: (result: InvocationResult) => void;
  timer: NodeJS.Timeout;
  tail: TailBuffer | undefined;
  coldStart: boolean;
  initDurationMs?: number;
  /** Timed out already: a late result is dropped but still frees the slot. */
  abandoned: boolean;
}

const PING_GRACE_MS = 500;
/** How long an instance printing faster than its output rate is not read from. */
const OUTPUT_BACKOFF_MS = 100;

export type InstanceState = "starting" | "ready" | "stopping" | "dead";

/**
 * One function instance: a sandboxed runtime process, its control channel, and the invocations in
 * flight on it (up to `capacity`). It fails every invocation it cannot finish with FC's error
 * (crash, out of memory, timeout) and reports its own death so the pool can replace it.
 */
export class Instance {
  state: InstanceState = "starting";
  active = 0;
  /** Set for a provisioned instance: the qualifier whose provision config keeps it (never reaped when idle). */
  provisioned: string | undefined;
  lastUsed = Date.now();
  readonly startedAt = Date.now();
  private process: SandboxedProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** How long the sandbox took to start and load the function. */
  private startupMs: number | undefined;
  private served = 0;
  /** Timed-out calls the runtime has not answered yet: they hold slots, but nothing waits for them. */
  private abandonedInFlight = 0;
  private control: ControlChannel | undefined;
  private deathHandlers: (() => void)[] = [];
  private slotHandlers: (() => void)[] = [];
  private stopReason: StopReason | undefined;
  /** Why the process went away, when the platform knows more than its exit status (network setup failed). */
  private exitDetail: string | undefined;
  /** Where its output goes: each invocation's log, or the instance's own. */
  private readonly output: InstanceOutput;
  /** Its initializer and pre-stop hook. */
  private readonly hooks: LifecycleHooks;

  constructor(readonly options: InstanceOptions) {
    const source = { instanceId: options.id, service: options.fn.service.name, fn: options.fn.name, versionId: options.fn.service.versionId };
    this.output = new InstanceOutput(options.logSink, source);
    const output = this.output;
    this.hooks = new LifecycleHooks(
      {
        nextId: () => this.nextId++,
        send: (message) => this.send(message),
        expect: (key, timeoutMs, after) => this.expect(key, timeoutMs, after),
        stop: (reason) => this.stop(reason),
        output,
        dead: () => this.state === "dead",
      },
      {
        hasInitializer: options.hasInitializer,
        initializationTimeoutMs: options.initializationTimeoutMs,
        ...(options.preStopTimeoutMs ? { preStopTimeoutMs: options.preStopTimeoutMs } : {}),
        qualifier: options.fn.service.qualifier,
        versionId: options.fn.service.versionId,
      },
    );
  }

  get id(): string {
    return this.options.id;
  }

  get free(): number {
    return this.state === "ready" ? this.options.capacity - this.active : 0;
  }

  /** Called once when the instance dies, whatever the cause. */
  onDeath(handler: () => void): void {
    this.deathHandlers.push(handler);
  }

  /** Called whenever an invocation finishes and its slot is free again. */
  onSlotFree(handler: () => void): void {
    this.slotHandlers.push(handler);
  }

  /**
   * Attaches the spawned sandbox and loads the function (handler module, or the custom runtime's
   * server). Resolves when ready. When the start fails, however it fails (the sandbox does not come
   * up, the module throws or takes too long, the server exits or never listens), the whole sandbox
   * is stopped, the reason goes to the function's log, and it rejects with an InstanceStartError.
   * A `booted` sandbox (pre-started) has said hello and has its network already: only the
   * function loads.
   */
  async start(process: SandboxedProcess, booted = false): Promise<void> {
    this.process = process;
    this.control = new ControlChannel(
      process.control,
      (m) => this.receive(m),
      (err) => {
        this.options.logger.warn({ err, instanceId: this.id }, "instance sent an invalid frame; stopping it");
        void this.stop("protocol error");
      },
      () => {
        const output = this.output.printed().toString("utf8").trim();
        return `${this.exitDetail ?? this.stopReason ?? "the instance exited"}${output ? `: ${output}` : ""}`;
      },
    );
    this.pipeRaw(process.stdout, "stdout");
    this.pipeRaw(process.stderr, "stderr");
    void process.exited.then((exit) => this.died(exit.oomKilled, exit.code, exit.signal));

    let phase: "sandbox" | "load" = booted ? "load" : "sandbox";
    try {
      if (booted) {
        process.control.resume(); // paused since its hello, so that nothing was read before this reader
      } else {
        await this.expect("hello", this.options.startTimeoutMs, () => undefined);
        // The network comes up once the runtime runs (bwrap is done with the namespace), before the
        // function's code loads: it may use the network at once.
        await process.startNetwork().catch((err: unknown) => {
          this.exitDetail = `its network could not be set up: ${(err as Error).message}`;
          throw err;
        });
        phase = "load";
      }
      const loaded = await this.expect("loaded", this.options.loadTimeoutMs, () => this.send({ t: "load", fn: this.options.fn }));
      if (loaded.t === "loaded" && loaded.error) throw new InstanceStartError(loaded.error, Buffer.alloc(0));
    } catch (err) {
      throw await this.failStart(err, phase);
    }
    this.startupMs = Date.now() - this.startedAt;
    if (this.state === "starting") this.state = "ready";
  }

  /** Stops an instance whose start failed, says why in the function's log, and builds the error its callers get. */
  private async failStart(err: unknown, phase: "sandbox" | "load"): Promise<InstanceStartError> {
    const gone = this.state === "dead" || this.state === "stopping";
    let error: FunctionError;
    if (err instanceof InstanceStartError) error = err.functionError;
    else if (gone || !(err instanceof TimeoutError)) error = failures.startFailed((err as Error).message);
    else if (phase === "sandbox") error = failures.startFailed(`the sandbox did not start within ${this.options.startTimeoutMs} ms`);
    else error = this.options.fn.kind === "custom" ? failures.serverNotStarted(this.options.fn.caPort, this.options.loadTimeoutMs) : failures.loadTimedOut(this.options.loadTimeoutMs);
    await this.stop("start failed");
    const printed = this.output.startFailed(error.errorMessage);
    this.options.logger.info({ instanceId: this.id, reason: error.errorMessage }, "instance failed to start");
    return new InstanceStartError(error, printed);
  }

  /** Takes a slot (check `free` first); the next invoke() runs in it. */
  reserve(): void {
    this.active++;
    this.lastUsed = Date.now();
  }

  /** Gives back a slot taken with reserve() without running anything in it. */
  unreserve(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.state === "stopping" && this.active === this.abandonedInFlight) void this.stop("retired");
    else if (this.state === "ready") for (const handler of this.slotHandlers) handler();
  }

  /**
   * Runs one invocation in a slot taken with reserve(). The slot stays taken until the runtime
   * answers — even past a timeout, when the caller has already been told — or the instance dies.
   */
  invoke(input: InvocationInput, coldStart: boolean): Promise<InvocationResult> {
    this.lastUsed = Date.now();
    return new Promise<InvocationResult>((resolve) => {
      const id = this.nextId++;
      const started = Date.now();
      const entry: Pending = {
        id,
        input,
        started,
        resolve,
        timer: setTimeout(() => this.timedOut(entry), this.options.timeoutMs),
        tail: input.logTail ? this.output.tail(coldStart) : undefined,
        coldStart,
        abandoned: false,
      };
      this.pending.set(id, entry);
      void this.hooks.initializeFor(entry).then((error) => {
        if (entry.abandoned) return;
        if (error) {
          this.finish(entry, { body: Buffer.from(error.body), errorType: error.errorType });
          void this.stop("initializer failed");
          return;
        }
        if (this.state !== "ready") return; // died meanwhile: died() answered it
        // A cold start's init duration: starting the sandbox, loading the code and the initializer.
        if (entry.coldStart) entry.initDurationMs = (this.startupMs ?? 0) + (this.hooks.initDurationMs ?? 0);
        this.output.platform(entry, `FC Invoke Start RequestId: ${input.requestId}`);
        const ctx = contextFor(input, started + this.options.timeoutMs);
        const message: ToInstance =
          input.kind === "http" && input.http
            ? { t: "invoke", id, kind: "http", ctx, body: input.body, http: input.http }
            : { t: "invoke", id, kind: "event", ctx, body: input.body };
        this.send(message);
      });
    });
  }

  /**
   * Runs the function's initializer now, before any invocation (a provisioned instance is ready to
   * serve at once). Resolves false when the initializer failed: the instance is stopped.
   */
  async warmUp(requestId: string, qualifier: string, versionId: string): Promise<boolean> {
    const input: InvocationInput = { requestId, kind: "event", body: Buffer.alloc(0), qualifier, versionId, logTail: false };
    const entry = { input, tail: undefined };
    const error = await this.hooks.initializeFor(entry);
    if (error) await this.stop("initializer failed while provisioning");
    return !error && this.state === "ready";
  }

  /** Kills the sandbox (everything in it); in-flight invocations fail. */
  async stop(reason: StopReason): Promise<void> {
    if (this.state === "dead") return;
    this.stopReason ??= reason;
    if (this.state !== "stopping") this.state = "stopping";
    // A loaded instance stopped on purpose runs its pre-stop hook first (a crash or timeout kills at once).
    if (this.startupMs !== undefined) await this.hooks.beforeStop(reason);
    await this.process?.kill();
  }

  /** True when the invocation with this request id is in flight here. */
  runs(requestId: string): boolean {
    for (const entry of this.pending.values()) if (entry.input.requestId === requestId && !entry.abandoned) return true;
    return false;
  }

  /** Stops taking work; stops the instance once what is in flight is done. */
  retire(): void {
    if (this.state === "ready" || this.state === "starting") this.state = "stopping";
    if (this.active === this.abandonedInFlight) void this.stop("retired");
  }

  private timedOut(entry: Pending): void {
    if (!this.pending.has(entry.id) || entry.abandoned) return;
    const error = failures.timedOut(this.options.timeoutMs / 1000, this.memoryMb());
    entry.abandoned = true;
    entry.resolve({ ...this.result(entry, { body: Buffer.from(error.body), errorType: error.errorType }), timedOut: true });
    if (this.options.capacity === 1) {
      void this.stop("timeout");
      return;
    }
    // Shared: the other calls finish (unless it no longer answers: a busy loop stalls them all), but it
    // takes no more work, as the timed-out call may hold its slot and memory forever.
    this.abandonedInFlight++;
    const pingId = this.nextId++;
    this.expect(`pong:${pingId}`, PING_GRACE_MS, () => this.send({ t: "ping", id: pingId })).then(
      () => this.retire(),
      () => void this.stop("unresponsive after a timeout"),
    );
  }

  private receive(message: FromInstance): void {
    switch (message.t) {
      case "hello":
      case "loaded":
        this.control?.deliver(message.t, message);
        return;
      case "initialized":
        this.control?.deliver(`initialized:${message.id}`, message);
        return;
      case "pong":
        this.control?.deliver(`pong:${message.id}`, message);
        return;
      case "preStopped":
        this.control?.deliver(`preStopped:${message.id}`, message);
        return;
      case "fatal":
        // Going down: take no more work; the exit that follows fails whatever is still in flight.
        if (this.state === "ready" || this.state === "starting") this.state = "stopping";
        this.stopReason ??= "crashed";
        return;
      case "log": {
        const entry = this.pending.get(message.id) ?? this.hooks.ownerOf(message.id);
        if (!this.output.write(entry, message.stream === 1 ? "stdout" : "stderr", message.data)) this.control?.pauseFor(OUTPUT_BACKOFF_MS);
        return;
      }
      case "result":
      case "error": {
        const entry = this.pending.get(message.id);
        if (!entry) return;
        if (message.t === "result") {
          this.output.platform(entry, `FC Invoke End RequestId: ${entry.input.requestId}`);
          this.finish(entry, { body: Buffer.from(message.body), ...(message.http ? { http: message.http } : {}) });
        } else {
          const kind = message.error.errorType === "HandledInvocationError" ? "Handled" : "Unhandled";
          this.output.platform(entry, `FC Invoke End RequestId: ${entry.input.requestId}, Error: ${kind} function error`);
          this.finish(entry, { body: Buffer.from(message.error.body), errorType: message.error.errorType });
        }
        return;
      }
    }
  }

  private finish(entry: Pending, outcome: Outcome): void {
    clearTimeout(entry.timer);
    if (!this.pending.delete(entry.id)) return;
    this.output.end(entry);
    this.lastUsed = Date.now();
    this.served++;
    this.active = Math.max(0, this.active - 1);
    if (entry.abandoned) this.abandonedInFlight = Math.max(0, this.abandonedInFlight - 1);
    else entry.resolve(this.result(entry, outcome));
    if (this.state === "stopping" && this.active === this.abandonedInFlight) void this.stop("retired");
    else if (this.state === "ready") for (const handler of this.slotHandlers) handler();
  }

  /** The instance's peak memory as its cgroup (or the host's watchdog) measured it. */
  private memoryMb(): number {
    return this.process?.peakMemoryMb() ?? 0;
  }

  private result(entry: Pending, outcome: Outcome, maxMemoryMb = this.memoryMb()): InvocationResult {
    const durationMs = Date.now() - entry.started;
    let logTail: Buffer | undefined;
    if (entry.tail) {
      entry.tail.push(reportLine(durationMs, this.options.fn.memory, maxMemoryMb));
      logTail = entry.tail.read();
    }
    return {
      ...outcome,
      durationMs,
      maxMemoryMb,
      coldStart: entry.coldStart,
      ...(entry.initDurationMs === undefined ? {} : { initDurationMs: entry.initDurationMs }),
      ...(logTail ? { logTail } : {}),
    };
  }

  private died(oomKilled: boolean, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.state === "dead") return;
    const reason = this.stopReason;
    this.state = "dead";
    const limit = this.options.fn.memory;
    const memoryMb = oomKilled ? limit : this.memoryMb();
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      this.output.end(entry);
      if (entry.abandoned) continue;
      const error = oomKilled ? failures.outOfMemory(Date.now() - entry.started, limit) : failureFor(reason, { durationMs: Date.now() - entry.started, memoryMb, initializationTimeoutMs: this.options.initializationTimeoutMs });
      entry.resolve(this.result(entry, { body: Buffer.from(error.body), errorType: error.errorType }, memoryMb));
    }
    this.pending.clear();
    this.output.gone();
    this.active = 0;
    this.abandonedInFlight = 0;
    this.control?.gone();
    if (!reason || reason === "crashed" || oomKilled) {
      this.options.logger.info({ instanceId: this.id, code, signal, oomKilled, served: this.served }, "instance exited");
    }
    for (const handler of this.deathHandlers) handler();
  }

  private send(message: ToInstance): void {
    if (this.state !== "dead") this.control?.send(message);
  }

  private expect(key: string, timeoutMs: number, after: () => void, first?: string): Promise<FromInstance> {
    if (!this.control) return Promise.reject(new Error("the instance has not started"));
    return this.control.expect(key, timeoutMs, after, first);
  }

  /** Output written straight to fd 1/2 (child processes, native code): the request it belongs to when unambiguous. */
  private pipeRaw(stream: NodeJS.ReadableStream, name: "stdout" | "stderr"): void {
    stream.on("data", (data: Buffer) => {
      const only = this.pending.size === 1 ? [...this.pending.values()][0] : undefined;
      // Over its output rate: read it more slowly (what it writes waits in the pipe, its writer with it).
      if (!this.output.write(only, name, data)) pauseFor(stream, OUTPUT_BACKOFF_MS);
    });
  }
}

type Outcome = { body: Buffer; errorType?: FunctionError["errorType"]; http?: HttpResponseInfo };
