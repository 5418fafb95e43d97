import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { findBinary } from "./binaries.js";

let setprivPath: string | null | undefined;
function findSetpriv(): string | undefined {
  if (setprivPath === undefined) setprivPath = process.platform === "linux" ? (findBinary("setpriv") ?? null) : null;
  return setprivPath ?? undefined;
}

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr here. */
  logFile?: string;
  /** Opens an IPC channel (Node children): the child learns of our death through 'disconnect'. */
  ipc?: boolean;
  /** Called with every complete output line. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** Called for every IPC message from the child. */
  onMessage?: (message: unknown) => void;
  /**
   * Have the kernel SIGKILL the child if this process dies (even by SIGKILL), via util-linux's
   * `setpriv --pdeathsig`; without setpriv the child may outlive us and is reaped at the next start.
   */
  dieWithParent?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 200;

/** Every live child of this process, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) {
      try {
        if (child.pid) process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** A child process we can signal, pause, stop with a deadline, and read the recent output of. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitStatus> | undefined;
  private readonly tail: string[] = [];
  private log: WriteStream | undefined;

  constructor(readonly options: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines the process wrote (for error messages). */
  recentOutput(): string {
    return this.tail.join("\n");
  }

  start(): void {
    if (this.running) throw new Error(`${this.options.name} is already running`);
    installExitHook();
    this.log ??= this.options.logFile ? createWriteStream(this.options.logFile, { flags: "a" }) : undefined;
    const setpriv = this.options.dieWithParent ? findSetpriv() : undefined;
    const [command, args] = setpriv
      ? [setpriv, ["--pdeathsig", "SIGKILL", "--", this.options.command, ...this.options.args]]
      : [this.options.command, this.options.args];
    const child = spawn(command, args, {
      cwd: this.options.cwd,
      env: this.options.env ?? process.env,
      stdio: this.options.ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    live.add(child);
    this.exitPromise = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      });
      child.once("error", (err) => {
        live.delete(child);
        this.remember(`spawn error: ${err.message}`);
        resolve({ code: -1, signal: null });
      });
    });
    this.pipe(child.stdout, "stdout");
    this.pipe(child.stderr, "stderr");
    if (this.options.onMessage) child.on("message", this.options.onMessage);
  }

  /** Resolves when the current child exits. */
  exited(): Promise<ExitStatus> {
    return this.exitPromise ?? Promise.resolve({ code: null, signal: null });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running && this.child?.pid) process.kill(this.child.pid, signal);
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<ExitStatus> {
    this.signal("SIGKILL");
    return this.exited();
  }

  /** SIGSTOP: the process stays, frozen. */
  pause(): void {
    this.signal("SIGSTOP");
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.signal("SIGCONT");
  }

  /** SIGTERM, then SIGKILL if it is still there after `deadlineMs`. */
  async stop(deadlineMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited();
    this.signal("SIGCONT");
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), deadlineMs);
    try {
      return await this.exited();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the log file; call after the last stop. */
  async close(): Promise<void> {
    const log = this.log;
    this.log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }

  private pipe(stream: NodeJS.ReadableStream | null, name: "stdout" | "stderr"): void {
    if (!stream) return;
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      this.log?.write(chunk);
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        this.remember(line);
        this.options.onLine?.(line, name);
      }
    });
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }
}

/**
 * Kills a process left behind by an earlier run that died without cleaning up (its pid file still
 * names a live process whose command line mentions `marker`).
 */
export async function reapStale(pidFile: string, marker: string): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, "utf8")).trim(), 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
  } catch {
    return;
  }
  if (!cmdline.includes(marker)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves when `predicate` sees a matching output line, rejects if the process exits or time runs out. */
export function waitForLine(
  proc: ManagedProcess,
  subscribe: (listener: (line: string) => void) => () => void,
  predicate: (line: string) => boolean,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const unsubscribe = subscribe((line) => {
      if (predicate(line)) finish();
    });
    const timer = setTimeout(
      () => finish(new Error(`${proc.options.name} did not become ready within ${timeoutMs} ms:\n${proc.recentOutput()}`)),
      timeoutMs,
    );
    void proc.exited().then((status) =>
      finish(new Error(`${proc.options.name} exited (${status.code ?? status.signal}) before it was ready:\n${proc.recentOutput()}`)),
    );
    let done = false;
    function finish(err?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve();
    }
  });
}
