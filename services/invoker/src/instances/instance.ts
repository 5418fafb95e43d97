import { FrameReader, frame, type FromInstance, type FunctionError, type FunctionInfo, type HttpRequestInfo, type HttpResponseInfo, type InvocationContextInfo, type ToInstance } from "@nimbus/protocol/wire";
import type { SandboxedProcess } from "@nimbus/sandbox";
import type { Logger } from "@nimbus/telemetry";
import { failures } from "./messages.js";
import { TailBuffer, type LogSink, type LogSource } from "./log.js";

/** What one invocation needs. */
export interface InvocationInput {
  requestId: string;
  kind: "event" | "http";
  body: Buffer;
  http?: HttpRequestInfo;
  qualifier: string;
  versionId: string;
  traceparent?: string;
  logTail: boolean;
}

/** What the caller gets back: the function's result or its error, and the facts about the run. */
export interface InvocationResult {
  body: Buffer;
  errorType?: FunctionError["errorType"];
  http?: HttpResponseInfo;
  durationMs: number;
  maxMemoryMb: number;
  coldStart: boolean;
  initDurationMs?: number;
  logTail?: Buffer;
  /** Stopped at its timeout. */
  timedOut?: boolean;
}

export interface InstanceOptions {
  id: string;
  fn: FunctionInfo;
  capacity: number;
  timeoutMs: number;
  initializationTimeoutMs: number;
  /** Whether an initializer must run before the first invocation. */
  hasInitializer: boolean;
  memoryLimitMb: number;
  startTimeoutMs: number;
  logSink: LogSink;
  logger: Logger;
}

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

const TAIL_BYTES = 4 * 1024;
const MAX_FRAME_BYTES = 40 * 1024 * 1024;
const PING_GRACE_MS = 500;

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
  private initialized: Promise<FunctionError | undefined> | undefined;
  private initDurationMs: number | undefined;
  /** How long the sandbox took to start and load the function. */
  private startupMs: number | undefined;
  private served = 0;
  private waiters = new Map<string, (message: FromInstance) => void>();
  private deathHandlers: (() => void)[] = [];
  private slotHandlers: (() => void)[] = [];
  private exitReason: string | undefined;
  /** Output written outside any invocation (start-up, module load): shown when the instance fails to start. */
  private readonly instanceOutput = new TailBuffer(2048);
  /** The invocation an initializer runs for (its output belongs to that invocation's log). */
  private readonly initFor = new Map<number, Pending>();

  /** Where this instance's output comes from (for the log sink). */
  private readonly source: LogSource;

  constructor(readonly options: InstanceOptions) {
    this.source = { instanceId: options.id, service: options.fn.service.name, fn: options.fn.name, versionId: options.fn.service.versionId };
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
   * server). Resolves when ready; rejects with the function's load error (or a start failure).
   */
  async start(process: SandboxedProcess): Promise<void> {
    this.process = process;
    const reader = new FrameReader<FromInstance>((m) => this.receive(m), MAX_FRAME_BYTES);
    process.control.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.options.logger.warn({ err, instanceId: this.id }, "instance sent an invalid frame; stopping it");
        void this.stop("protocol error");
      }
    });
    process.control.on("error", () => undefined);
    this.pipeRaw(process.stdout, "stdout");
    this.pipeRaw(process.stderr, "stderr");
    void process.exited.then((exit) => this.died(exit.oomKilled, exit.code, exit.signal));

    // The network comes up once the runtime runs (bwrap is done with the namespace), before the
    // function's code loads: it may use the network at once.
    const load = () =>
      void process.startNetwork().then(
        () => this.send({ t: "load", fn: this.options.fn }),
        (err: unknown) => void (this.exitReason ??= (err as Error).message), // the instance is killed: say why
      );
    const loaded = await this.expect("loaded", this.options.startTimeoutMs, load, "hello");
    if (loaded.t === "loaded" && loaded.error) {
      await this.stop("load failed");
      throw Object.assign(new Error(loaded.error.errorMessage), { functionError: loaded.error });
    }
    this.startupMs = Date.now() - this.startedAt;
    if (this.state === "starting") this.state = "ready";
  }

  /** Takes a slot (check `free` first); the next invoke() runs in it. */
  reserve(): void {
    this.active++;
    this.lastUsed = Date.now();
  }

  /** Gives back a slot taken with reserve() without running anything in it. */
  unreserve(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.state === "stopping" && this.active === 0) void this.stop("retired");
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
        tail: input.logTail ? this.newTail(coldStart) : undefined,
        coldStart,
        abandoned: false,
      };
      this.pending.set(id, entry);
      void this.initializeFor(entry).then((error) => {
        if (entry.abandoned) return;
        if (error) {
          this.finish(entry, { body: Buffer.from(error.body), errorType: error.errorType }, 0);
          void this.stop("initializer failed");
          return;
        }
        if (this.state !== "ready") return; // died meanwhile: died() answered it
        // A cold start's init duration: starting the sandbox, loading the code and the initializer.
        if (entry.coldStart) entry.initDurationMs = (this.startupMs ?? 0) + (this.initDurationMs ?? 0);
        this.log(entry, `FC Invoke Start RequestId: ${input.requestId}\n`);
        const ctx = this.context(input, started + this.options.timeoutMs);
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
    const entry: Pending = {
      id: -1,
      input: { requestId, kind: "event", body: Buffer.alloc(0), qualifier, versionId, logTail: false },
      started: Date.now(),
      resolve: () => undefined,
      timer: setTimeout(() => undefined, 0),
      tail: undefined,
      coldStart: true,
      abandoned: false,
    };
    clearTimeout(entry.timer);
    const error = await this.initializeFor(entry);
    if (error) await this.stop("initializer failed while provisioning");
    return !error && this.state === "ready";
  }

  /** Kills the sandbox (everything in it); in-flight invocations fail. */
  async stop(reason: string): Promise<void> {
    if (this.state === "dead") return;
    this.exitReason ??= reason;
    if (this.state !== "stopping") this.state = "stopping";
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
    if (this.active === 0) void this.stop("retired");
  }

  private context(input: InvocationInput, deadline: number): InvocationContextInfo {
    return {
      requestId: input.requestId,
      qualifier: input.qualifier,
      versionId: input.versionId,
      credentials: { accessKeyId: "", accessKeySecret: "", securityToken: "" },
      ...(input.traceparent ? { traceparent: input.traceparent } : {}),
      deadline,
    };
  }

  /** Runs the initializer once, with the first invocation's request id, under its own timeout. */
  private initializeFor(entry: Pending): Promise<FunctionError | undefined> {
    if (!this.options.hasInitializer) return Promise.resolve(undefined);
    this.initialized ??= (async () => {
      const started = Date.now();
      const id = this.nextId++;
      this.initFor.set(id, entry);
      const initTimeout = setTimeout(() => {
        void this.stop("initializer timed out");
      }, this.options.initializationTimeoutMs);
      try {
        const reply = await this.expect(`initialized:${id}`, this.options.initializationTimeoutMs + 1_000, () =>
          this.send({ t: "initialize", id, ctx: this.context(entry.input, started + this.options.initializationTimeoutMs) }),
        );
        this.initDurationMs = Date.now() - started;
        return reply.t === "initialized" ? reply.error : undefined;
      } catch {
        return failures.initializationTimedOut(this.options.initializationTimeoutMs / 1000);
      } finally {
        clearTimeout(initTimeout);
        this.initFor.delete(id);
      }
    })();
    return this.initialized;
  }

  /** A platform line in an invocation's log (FC's start and end markers). */
  private log(entry: Pending, line: string): void {
    const data = Buffer.from(line);
    entry.tail?.push(data);
    this.options.logSink.write(this.source, requestOf(entry), "stdout", data, true);
  }

  /** A cold start's log begins with what the instance printed while starting (module loading). */
  private newTail(coldStart: boolean): TailBuffer {
    const tail = new TailBuffer(TAIL_BYTES);
    if (coldStart) tail.push(this.instanceOutput.read());
    return tail;
  }

  private timedOut(entry: Pending): void {
    if (!this.pending.has(entry.id) || entry.abandoned) return;
    const error = failures.timedOut(this.options.timeoutMs / 1000, this.options.fn.memory);
    entry.abandoned = true;
    entry.resolve({ ...this.result(entry, { body: Buffer.from(error.body), errorType: error.errorType }, 0), timedOut: true });
    if (this.options.capacity === 1) {
      void this.stop("timeout");
      return;
    }
    // Several requests share this instance: keep it if it still answers, or a busy loop stalls them all.
    const pingId = this.nextId++;
    this.expect(`pong:${pingId}`, PING_GRACE_MS, () => this.send({ t: "ping", id: pingId })).catch(() => void this.stop("unresponsive after a timeout"));
  }

  private receive(message: FromInstance): void {
    switch (message.t) {
      case "hello":
      case "loaded":
        this.resolveWaiter(message.t, message);
        return;
      case "initialized":
        this.resolveWaiter(`initialized:${message.id}`, message);
        return;
      case "pong":
        this.resolveWaiter(`pong:${message.id}`, message);
        return;
      case "fatal":
        // Going down: take no more work; the exit that follows fails whatever is still in flight.
        if (this.state === "ready" || this.state === "starting") this.state = "stopping";
        this.exitReason ??= "crashed";
        return;
      case "log": {
        const entry = this.pending.get(message.id) ?? this.initFor.get(message.id);
        if (entry) entry.tail?.push(message.data);
        else this.instanceOutput.push(message.data);
        this.options.logSink.write(this.source, entry ? requestOf(entry) : undefined, message.stream === 1 ? "stdout" : "stderr", message.data);
        return;
      }
      case "result":
      case "error": {
        const entry = this.pending.get(message.id);
        if (!entry) return;
        if (message.t === "result") {
          this.log(entry, `FC Invoke End RequestId: ${entry.input.requestId}\n`);
          this.finish(entry, { body: Buffer.from(message.body), ...(message.http ? { http: message.http } : {}) }, message.rss);
        } else {
          const kind = message.error.errorType === "HandledInvocationError" ? "Handled" : "Unhandled";
          this.log(entry, `FC Invoke End RequestId: ${entry.input.requestId}, Error: ${kind} function error\n`);
          this.finish(entry, { body: Buffer.from(message.error.body), errorType: message.error.errorType }, message.rss);
        }
        return;
      }
    }
  }

  private finish(entry: Pending, outcome: { body: Buffer; errorType?: FunctionError["errorType"]; http?: HttpResponseInfo }, rssMb: number): void {
    clearTimeout(entry.timer);
    if (!this.pending.delete(entry.id)) return;
    this.options.logSink.end(this.source, entry.input.requestId);
    this.lastUsed = Date.now();
    this.served++;
    this.active = Math.max(0, this.active - 1);
    if (!entry.abandoned) entry.resolve(this.result(entry, outcome, rssMb));
    if (this.state === "stopping" && this.active === 0) void this.stop("retired");
    else if (this.state === "ready") for (const handler of this.slotHandlers) handler();
  }

  private result(entry: Pending, outcome: { body: Buffer; errorType?: FunctionError["errorType"]; http?: HttpResponseInfo }, rssMb: number): InvocationResult {
    const durationMs = Date.now() - entry.started;
    const maxMemoryMb = rssMb;
    let logTail: Buffer | undefined;
    if (entry.tail) {
      entry.tail.push(
        Buffer.from(
          `\nDuration: ${durationMs.toFixed(2)} ms, Billed Duration: ${Math.max(1, Math.ceil(durationMs))} ms, Memory Size: ${this.options.fn.memory} MB, Max Memory Used: ${maxMemoryMb.toFixed(2)} MB\n`,
        ),
      );
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
    const wasStopping = this.exitReason;
    this.state = "dead";
    const limit = this.options.fn.memory;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      this.options.logSink.end(this.source, entry.input.requestId);
      if (entry.abandoned) continue;
      const duration = Date.now() - entry.started;
      const error = oomKilled
        ? failures.outOfMemory(duration, limit)
        : wasStopping === "initializer timed out"
          ? failures.initializationTimedOut(this.options.initializationTimeoutMs / 1000)
          : wasStopping === "unresponsive after a timeout"
            ? failures.stoppedWithConcurrent()
            : wasStopping === "stopped on request"
              ? failures.stopped()
              : failures.crashed(duration, limit);
      entry.resolve(this.result(entry, { body: Buffer.from(error.body), errorType: error.errorType }, oomKilled ? limit : 0));
    }
    this.pending.clear();
    this.options.logSink.end(this.source, "");
    this.active = 0;
    for (const waiter of this.waiters.values()) waiter({ t: "hello", pid: -1 });
    this.waiters.clear();
    if (!wasStopping || wasStopping === "crashed" || oomKilled) {
      this.options.logger.info({ instanceId: this.id, code, signal, oomKilled, served: this.served }, "instance exited");
    }
    for (const handler of this.deathHandlers) handler();
  }

  /** Waits for a message; `after` is sent once a precondition message (if any) arrived. */
  private expect(key: string, timeoutMs: number, after: () => void, first?: string): Promise<FromInstance> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        if (first) this.waiters.delete(first);
        reject(new Error(`no '${key}' from the instance within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (message: FromInstance) => {
        clearTimeout(timer);
        if (message.t === "hello" && message.pid === -1) {
          const output = this.instanceOutput.read().toString("utf8").trim();
          reject(new Error(`${this.exitReason ?? "the instance exited"}${output ? `: ${output}` : ""}`));
        }
        else resolve(message);
      };
      if (first) {
        this.waiters.set(first, (m) => {
          if (m.t === "hello" && m.pid === -1) return done(m);
          this.waiters.set(key, done);
          after();
        });
      } else {
        this.waiters.set(key, done);
        after();
      }
    });
  }

  private resolveWaiter(key: string, message: FromInstance): void {
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      waiter(message);
    }
  }

  private corked = false;

  /** Frames written during one event-loop turn leave in one write. */
  private send(message: ToInstance): void {
    if (this.state === "dead" || !this.process) return;
    const control = this.process.control;
    if (!this.corked) {
      this.corked = true;
      control.cork();
      setImmediate(() => {
        this.corked = false;
        control.uncork();
      });
    }
    control.write(frame(message));
  }

  /** Output written straight to fd 1/2 (child processes, native code): the request it belongs to when unambiguous. */
  private pipeRaw(stream: NodeJS.ReadableStream, name: "stdout" | "stderr"): void {
    stream.on("data", (data: Buffer) => {
      const only = this.pending.size === 1 ? [...this.pending.values()][0] : undefined;
      if (only) only.tail?.push(data);
      else this.instanceOutput.push(data);
      this.options.logSink.write(this.source, only ? requestOf(only) : undefined, name, data);
    });
  }
}

function requestOf(entry: Pending): { requestId: string; qualifier: string } {
  return { requestId: entry.input.requestId, qualifier: entry.input.qualifier };
}
