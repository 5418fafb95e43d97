/**
 * Exponential backoff with full jitter: a random delay up to base·2^(attempt-1), capped, never below
 * half of it (so retries of many failed events spread out instead of arriving together).
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
