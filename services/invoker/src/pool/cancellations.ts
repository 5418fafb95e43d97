/** How long a stopped request id is remembered (a stop may overtake its request on the way to a node). */
const CANCEL_MEMORY_MS = 60_000;
const MAX_REMEMBERED_CANCELS = 10_000;

/**
 * Request ids stopped on request (FC's StopStatefulAsyncInvocation), remembered for a while and
 * bounded in number, so a request that arrives after its stop does not run.
 */
export class Cancellations {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Remembers a stopped request (forgetting those whose time is up). */
  add(requestId: string): void {
    const now = this.now();
    for (const [id, until] of this.until) if (until < now) this.until.delete(id);
    if (this.until.size < MAX_REMEMBERED_CANCELS) this.until.set(requestId, now + CANCEL_MEMORY_MS);
  }

  /** True when the request was stopped and that is still remembered. */
  has(requestId: string): boolean {
    if (this.until.size === 0) return false;
    const until = this.until.get(requestId);
    return until !== undefined && until >= this.now();
  }
}
