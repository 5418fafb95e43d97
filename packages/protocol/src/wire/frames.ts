import type { Writable } from "node:stream";
import { decode, encode } from "./codec.js";

/**
 * Length-prefixed msgpack frames between an invoker and the runtime inside an instance (a pipe on
 * fd 3): `uint32 big-endian length` + msgpack body. Requests are multiplexed by `id`.
 */

/** What the instance's runtime needs to know about its function. */
export interface FunctionInfo {
  name: string;
  handler: string;
  memory: number;
  timeout: number;
  initializer: string;
  initializationTimeout: number;
  service: { name: string; logProject: string; logStore: string; qualifier: string; versionId: string };
  region: string;
  accountId: string;
  /**
   * `node` runs the handler in-process; `custom` starts the bootstrap and relays to caPort; `python`
   * is the Python runtime's (which imports the handler itself).
   */
  kind: "node" | "custom" | "python";
  /** The function's runtime name (`nodejs20`, `python3.10`…). */
  runtime?: string;
  /** FC's pre-stop hook (`file.export`), loaded with the handler; run when asked (`preStop`). */
  preStop?: string;
  caPort: number;
  /** Custom runtime: the command that starts the server (default `/code/bootstrap`). */
  command: string[];
  /** Custom runtime: where the command starts (default `/code`; a container image's WorkingDir). */
  cwd?: string;
  /**
   * Custom runtime: the command's environment (default: the runtime's own). A container image's
   * comes from its config, apart from the runtime's, so nothing in it (NODE_OPTIONS…) reaches the runtime.
   */
  env?: Record<string, string>;
  /**
   * false: FC's non-web-server mode of container images — no server; each invocation runs the
   * command to completion with the event in FC_CUSTOM_CONTAINER_EVENT, and exit code 0 is success.
   */
  webServerMode?: boolean;
  /** What one invocation may print (the invoker drops the rest); a single bigger write is not even shipped. */
  maxOutputBytes: number;
  /**
   * The runtime's own environment, replacing the one it started with, before anything of the
   * function loads: a pre-started sandbox boots with the platform's paths only and learns which
   * function it serves (and that function's variables) here.
   */
  processEnv?: Record<string, string>;
}

export interface HttpRequestInfo {
  method: string;
  /** The path after `/proxy/{svc}/{fn}`, starting with `/`. */
  path: string;
  queries: Record<string, string | string[]>;
  headers: Record<string, string | string[]>;
  clientIP: string;
  /** The request target as received (path and query), e.g. `/2016-08-15/proxy/svc/fn/a?b=1`. */
  url: string;
  /** What precedes `path` in the URL (`/2016-08-15/proxy/svc/fn`), sent to custom runtimes as x-fc-base-path. */
  basePath: string;
}

export interface HttpResponseInfo {
  status: number;
  headers: Record<string, string | string[]>;
}

export interface InvocationContextInfo {
  requestId: string;
  qualifier: string;
  versionId: string;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken: string };
  traceparent?: string;
  /** FC's OpenTracing baggage the caller sent (`x-fc-tracing-opentracing-span-context-baggage-*`). */
  baggage?: Record<string, string>;
  /** The Jaeger endpoint of the service's tracingConfig (FC's `context.tracing.jaegerEndpoint`). */
  jaegerEndpoint?: string;
  /** Absolute deadline (epoch ms) the runtime may use for `context.getRemainingTimeInMillis`-style checks. */
  deadline: number;
}

/** Invoker → instance. */
export type ToInstance =
  | { t: "load"; fn: FunctionInfo }
  | { t: "initialize"; id: number; ctx: InvocationContextInfo }
  | { t: "invoke"; id: number; kind: "event"; ctx: InvocationContextInfo; body: Uint8Array }
  | { t: "invoke"; id: number; kind: "http"; ctx: InvocationContextInfo; body: Uint8Array; http: HttpRequestInfo }
  | { t: "ping"; id: number }
  /** The instance is about to be stopped: run the pre-stop hook, answer `preStopped`. */
  | { t: "preStop"; id: number; ctx: InvocationContextInfo };

export type ErrorType = "HandledInvocationError" | "UnhandledInvocationError";

export interface FunctionError {
  errorType: ErrorType;
  errorMessage: string;
  /** The JSON body the caller receives (`{errorMessage, errorType, stackTrace}`). */
  body: Uint8Array;
}

/**
 * Instance → invoker. The function's code can write these too: the invoker validates every frame
 * (`parseFromInstance`) and takes none of its own figures (memory, duration) from them.
 */
export type FromInstance =
  | { t: "hello"; pid: number }
  | { t: "loaded"; error?: FunctionError }
  | { t: "initialized"; id: number; error?: FunctionError }
  | { t: "result"; id: number; body: Uint8Array; http?: HttpResponseInfo }
  | { t: "error"; id: number; error: FunctionError }
  | { t: "log"; id: number; stream: 1 | 2; data: Uint8Array }
  | { t: "pong"; id: number }
  | { t: "preStopped"; id: number; error?: FunctionError }
  /** The runtime is about to exit (an uncaught error): send it nothing more. */
  | { t: "fatal"; message: string };

/** The file descriptor the control channel is on inside an instance. */
export const CONTROL_FD = 3;

/** The largest frame either side accepts (a 32 MB payload plus headroom). */
export const MAX_FRAME_BYTES = 40 * 1024 * 1024;

/** One frame ready to write. */
export function frame(message: unknown): Buffer {
  const body = encode(message);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * Writes frames to a stream: the frames sent during one event-loop turn leave in one write, except
 * those sent `now`, which leave at once with everything before them (function output: a function
 * that prints and then blocks its event loop, or is killed, must not take its output with it).
 */
export class FrameWriter<T = ToInstance | FromInstance> {
  private corked = false;

  constructor(private readonly stream: Writable) {}

  send(message: T, now = false): void {
    if (now) {
      this.uncork();
      this.stream.write(frame(message));
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      setImmediate(() => this.uncork());
    }
    this.stream.write(frame(message));
  }

  /** Bytes written but not yet handed to the OS (the pipe is full, or the writes are corked). */
  get pendingBytes(): number {
    return this.stream.writableLength;
  }

  /** Resolves once everything written so far has been handed to the OS. */
  flush(): Promise<void> {
    this.uncork();
    return new Promise((resolve) => this.stream.write(Buffer.alloc(0), () => resolve()));
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.stream.uncork();
  }
}

/**
 * Reassembles frames from a byte stream. `maxFrameBytes` bounds what a (possibly hostile) peer can
 * make us buffer; a bigger frame is a protocol error.
 */
export class FrameReader<T> {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly onFrame: (message: T) => void,
    /** May change between frames (a peer allowed more once it has said who it is). */
    public maxFrameBytes: number,
  ) {}

  /** Feeds bytes; throws on a frame over the limit or an undecodable one. */
  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.pendingBytes < 4) return;
      const head = this.pending[0] as Buffer;
      const buffer = head.length >= 4 ? head : this.flatten();
      const length = buffer.readUInt32BE(0);
      if (length > this.maxFrameBytes) throw new Error(`frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
      if (this.pendingBytes < 4 + length) return;
      const whole = buffer.length >= 4 + length ? buffer : this.flatten();
      const message = decode<T>(whole.subarray(4, 4 + length));
      this.consume(4 + length);
      this.onFrame(message);
    }
  }

  private flatten(): Buffer {
    const all = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [all];
    return all;
  }

  private consume(bytes: number): void {
    const head = this.pending[0] as Buffer;
    if (head.length === bytes) this.pending.shift();
    else this.pending[0] = head.subarray(bytes);
    this.pendingBytes -= bytes;
  }
}
