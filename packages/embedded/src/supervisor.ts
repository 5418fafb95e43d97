import type { ProcessHandle } from "./handle.js";
import type { ExitStatus } from "./process.js";

/**
 * Delay before a restart, indexed by how many times the child died since it was last healthy. A
 * crash now and then is restarted at once (a killed gateway is back in about a second, however
 * often it happens); a child that keeps dying is started less and less often, at most every 30 s.
 */
export const RESTART_DELAYS_MS: readonly number[] = [100, 100, 100, 100, 100, 1_000, 2_000, 5_000, 10_000, 30_000];

/** A child that stayed up this long after it became ready counts as healthy: its crash count starts again at 0. */
export const HEALTHY_AFTER_MS = 30_000;

/** The delay before the restart that follows `crashes` earlier crashes (0 for the first). */
export function restartDelayMs(crashes: number): number {
  return RESTART_DELAYS_MS[Math.min(crashes, RESTART_DELAYS_MS.length - 1)] ?? 30_000;
}

/** What a supervisor did, for a console or a log. */
export type SupervisorEvent =
  | { kind: "exited"; name: string; status: ExitStatus; restartInMs: number }
  | { kind: "restarted"; name: string; downMs: number }
  | { kind: "restart-failed"; name: string; error: Error };

export interface SupervisorOptions {
  /** The child, started and ready; restarted with its own `restart()` (same port, data and environment). */
  child: ProcessHandle;
  onEvent?: (event: SupervisorEvent) => void;
  healthyAfterMs?: number;
  /** The clock (tests move it on instead of waiting out the healthy period). */
  now?: () => number;
}

/**
 * Restarts one child whenever it dies on its own, until stopped. One loop per child waits for its
 * exit, so each death is handled exactly once, however many restarts came before.
 */
export class Supervisor {
  private stopped = false;
  private crashes = 0;
  /** When the child last became ready; undefined after a restart that failed. */
  private readyAt: number | undefined;
  private cancelDelay: (() => void) | undefined;
  private readonly done: Promise<void>;

  private readonly now: () => number;

  constructor(private readonly options: SupervisorOptions) {
    this.now = options.now ?? Date.now;
    this.readyAt = this.now();
    this.done = this.watch();
  }

  get name(): string {
    return this.options.child.process.options.name;
  }

  /** Restarts no more (idempotent); the child itself is left to the caller to stop. */
  stop(): void {
    this.stopped = true;
    this.cancelDelay?.();
  }

  /** Resolves when the loop has ended (after stop(), once the child exits or a pending restart settles). */
  finished(): Promise<void> {
    return this.done;
  }

  private async watch(): Promise<void> {
    const { child } = this.options;
    for (;;) {
      const status = await child.process.exited();
      if (this.stopped) return;
      const diedAt = this.now();
      if (this.readyAt !== undefined && diedAt - this.readyAt >= (this.options.healthyAfterMs ?? HEALTHY_AFTER_MS)) this.crashes = 0;
      const delay = restartDelayMs(this.crashes++);
      this.emit({ kind: "exited", name: this.name, status, restartInMs: delay });
      await this.delay(delay);
      if (this.stopped) return;
      try {
        await child.restart();
        this.readyAt = this.now();
        this.emit({ kind: "restarted", name: this.name, downMs: this.readyAt - diedAt });
      } catch (err) {
        if (this.stopped) return;
        this.readyAt = undefined;
        this.emit({ kind: "restart-failed", name: this.name, error: err as Error });
        // A child that never became ready may still be running (readiness timed out): end it, so
        // the next turn of the loop sees it exit and tries again after a longer delay.
        await child.kill();
      }
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.cancelDelay = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private emit(event: SupervisorEvent): void {
    this.options.onEvent?.(event);
  }
}
