/** The last `limit` bytes written, for `x-fc-log-type: Tail`. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(data: Uint8Array): void {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.bytes -= (this.chunks.shift() as Buffer).length;
    }
  }

  /** At most `limit` bytes: the end of what was written. */
  read(): Buffer {
    const all = Buffer.concat(this.chunks, this.bytes);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}

/** Which instance output comes from. */
export interface LogSource {
  instanceId: string;
  service: string;
  fn: string;
  /** The concrete version the instance runs ("" for LATEST). */
  versionId: string;
}

/** Where an instance's output goes: every line, attributed to its request when known. */
export interface LogSink {
  /**
   * A chunk of function output; `request` is undefined for output outside any invocation.
   * Returns false when the output was refused because its function or instance prints faster than
   * its output rate: the caller should read from that instance more slowly for a while.
   */
  write(source: LogSource, request: { requestId: string; qualifier: string } | undefined, stream: "stdout" | "stderr", data: Uint8Array): boolean;
  /** One whole line of the platform's own (FC's start and end markers, why a start failed), without its newline: never capped. */
  line(source: LogSource, request: { requestId: string; qualifier: string } | undefined, stream: "stdout" | "stderr", text: string): void;
  /**
   * An invocation ended: what is still buffered for it goes out, and its output budget is forgotten.
   * With requestId "", the instance is gone: the same for what it printed outside any invocation.
   */
  end(source: LogSource, requestId: string): void;
}

/** An invocation as its output sees it: its request, and its tail when the caller asked for one. */
export interface OutputOwner {
  input: { requestId: string; qualifier: string };
  tail: TailBuffer | undefined;
}

/** How much of an invocation's output `x-fc-log-type: Tail` returns. */
const TAIL_BYTES = 4 * 1024;
/** How much of what an instance printed outside any invocation is kept (a failed start shows it). */
const OUTSIDE_BYTES = 2048;

/**
 * Where one instance's output goes: an invocation's to its tail and to the sink under its request;
 * the rest (start-up, module load, output no single invocation owns) to the sink on its own, and
 * kept for a failed start's message and the next cold start's tail.
 */
export class InstanceOutput {
  private readonly outside = new TailBuffer(OUTSIDE_BYTES);

  constructor(
    private readonly sink: LogSink,
    private readonly source: LogSource,
  ) {}

  /** A tail for an invocation; a cold start's begins with what the instance printed while starting. */
  tail(coldStart: boolean): TailBuffer {
    const tail = new TailBuffer(TAIL_BYTES);
    if (coldStart) tail.push(this.outside.read());
    return tail;
  }

  /** The function's output. False when it prints faster than its output rate: read from it more slowly for a while. */
  write(owner: OutputOwner | undefined, stream: "stdout" | "stderr", data: Uint8Array): boolean {
    if (owner) owner.tail?.push(data);
    else this.outside.push(data);
    return this.sink.write(this.source, owner && requestOf(owner), stream, data);
  }

  /** A platform line in an invocation's log (FC's start and end markers): never capped. */
  platform(owner: OutputOwner, line: string): void {
    owner.tail?.push(Buffer.from(`${line}\n`));
    this.sink.line(this.source, requestOf(owner), "stdout", line);
  }

  /** The invocation ended: what is still buffered for it goes out. */
  end(owner: OutputOwner): void {
    this.sink.end(this.source, owner.input.requestId);
  }

  /** The instance is gone: what it printed outside any invocation goes out. */
  gone(): void {
    this.sink.end(this.source, "");
  }

  /** What the instance printed outside any invocation (the end of it). */
  printed(): Buffer {
    return this.outside.read();
  }

  /** Says in the function's log why the instance failed to start; returns what it printed, that line last. */
  startFailed(message: string): Buffer {
    const line = `[nimbus] the instance failed to start: ${message}`;
    this.sink.line(this.source, undefined, "stderr", line);
    this.gone();
    return Buffer.concat([this.outside.read(), Buffer.from(`${line}\n`)]);
  }
}

function requestOf(owner: OutputOwner): { requestId: string; qualifier: string } {
  return { requestId: owner.input.requestId, qualifier: owner.input.qualifier };
}

/** The report line FC ends an invocation's log tail with. */
export function reportLine(durationMs: number, memorySizeMb: number, maxMemoryMb: number): Buffer {
  const billed = Math.max(1, Math.ceil(durationMs));
  return Buffer.from(`\nDuration: ${durationMs.toFixed(2)} ms, Billed Duration: ${billed} ms, Memory Size: ${memorySizeMb} MB, Max Memory Used: ${maxMemoryMb.toFixed(2)} MB\n`);
}
