/** One line of function output as the logs stream holds it (a batch carries many). */
export interface LogLine {
  /** epoch ms */
  t: number;
  /** request id ("" for output outside any invocation) */
  r: string;
  /** instance id */
  i: string;
  /** qualifier of the invocation */
  q: string;
  /** concrete version ("" for LATEST) */
  v: string;
  /** 1 stdout, 2 stderr */
  s: 1 | 2;
  /** the line, without its newline */
  m: string;
  /** set on the parts of a line longer than the line limit: 1, 2, … */
  p?: number;
}

export interface LogBatch {
  service: string;
  function: string;
  lines: LogLine[];
}

/** One invocation's record, as invokers publish it and the invocations-log API returns it. */
export interface InvocationLogRecord {
  requestId: string;
  service: string;
  function: string;
  qualifier: string;
  versionId: string;
  instanceId: string;
  trigger: string;
  /** epoch ms */
  startTime: number;
  durationMs: number;
  maxMemoryMb: number;
  coldStart: boolean;
  /** Cold starts only: starting the instance, loading the code and running the initializer. */
  initDurationMs?: number;
  status: "Succeeded" | "Failed" | "Throttled";
  errorType?: string;
  timedOut?: boolean;
}

export interface InvocationRecordBatch {
  service: string;
  function: string;
  records: InvocationLogRecord[];
}

/** A line as the logs API returns it. */
export function logLineView(line: LogLine) {
  return {
    timestamp: new Date(line.t).toISOString(),
    requestId: line.r,
    instanceId: line.i,
    qualifier: line.q,
    versionId: line.v,
    stream: line.s === 2 ? "stderr" : "stdout",
    message: line.m,
    ...(line.p ? { part: line.p } : {}),
  };
}

/** Upper bounds (ms) of the duration buckets per-minute figures keep (OpenTelemetry's FaaS advice), then overflow. */
export const DURATION_BUCKETS_MS = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

/** The field of the bucket a duration falls in (`b0` … `b14`, the last for longer than 10 s). */
export function durationBucket(ms: number): string {
  const i = DURATION_BUCKETS_MS.findIndex((bound) => ms <= bound);
  return `b${i === -1 ? DURATION_BUCKETS_MS.length : i}`;
}

/**
 * A percentile (0–1) of the durations counted in buckets, interpolated linearly inside the bucket it
 * falls in (the overflow bucket counts as twice the last bound). Undefined when nothing was counted.
 */
export function bucketPercentile(counts: readonly number[], p: number): number | undefined {
  const total = counts.reduce((n, c) => n + c, 0);
  if (total === 0) return undefined;
  const rank = p * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && seen + c >= rank) {
      const low = i === 0 ? 0 : (DURATION_BUCKETS_MS[i - 1] as number);
      const high = i < DURATION_BUCKETS_MS.length ? (DURATION_BUCKETS_MS[i] as number) : 2 * (DURATION_BUCKETS_MS.at(-1) as number);
      return low + ((rank - seen) / c) * (high - low);
    }
    seen += c;
  }
  return DURATION_BUCKETS_MS.at(-1);
}
