/** A function over its output rate says so at most this often. */
const DROP_NOTE_EVERY_MS = 1_000;

/** A rate of output: bytes per second on average, and how much may come at once. */
export interface RateLimit {
  bytesPerSecond: number;
  burstBytes: number;
}

/**
 * A token bucket of stored output bytes, and what it refused since it last said so. A write is
 * admitted while the bucket is not empty, then charged what it cost once stored (lines carry their
 * attribution: a flood of short lines costs several times its own size), so the bucket can dip
 * below empty by one write.
 */
export class OutputBudget {
  private tokens: number;
  private last: number;
  /** Bytes refused since the last note. */
  dropped = 0;
  lastNote = 0;

  constructor(private readonly limit: RateLimit, now: number) {
    this.tokens = limit.burstBytes;
    this.last = now;
  }

  /** True when a write of `bytes` may go ahead (the bucket is not empty); counts it as dropped when not. */
  admit(bytes: number, now: number): boolean {
    this.tokens = Math.min(this.limit.burstBytes, this.tokens + ((now - this.last) / 1000) * this.limit.bytesPerSecond);
    this.last = now;
    if (this.tokens > 0) return true;
    this.dropped += bytes;
    return false;
  }

  /** Charges what an admitted write cost. */
  spend(bytes: number): void {
    this.tokens -= bytes;
  }

  /** True (once per interval) when refused output should be noted now; resets the count. */
  noteDue(now: number): number {
    if (this.dropped === 0 || now - this.lastNote < DROP_NOTE_EVERY_MS) return 0;
    const dropped = this.dropped;
    this.dropped = 0;
    this.lastNote = now;
    return dropped;
  }

  /** Full again and nothing pending: the budget can be forgotten. */
  idle(now: number): boolean {
    return this.dropped === 0 && this.tokens + ((now - this.last) / 1000) * this.limit.bytesPerSecond >= this.limit.burstBytes;
  }
}
