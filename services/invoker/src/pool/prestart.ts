import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, readdir, readlink, rm, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { Socket } from "node:net";
import { parseFromInstance } from "@nimbus/protocol";
import { FrameReader } from "@nimbus/protocol/wire";
import { RUNTIME_ENTRY, WARMUP_VARIABLE } from "@nimbus/runtime-node";
import type { SandboxedProcess, Sandboxer } from "@nimbus/sandbox";
import type { Logger } from "@nimbus/telemetry";
import { runtimeEnv } from "./instance-spec.js";

export interface PrestartOptions {
  /** Sandboxes kept ready for each kind in demand (with the network, without). 0: none. */
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
  readonly network: boolean;
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
  private readonly ready = new Map<boolean, PrestartedSandbox[]>([[true, []], [false, []]]);
  private readonly starting = new Map<boolean, number>([[true, 0], [false, 0]]);
  /** The kinds asked for: with the network (FC's default) from the start, without once a function needed one. */
  private readonly wanted = new Set<boolean>([true]);
  private failures = 0;
  private pausedUntil = 0;
  private pauseMs = PRESSURE_PAUSE_MS;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly options: PrestartOptions,
    private readonly deps: PrestartDeps,
  ) {}

  async start(): Promise<void> {
    await rm(this.options.dir, { recursive: true, force: true });
    await mkdir(this.options.dir, { recursive: true, mode: 0o755 });
    this.fill();
  }

  /** Sandboxes waiting now. */
  get idle(): number {
    return (this.ready.get(true)?.length ?? 0) + (this.ready.get(false)?.length ?? 0);
  }

  /** A waiting sandbox of this kind, now its caller's (its room on the node is given back); undefined when none waits. */
  take(network: boolean): PrestartedSandbox | undefined {
    if (!this.wanted.has(network)) this.wanted.add(network);
    const sandbox = this.ready.get(network)?.shift();
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
    this.ready.get(sandbox.network)?.unshift(sandbox);
  }

  /** Stops every waiting sandbox to make room for a function; true when there was one. No new one starts for a while. */
  async yieldRoom(): Promise<boolean> {
    const now = Date.now();
    // Pressure again soon after the last pause ended: pause longer; after a quiet while, start over.
    this.pauseMs = now < this.pausedUntil + this.pauseMs ? Math.min(PRESSURE_PAUSE_MAX_MS, this.pauseMs * 2) : PRESSURE_PAUSE_MS;
    this.pausedUntil = now + this.pauseMs;
    const all = [...(this.ready.get(true) ?? []), ...(this.ready.get(false) ?? [])];
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
    const all = [...(this.ready.get(true) ?? []), ...(this.ready.get(false) ?? [])];
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

  private fill(): void {
    if (this.stopped || Date.now() < this.pausedUntil) return;
    for (const network of this.wanted) {
      while ((this.ready.get(network)?.length ?? 0) + (this.starting.get(network) ?? 0) < this.options.size) {
        if (!this.deps.reserve(this.options.memoryMb)) return;
        this.starting.set(network, (this.starting.get(network) ?? 0) + 1);
        void this.startOne(network).then(
          (sandbox) => {
            this.starting.set(network, (this.starting.get(network) ?? 1) - 1);
            this.failures = 0;
            if (this.stopped) {
              this.deps.release(this.options.memoryMb);
              void this.discard(sandbox);
              return;
            }
            this.ready.get(network)?.push(sandbox);
            void sandbox.process.exited.then(() => this.lostWhileWaiting(sandbox));
          },
          (err: unknown) => {
            this.starting.set(network, (this.starting.get(network) ?? 1) - 1);
            this.deps.release(this.options.memoryMb);
            const waitMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
            this.deps.logger.warn({ err, retryInMs: waitMs }, "a pre-started sandbox did not come up");
            this.schedule(waitMs);
          },
        );
      }
    }
  }

  private async startOne(network: boolean): Promise<PrestartedSandbox> {
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
        command: (paths) => [...paths.node, join(paths.runtime, RUNTIME_ENTRY)],
        // The marker goes with the rest of the boot environment when the function's replaces it.
        env: (paths) => ({ ...runtimeEnv(paths), [WARMUP_VARIABLE]: "1" }),
        memoryBytes: this.options.memoryMb * 1024 * 1024,
        pidsMax: this.options.pidsMax,
        network,
      });
      await helloFrom(process.control, this.options.startTimeoutMs, process.exited);
      await process.startNetwork();
      return { id, network, process, codeDir, optDir };
    } catch (err) {
      await process?.kill();
      await this.cleanup(id);
      throw err;
    }
  }

  /** A waiting sandbox died (killed from outside, out of memory): forgotten and replaced. */
  private lostWhileWaiting(sandbox: PrestartedSandbox): void {
    const list = this.ready.get(sandbox.network) ?? [];
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
