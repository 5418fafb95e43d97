import type { RedisClient } from "@nimbus/service-kit";

/**
 * Time as Redis tells it: every process that stamps or ages an asynchronous invocation (gateways,
 * trigger-routers, async-queues) reads the same clock, so a node whose own clock is off does not
 * expire events early (or keep them too long). The offset to Redis's `TIME` is measured at start
 * and refreshed; while Redis cannot be asked, the last offset stands (none at all: the local clock).
 */
export class RedisClock {
  private offsetMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly refreshMs = 30_000,
  ) {}

  /** Measures the offset once (waiting at most a second: a Redis that is down does not hold a start up). */
  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.sync().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    this.timer = setInterval(() => void this.sync().catch(() => undefined), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Epoch ms on Redis's clock. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** How far this process's clock is behind Redis's (negative: ahead). */
  get offset(): number {
    return this.offsetMs;
  }

  private async sync(): Promise<void> {
    const sent = Date.now();
    const [seconds, micros] = await this.redis.time();
    const received = Date.now();
    // Redis read its clock somewhere in the round trip: take the middle.
    this.offsetMs = Math.round(Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2);
  }
}
