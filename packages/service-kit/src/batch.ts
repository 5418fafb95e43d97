/**
 * Runs queued work once per event-loop turn instead of once per item. Under load, every message
 * published (or frame written) during a turn then leaves in one write instead of one syscall each;
 * at low load the turn ends at once, so nothing waits.
 */
export class TickBatch {
  private queue: (() => void)[] = [];
  private scheduled = false;

  /** Queues work for the end of this turn. */
  push(work: () => void): void {
    this.queue.push(work);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
  }

  private run(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const work of queue) work();
  }
}
