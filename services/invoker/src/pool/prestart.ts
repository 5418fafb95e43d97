import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, readdir, readlink, rm, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { Socket } from "node:net";
import { parseFromInstance } from "@nimbus/protocol";
import { FrameReader } from "@nimbus/protocol/wire";
import type { SandboxedProcess, SandboxPaths, Sandboxer } from "@nimbus/sandbox";
import type { Logger } from "@nimbus/telemetry";

/** What a waiting sandbox runs: a runtime (and interpreter), with the network or without. */
export interface SandboxKind {
  /** Names the kind (runtime, interpreter, network). */
  readonly key: string;
  readonly network: boolean;
  readonly command: (paths: SandboxPaths) => string[];
  /** Its boot environment: where things are, nothing of any function. */
  readonly env: (paths: SandboxPaths) => Record<string, string>;
}

export interface PrestartOptions {
  /** Sandboxes kept ready for each kind in demand. 0: none. */
  size: number;
  /** Where their code and /opt directories live (emptied at start). */
  dir: string;
  runtimeDir: string;
  /** Names this node in instance ids (`c-<tag>-<random>`): a pre-started sandbox's id becomes its instance's. */
  nodeTag: string;
  pidsMax: number;
  startTimeoutMs: number;
  /** What each waiting sandbox holds of the node's memory budget (and its cgroup's limit until it is taken). */
  memoryMb: number;
  /** The kind kept ready from the start (Node.js with the network, FC's default); others once asked for. */
  initial: SandboxKind;
}

export interface PrestartDeps {
  sandboxer: Sandboxer;
  logger: Logger;
  /** Takes room on the node for one more sandbox; false when the node has none. */
  reserve(memoryMb: number): boolean;
  release(memoryMb: number): void;
}

/** A sandbox with the runtime booted in it, waiting for a function. */
export interface PrestartedSandbox {
  readonly id: string;
  readonly kind: SandboxKind;
  readonly process: SandboxedProcess;
  /** Its `/code` and `/opt` on the host: empty until its function's files are linked in. */
  readonly codeDir: string;
  readonly optDir: string;
}

/** After a start fails, the next waits this long, doubling up to the maximum. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/**
 * After sandboxes were stopped to make room for a function, none is started for this long, doubled
 * each time it happens again within twice the pause (a node that keeps needing the room stops
 * paying for sandboxes it then kills), up to the maximum.
 */
const PRESSURE_PAUSE_MS = 5_000;
const PRESSURE_PAUSE_MAX_MS = 5 * 60_000;

/**
 * Sandboxes started before any function asks for them: bubblewrap set up, the runtime booted and
 * its network up, `/code` and `/opt` empty. A function's first call takes one, links its code in,
 * gives it the function's memory limit and environment and loads the handler — what a cold start
 * costs minus the sandbox and Node's boot. Each serves one function for life, like any instance;
 * the pool refills in the background, within the node's memory budget (each waiting sandbox holds
 * `memoryMb` of it, and gives it up first when a function needs room).
 */
export class PrestartPool {
  private readonly ready = new Map<string, PrestartedSandbox[]>();
  private readonly starting = new Map<string, number>();
  /** The kinds asked for: the initial one from the start, others once a function needed one. */
  private readonly wanted = new Map<string, SandboxKind>();
  private failures = 0;
  private pausedUntil = 0;
  private pauseMs = PRESSURE_PAUSE_MS;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly options: PrestartOptions,
    private readonly deps: PrestartDeps,
  ) {
    this.want(options.initial);
  }

  async start(): Promise<void> {
    await rm(this.options.dir, { recursive: true, force: true });
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    this.fill();
  }

  /** Sandboxes waiting now. */
  get idle(): number {
    let n = 0;
    for (const list of this.ready.values()) n += list.length;
    return n;
  }

  /** A waiting sandbox of this kind, now its caller's (its room on the node is given back); undefined when none waits. */
  take(kind: SandboxKind): PrestartedSandbox | undefined {
    this.want(kind);
    const sandbox = this.ready.get(kind.key)?.shift();
    if (sandbox) this.deps.release(this.options.memoryMb);
    this.schedule(0);
    return sandbox;
  }

  /** Returns a sandbox taken but not used (the function could not start here after all). */
  putBack(sandbox: PrestartedSandbox): void {
    if (this.stopped || !this.deps.reserve(this.options.memoryMb)) {
      void this.discard(sandbox);
      return;
    }
    this.ready.get(sandbox.kind.key)?.unshift(sandbox);
  }

  /** Stops every waiting sandbox to make room for a function; true when there was one. No new one starts for a while. */
  async yieldRoom(): Promise<boolean> {
    const now = Date.now();
    // Pressure again soon after the last pause ended: pause longer; after a quiet while, start over.
    this.pauseMs = now < this.pausedUntil + this.pauseMs ? Math.min(PRESSURE_PAUSE_MAX_MS, this.pauseMs * 2) : PRESSURE_PAUSE_MS;
    this.pausedUntil = now + this.pauseMs;
    const all = [...this.ready.values()].flat();
    if (all.length === 0) return false;
    for (const list of this.ready.values()) list.length = 0;
    await Promise.all(
      all.map((sandbox) => {
        this.deps.release(this.options.memoryMb);
        return this.discard(sandbox);
      }),
    );
    this.schedule(this.pauseMs);
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const all = [...this.ready.values()].flat();
    for (const list of this.ready.values()) list.length = 0;
    await Promise.all(all.map((s) => this.discard(s)));
  }

  /** Links a function's files into a taken sandbox's `/code` (and its layers' into `/opt`). */
  static async bind(sandbox: PrestartedSandbox, codeDir: string, optDir: string | undefined): Promise<void> {
    await linkTree(codeDir, sandbox.codeDir);
    if (optDir) await linkTree(optDir, sandbox.optDir);
  }

  /** Removes what a sandbox left on the host (its process is gone). */
  cleanup(id: string): Promise<void> {
    return rm(join(this.options.dir, id), { recursive: true, force: true }).catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fill();
    }, Math.max(delayMs, this.pausedUntil - Date.now(), 0));
    this.timer.unref();
  }

  /** Keeps sandboxes of this kind ready from now on. */
  private want(kind: SandboxKind): void {
    if (this.wanted.has(kind.key)) return;
    this.wanted.set(kind.key, kind);
    this.ready.set(kind.key, []);
    this.starting.set(kind.key, 0);
  }

  private fill(): void {
    if (this.stopped || Date.now() < this.pausedUntil) return;
    for (const [key, kind] of this.wanted) {
      while ((this.ready.get(key)?.length ?? 0) + (this.starting.get(key) ?? 0) < this.options.size) {
        if (!this.deps.reserve(this.options.memoryMb)) return;
        this.starting.set(key, (this.starting.get(key) ?? 0) + 1);
        void this.startOne(kind).then(
          (sandbox) => {
            this.starting.set(key, (this.starting.get(key) ?? 1) - 1);
            this.failures = 0;
            if (this.stopped) {
              this.deps.release(this.options.memoryMb);
              void this.discard(sandbox);
              return;
            }
            this.ready.get(key)?.push(sandbox);
            void sandbox.process.exited.then(() => this.lostWhileWaiting(sandbox));
          },
          (err: unknown) => {
            this.starting.set(key, (this.starting.get(key) ?? 1) - 1);
            this.deps.release(this.options.memoryMb);
            const waitMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
            this.deps.logger.warn({ err, kind: key, retryInMs: waitMs }, "a pre-started sandbox did not come up");
            this.schedule(waitMs);
          },
        );
      }
    }
  }

  private async startOne(kind: SandboxKind): Promise<PrestartedSandbox> {
    const id = `c-${this.options.nodeTag}-${randomBytes(6).toString("hex")}`;
    const codeDir = join(this.options.dir, id, "code");
    const optDir = join(this.options.dir, id, "opt");
    await mkdir(codeDir, { recursive: true, mode: 0o755 });
    await mkdir(optDir, { recursive: true, mode: 0o755 });
    let process: SandboxedProcess | undefined;
    try {
      process = await this.deps.sandboxer.spawn({
        id,
        root: { kind: "code", codeDir, optDirs: [optDir] },
        runtimeDir: this.options.runtimeDir,
        command: kind.command,
        env: kind.env,
        memoryBytes: this.options.memoryMb * 1024 * 1024,
        pidsMax: this.options.pidsMax,
        network: kind.network,
      });
      await helloFrom(process.control, this.options.startTimeoutMs, process.exited);
      await process.startNetwork();
      return { id, kind, process, codeDir, optDir };
    } catch (err) {
      await process?.kill();
      await this.cleanup(id);
      throw err;
    }
  }

  /** A waiting sandbox died (killed from outside, out of memory): forgotten and replaced. */
  private lostWhileWaiting(sandbox: PrestartedSandbox): void {
    const list = this.ready.get(sandbox.kind.key) ?? [];
    const at = list.indexOf(sandbox);
    if (at < 0) return; // taken meanwhile: its instance handles its death
    list.splice(at, 1);
    this.deps.release(this.options.memoryMb);
    this.deps.logger.warn({ sandbox: sandbox.id }, "a pre-started sandbox died while waiting; replacing it");
    void this.cleanup(sandbox.id);
    this.schedule(0);
  }

  private async discard(sandbox: PrestartedSandbox): Promise<void> {
    await sandbox.process.kill();
    await this.cleanup(sandbox.id);
  }
}

/**
 * Waits for the runtime's `hello` on its control channel, then pauses the channel so nothing is
 * read until the instance that takes the sandbox attaches its own reader.
 */
function helloFrom(socket: Socket, timeoutMs: number, exited: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      if (err) reject(err);
      else resolve();
    };
    const reader = new FrameReader<unknown>((frame) => {
      const message = parseFromInstance(frame);
      finish(message.t === "hello" ? undefined : new Error(`the runtime said '${message.t}' before 'hello'`));
    }, 4096);
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        finish(err as Error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`the sandbox did not start within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    void exited.then(() => finish(new Error("the sandbox exited before its runtime said hello")));
  });
}

/** Hard-links a directory tree into `to` (copying where a link cannot be made, e.g. across filesystems). */
async function linkTree(from: string, to: string): Promise<void> {
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      await mkdir(target, { mode: (await stat(source)).mode & 0o7777 });
      await linkTree(source, target);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(source), target);
    } else if (entry.isFile()) {
      await link(source, target).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== "EXDEV" && err.code !== "EPERM") throw err;
        await copyFile(source, target);
      });
    }
  }
}
