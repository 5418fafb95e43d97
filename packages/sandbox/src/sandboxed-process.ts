import type { ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { CgroupHandle } from "./cgroup.js";
import { watchMemory, type MemoryWatch } from "./watchdog.js";

/** The instance's framed control channel. */
const CONTROL_FD = 3;
/** How often the cgroup's peak memory is read again (callers in between get the last reading). */
const PEAK_READ_MS = 100;

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The memory limit ended it (cgroup OOM killer, or the RSS watchdog). */
  oomKilled: boolean;
}

/** One running instance: its control socket (fd 3 inside), output, and a kill that takes the whole tree. */
export class SandboxedProcess {
  readonly exited: Promise<SandboxExit>;
  private watchdogTripped = false;
  private watchdog: MemoryWatch | undefined;
  private peakMb = 0;
  private peakReadAt: number | undefined;

  /** The instance's network stack (slirp4netns), when it has one: it goes when the instance does. */
  private network: ChildProcess | undefined;
  /** Sets the instance's network up (slirp4netns), for an instance that gets one. */
  private networkSetup: (() => Promise<ChildProcess>) | undefined;
  private networkReady: Promise<void> | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly cgroup: CgroupHandle | undefined,
    private readonly mode: "bwrap" | "process",
    memoryBytes: number,
  ) {
    this.exited = new Promise<SandboxExit>((resolve) => {
      child.once("exit", (code, signal) => {
        this.watchdog?.stop();
        this.network?.kill("SIGKILL");
        void (async () => {
          const oom = this.watchdogTripped || ((await this.cgroup?.oomKilled()) ?? false);
          await this.cgroup?.killAll();
          await this.cgroup?.remove();
          resolve({ code, signal, oomKilled: oom });
        })();
      });
      child.once("error", () => resolve({ code: -1, signal: null, oomKilled: false }));
    });
    if (!cgroup && child.pid) {
      this.watchdog = watchMemory(child.pid, memoryBytes, () => {
        this.watchdogTripped = true;
        void this.kill();
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Gives a sandbox started before its function was known (pre-started) that function's memory
   * limit. Only with cgroups: without them the limit is fixed when the sandbox starts.
   */
  async setMemoryLimit(bytes: number): Promise<void> {
    if (!this.cgroup) throw new Error("a sandbox without a cgroup cannot change its memory limit");
    await this.cgroup.setMemoryLimit(bytes);
  }

  /** Marks the instance as getting a network, which `setup` brings up when asked (startNetwork). */
  withNetwork(setup: () => Promise<ChildProcess>): void {
    this.networkSetup = setup;
  }

  /**
   * Brings the instance's network up; resolves at once for an instance without one. Call it once
   * the instance runs its command (it has said hello): bwrap sets the namespace's loopback up
   * before that, and a second netlink user in the namespace meanwhile makes bwrap fail. Rejects,
   * and kills the instance, when the network cannot be set up.
   */
  startNetwork(): Promise<void> {
    const setup = this.networkSetup;
    if (!setup) return Promise.resolve();
    this.networkReady ??= setup().then(
      (slirp) => {
        this.network = slirp;
        if (this.child.exitCode !== null || this.child.signalCode !== null) slirp.kill("SIGKILL");
      },
      async (err: unknown) => {
        await this.kill();
        throw err;
      },
    );
    return this.networkReady;
  }

  /** The framed control channel (fd 3 inside the instance). */
  get control(): Socket {
    return this.child.stdio[CONTROL_FD] as Socket;
  }

  get stdout(): Readable {
    return this.child.stdout as Readable;
  }

  get stderr(): Readable {
    return this.child.stderr as Readable;
  }

  /** SIGKILLs the instance and everything it started; resolves when it is gone. */
  async kill(): Promise<SandboxExit> {
    const pid = this.child.pid;
    if (pid && this.child.exitCode === null && this.child.signalCode === null) {
      try {
        // bwrap: its death takes the PID namespace with it. Plain process: kill its process group.
        process.kill(this.mode === "process" ? -pid : pid, "SIGKILL");
      } catch {
        // already gone
      }
      await this.cgroup?.killAll();
    }
    return this.exited;
  }

  /** Peak memory of the instance, when the cgroup reports it. */
  async peakMemoryBytes(): Promise<number | undefined> {
    return this.cgroup?.peakBytes();
  }

  /**
   * The instance's peak memory in MB as the host measures it (its cgroup, else the RSS watchdog's
   * highest reading): never a figure the instance reports about itself.
   */
  peakMemoryMb(): number {
    // Read from the cgroup at most every PEAK_READ_MS: a peak moves slowly, and a read per call
    // was 2-3% of a warm call's CPU in the invoker (bench/README.md, "Profile of a warm call").
    const now = Date.now();
    if (this.peakReadAt === undefined || now - this.peakReadAt >= PEAK_READ_MS) {
      const bytes = this.cgroup ? this.cgroup.peakBytesNow() : this.watchdog?.peakBytes();
      this.peakMb = bytes === undefined ? 0 : Math.round((bytes / 1024 / 1024) * 100) / 100;
      this.peakReadAt = now;
    }
    return this.peakMb;
  }
}
