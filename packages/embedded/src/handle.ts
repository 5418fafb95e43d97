import type { ManagedProcess } from "./process.js";

/** The signals tests and supervisors send to any process we run: kill, freeze, thaw, stop. */
export abstract class ProcessHandle {
  abstract readonly process: ManagedProcess;

  /** Starts again on the same configuration (port, data, environment), resolving once it is ready. */
  abstract restart(): Promise<unknown>;

  /** SIGKILL: no chance to flush or say goodbye; resolves once it is gone. */
  async kill(): Promise<void> {
    await this.process.kill();
  }

  /** SIGSTOP: connections stay open but nothing answers. */
  pause(): void {
    this.process.pause();
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.process.resume();
  }
}
