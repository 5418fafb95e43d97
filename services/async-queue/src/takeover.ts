/** BullMQ worker options that bound how long a job whose worker died stays stuck in `active`. */
export interface TakeoverTimings {
  /** How long a job lock lives without renewal. */
  lockDuration: number;
  /** BullMQ renews a worker's locks every half to whole of this. */
  lockRenewTime: number;
  /** How often each worker runs BullMQ's stalled-job check. */
  stalledInterval: number;
}

/**
 * The lock and stalled-check timings under which a job whose worker died (or froze) runs again on
 * another replica within `takeoverMs`.
 *
 * BullMQ moves a job back to wait only on a stalled check that finds its lock gone *and* the job
 * marked by an earlier check made since its last renewal. A check that runs keeps every worker of
 * the queue from running another for one interval (a key with that TTL), and a worker's next tick
 * lands right at that key's expiry, so it is skipped now and then: checks run up to two intervals
 * apart. A takeover therefore takes up to lockDuration + 2 · stalledInterval (once the lock lasts
 * at least two intervals). With BullMQ's defaults — both equal to the lock — it took up to three
 * locks: ~90 s for a 30 s lock.
 *
 * Here the lock lasts 70 % of the bound and the check runs every 10 %, leaving 10 % for the
 * surviving worker to take the job. Locks are renewed every 10–20 %, so a worker keeps its jobs
 * through an event-loop stall of up to half the bound, as with BullMQ's default renewal of a lock
 * as long as the bound.
 */
export function takeoverTimings(takeoverMs: number): TakeoverTimings {
  const tenth = Math.max(1, Math.floor(takeoverMs / 10));
  return { lockDuration: 7 * tenth, lockRenewTime: 2 * tenth, stalledInterval: tenth };
}
