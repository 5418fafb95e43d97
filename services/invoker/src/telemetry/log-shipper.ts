import type { NatsConnection } from "@nats-io/nats-core";
import type { LogBatch, LogLine, Naming } from "@nimbus/protocol";
import type { LogSink, LogSource } from "../instances/log.js";
import { OutputBudget, type RateLimit } from "./output-budget.js";

export interface LogShipperOptions {
  /** Lines longer than this are split into marked parts. */
  maxLineBytes: number;
  /** What one invocation may print; the rest is dropped after one marker line. */
  maxBytesPerInvocation: number;
  /** What all instances of one function on this node may print, on average and in a burst. */
  functionRate: RateLimit;
  /** What one instance may print outside any invocation (module scope, timers, child processes). */
  idleRate: RateLimit;
  /** Lines waiting to go out beyond this are dropped (NATS cannot keep up): never slow the function. */
  maxQueuedBytes: number;
  flushMs: number;
}

interface Buffered {
  request: { requestId: string; qualifier: string } | undefined;
  /** A line not ended yet, per stream. */
  partial: { 1: Buffer[]; 2: Buffer[] };
  /** Parts of that line already sent, per stream (0: none, it may still go out whole). */
  parts: { 1: number; 2: number };
  bytes: number;
  capped: boolean;
}

const MAX_BATCH_BYTES = 256 * 1024;
/** `end`, moved back (at most 3 bytes) so a cut never falls inside a UTF-8 character. */
function utf8Boundary(buf: Buffer, end: number): number {
  if (end >= buf.length) return buf.length;
  let at = end;
  while (at > end - 3 && ((buf[at] as number) & 0xc0) === 0x80) at--;
  return at;
}
const encoder = new TextEncoder();

/**
 * Function output, line by line, on its way to the logs stream: split into lines per request and
 * stream, over-long lines cut into marked parts, each invocation capped (with one truncation
 * marker), and published in batches per function on `<prefix>.logs.<svc>.<fn>` — a plain NATS
 * publish the stream captures, so nothing here waits on the collector or the stream, and output
 * beyond what NATS can take is counted and dropped rather than slowing the function down.
 *
 * Output is also rationed over time, before any work is spent on it: each function on this node
 * gets a byte rate (all its instances together), and each instance a smaller one for what it prints
 * outside any invocation, so one function flooding from module scope, timers or child processes
 * can neither swamp the stream nor starve this node. What is refused is counted and noted in the
 * function's log at most once a second.
 */
export class LogShipper implements LogSink {
  private readonly open = new Map<string, Buffered>();
  private readonly functionBudgets = new Map<string, OutputBudget>();
  private readonly idleBudgets = new Map<string, OutputBudget>();
  /** Bytes of output refused by the rate limits (since start). */
  rateLimitedBytes = 0;
  /** What the lines emitted so far will take in the stream, roughly (a write is charged the difference it made). */
  private emittedBytes = 0;
  private readonly queued = new Map<string, { service: string; fn: string; lines: LogLine[]; bytes: number }>();
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Lines dropped because NATS could not keep up (and were not capped by the per-invocation limit). */
  dropped = 0;
  /** Lines cut by the per-invocation limit. */
  truncated = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly naming: Naming,
    private readonly options: LogShipperOptions,
  ) {}

  line(source: LogSource, request: { requestId: string; qualifier: string } | undefined, stream: "stdout" | "stderr", text: string): void {
    // The platform's lines always go out, whole, after whatever the function left unfinished.
    const s = stream === "stderr" ? 2 : 1;
    const buffered = this.open.get(`${source.instanceId}\u0000${request?.requestId ?? ""}`);
    if (buffered) this.flushPartial(source, request, s, buffered);
    if (!text.includes("\n")) this.emit(source, request, s, text);
    else for (const part of text.split("\n")) this.emit(source, request, s, part);
  }

  write(source: LogSource, request: { requestId: string; qualifier: string } | undefined, stream: "stdout" | "stderr", data: Uint8Array): boolean {
    const requestId = request?.requestId ?? "";
    const key = `${source.instanceId}\u0000${requestId}`;
    let buffered = this.open.get(key);
    if (!buffered) this.open.set(key, (buffered = { request, partial: { 1: [], 2: [] }, parts: { 1: 0, 2: 0 }, bytes: 0, capped: false }));
    const s = stream === "stderr" ? 2 : 1;
    if (buffered.capped) {
      this.truncated++;
      return true;
    }
    const budgets = this.admit(source, request, data.length);
    if (!budgets) return false;
    const emittedBefore = this.emittedBytes;
    try {
      return this.take(source, request, s, buffered, requestId, data);
    } finally {
      // Charged what it cost once split into attributed lines, not what was written.
      const cost = this.emittedBytes - emittedBefore;
      for (const budget of budgets) budget.spend(cost);
    }
  }

  /** Applies the per-invocation cap, and splits what passes into lines. */
  private take(source: LogSource, request: { requestId: string; qualifier: string } | undefined, s: 1 | 2, buffered: Buffered, requestId: string, data: Uint8Array): boolean {
    if (requestId && buffered.bytes + data.length > this.options.maxBytesPerInvocation) {
      buffered.capped = true;
      const room = Math.max(0, this.options.maxBytesPerInvocation - buffered.bytes);
      if (room > 0) this.lines(source, request, s, buffered, Buffer.from(data.buffer, data.byteOffset, room));
      this.flushPartial(source, request, s, buffered);
      const mb = Math.round(this.options.maxBytesPerInvocation / 1024 / 1024);
      this.emit(source, request, s, `[nimbus] output truncated: this invocation printed more than ${mb} MB; the rest was dropped`);
      return true;
    }
    buffered.bytes += data.length;
    this.lines(source, request, s, buffered, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return true;
  }

  /**
   * Admits output against its function's budget (and, outside any invocation, its instance's):
   * the budgets to charge once it is split into lines, or undefined when either is spent. A note
   * says what was refused, at most once a second.
   */
  private admit(source: LogSource, request: { requestId: string; qualifier: string } | undefined, bytes: number): OutputBudget[] | undefined {
    const now = Date.now();
    const fnKey = `${source.service}\u0000${source.fn}`;
    let fnBudget = this.functionBudgets.get(fnKey);
    if (!fnBudget) this.functionBudgets.set(fnKey, (fnBudget = new OutputBudget(this.options.functionRate, now)));
    let idleBudget: OutputBudget | undefined;
    if (!request) {
      idleBudget = this.idleBudgets.get(source.instanceId);
      if (!idleBudget) this.idleBudgets.set(source.instanceId, (idleBudget = new OutputBudget(this.options.idleRate, now)));
    }
    // The instance's own budget first: output it may not print must not count against the function's.
    const ok = (idleBudget ? idleBudget.admit(bytes, now) : true) && fnBudget.admit(bytes, now);
    if (!ok) this.rateLimitedBytes += bytes;
    const idleDropped = idleBudget?.noteDue(now) ?? 0;
    if (idleDropped > 0) {
      const rate = formatBytes(this.options.idleRate.bytesPerSecond);
      this.emit(source, request, 2, `[nimbus] output dropped: this instance printed more than ${rate}/s outside any invocation (${idleDropped} bytes dropped)`);
    }
    const fnDropped = fnBudget.noteDue(now);
    if (fnDropped > 0) {
      const rate = formatBytes(this.options.functionRate.bytesPerSecond);
      this.emit(source, request, 2, `[nimbus] output dropped: this function printed more than ${rate}/s on this node (${fnDropped} bytes dropped)`);
    }
    if (!ok) return undefined;
    return idleBudget ? [idleBudget, fnBudget] : [fnBudget];
  }

  /** Forgets an instance's budget (it is gone) and those of functions that have not printed in a while. */
  private forget(instanceId: string): void {
    this.idleBudgets.delete(instanceId);
    const now = Date.now();
    for (const [key, budget] of this.functionBudgets) if (budget.idle(now)) this.functionBudgets.delete(key);
  }

  end(source: LogSource, requestId: string): void {
    if (requestId === "") this.forget(source.instanceId);
    const key = `${source.instanceId}\u0000${requestId}`;
    const buffered = this.open.get(key);
    if (!buffered) return;
    this.open.delete(key);
    for (const s of [1, 2] as const) this.flushPartial(source, buffered.request, s, buffered);
  }

  /** Sends what is queued now (called on stop). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [subject, batch] of this.queued) {
      const body: LogBatch = { service: batch.service, function: batch.fn, lines: batch.lines };
      if (!this.nc.isClosed()) this.nc.publish(subject, encoder.encode(JSON.stringify(body)));
    }
    this.queued.clear();
    this.queuedBytes = 0;
  }

  private lines(source: LogSource, request: { requestId: string; qualifier: string } | undefined, s: 1 | 2, buffered: Buffered, data: Buffer): void {
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      buffered.partial[s].push(data.subarray(start, nl));
      this.flushPartial(source, request, s, buffered, true);
      start = nl + 1;
    }
    if (start < data.length) {
      buffered.partial[s].push(data.subarray(start));
      // A line that never ends still goes out, in marked parts, as soon as a part is full.
      const pending = buffered.partial[s].reduce((n, b) => n + b.length, 0);
      if (pending >= this.options.maxLineBytes) this.flushPartial(source, request, s, buffered, false);
    }
  }

  /**
   * Emits the line buffered for a stream: whole when it ended and fits, else in parts numbered
   * from 1 across every flush of that line. Mid-line only full parts go out; the rest waits.
   */
  private flushPartial(source: LogSource, request: { requestId: string; qualifier: string } | undefined, s: 1 | 2, buffered: Buffered, complete = true): void {
    const chunks = buffered.partial[s];
    if (chunks.length === 0) return;
    let line = Buffer.concat(chunks);
    buffered.partial[s] = [];
    if (complete && line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1); // CRLF
    const max = this.options.maxLineBytes;
    if (complete && buffered.parts[s] === 0 && line.length <= max) {
      this.emit(source, request, s, line.toString("utf8"));
      return;
    }
    let at = 0;
    while (line.length - at > max || (complete && at < line.length)) {
      const end = utf8Boundary(line, Math.min(at + max, line.length));
      this.emit(source, request, s, line.subarray(at, end).toString("utf8"), ++buffered.parts[s]);
      at = end;
    }
    if (complete) buffered.parts[s] = 0;
    else if (at < line.length) buffered.partial[s] = [line.subarray(at)];
  }

  private emit(source: LogSource, request: { requestId: string; qualifier: string } | undefined, s: 1 | 2, message: string, part?: number): void {
    if (this.queuedBytes > this.options.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    const subject = this.naming.subjects.logs(source.service, source.fn);
    let batch = this.queued.get(subject);
    if (!batch) this.queued.set(subject, (batch = { service: source.service, fn: source.fn, lines: [], bytes: 0 }));
    const line: LogLine = { t: Date.now(), r: request?.requestId ?? "", i: source.instanceId, q: request?.qualifier || (source.versionId ? source.versionId : "LATEST"), v: source.versionId, s, m: message, ...(part ? { p: part } : {}) };
    const size = message.length + 120;
    this.emittedBytes += size;
    batch.lines.push(line);
    batch.bytes += size;
    this.queuedBytes += size;
    if (batch.bytes >= MAX_BATCH_BYTES) {
      this.queued.delete(subject);
      this.queuedBytes -= batch.bytes;
      if (!this.nc.isClosed()) this.nc.publish(subject, encoder.encode(JSON.stringify({ service: batch.service, function: batch.fn, lines: batch.lines } satisfies LogBatch)));
    }
    this.timer ??= setTimeout(() => this.flush(), this.options.flushMs);
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MB` : `${Math.round(bytes / 1024)} KB`;
}
