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
   * `platform` marks the platform's own lines (FC's start and end markers): never capped.
   * Returns false when the output was refused because its function or instance prints faster than
   * its output rate: the caller should read from that instance more slowly for a while.
   */
  write(source: LogSource, request: { requestId: string; qualifier: string } | undefined, stream: "stdout" | "stderr", data: Uint8Array, platform?: boolean): boolean;
  /**
   * An invocation ended: what is still buffered for it goes out, and its output budget is forgotten.
   * With requestId "", the instance is gone: the same for what it printed outside any invocation.
   */
  end(source: LogSource, requestId: string): void;
}
