import { join } from "node:path";
import { requireBinary } from "./binaries.js";
import { ProcessHandle } from "./handle.js";
import { ManagedProcess, waitForLine } from "./process.js";

export interface ServerProcessSpec {
  binary: string;
  args: string[];
  /** Its log file goes here, named after the binary. */
  dir: string;
  /** A log line containing this means the server is ready. */
  readyLine: string;
  readyTimeoutMs?: number;
  onLine?: (line: string) => void;
}

/** A server binary run as a child process that tests can kill, freeze, resume and restart on its data. */
export abstract class ServerProcess extends ProcessHandle {
  private readonly lineListeners = new Set<(line: string) => void>();
  readonly process: ManagedProcess;

  protected constructor(private readonly spec: ServerProcessSpec) {
    super();
    this.process = new ManagedProcess({
      name: spec.binary,
      command: requireBinary(spec.binary),
      args: spec.args,
      logFile: join(spec.dir, `${spec.binary}.log`),
      dieWithParent: true,
      onLine: (line) => {
        spec.onLine?.(line);
        for (const listener of this.lineListeners) listener(line);
      },
    });
  }

  /** The URL clients connect with. */
  abstract get url(): string;

  /** Starts again on the same port and data (after kill, or stopping it first). */
  override async restart(): Promise<void> {
    if (this.process.running) await this.process.stop();
    await this.launch();
  }

  /** SIGTERM, SIGKILL after the deadline. */
  async stop(deadlineMs = 10_000): Promise<void> {
    await this.process.stop(deadlineMs);
    await this.process.close();
  }

  protected async launch(): Promise<void> {
    // Output arrives on later ticks, so subscribing right after the (synchronous) spawn misses nothing.
    this.process.start();
    await waitForLine(
      this.process,
      (listener) => {
        this.lineListeners.add(listener);
        return () => this.lineListeners.delete(listener);
      },
      (line) => line.includes(this.spec.readyLine),
      this.spec.readyTimeoutMs ?? 30_000,
    );
  }
}
