import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import type { Channel } from "./channel.js";

/** The invocation the current async context belongs to. */
export interface InvocationScope {
  /** Frame id of the invocation (0 outside any invocation). */
  id: number;
  requestId: string;
}

export const scope = new AsyncLocalStorage<InvocationScope>();

type Write = typeof process.stdout.write;

/** Output leaves in frames of at most this much, so no write is ever copied whole. */
const CHUNK_BYTES = 64 * 1024;
/** What one write may be; the invoker caps each invocation's output at this (FunctionInfo.maxOutputBytes). */
let maxWriteBytes = 10 * 1024 * 1024;

/**
 * Output the invoker has not taken yet beyond this is dropped (and said so) rather than held: a
 * function that floods its output must not run itself out of memory doing it. One invocation's
 * worth is held (a loop that prints without yielding cannot let the pipe drain), since the invoker
 * keeps no more than that of it anyway.
 */
const maxPendingBytes = () => maxWriteBytes + 1024 * 1024;

/** Sets the largest single write shipped (the function's per-invocation output limit). */
export function setOutputLimit(bytes: number): void {
  maxWriteBytes = bytes;
}

/**
 * Sends everything the function writes through process.stdout / process.stderr (console included)
 * to the invoker as log frames tagged with the invocation it was written in, so output is
 * attributed to the right request even when an instance serves several at once. Frames leave at
 * once (output written before a busy loop or a crash is not lost), in chunks; a single write over
 * the output limit is replaced by a note rather than copied (a 100 MB string would be copied
 * twice over in a 128 MB instance), and output the pipe cannot take is dropped and counted.
 */
export function captureOutput(channel: Channel): void {
  /** Output dropped since the pipe last had room, and the invocation it belonged to (its note goes there). */
  let dropped: { id: number; bytes: number } | undefined;
  const send = (fd: 1 | 2, data: Uint8Array) => {
    const id = scope.getStore()?.id ?? 0;
    if (channel.pendingBytes > maxPendingBytes()) {
      if (dropped && dropped.id === id) dropped.bytes += data.length;
      else dropped = { id, bytes: data.length };
      return;
    }
    if (dropped) {
      const note = `[nimbus] ${dropped.bytes} bytes of output were dropped: they were written faster than they could be shipped\n`;
      channel.send({ t: "log", id: dropped.id, stream: 2, data: Buffer.from(note) }, true);
      dropped = undefined;
    }
    channel.send({ t: "log", id, stream: fd, data }, true);
  };
  const ship = (fd: 1 | 2, chunk: string | Uint8Array, encoding: BufferEncoding) => {
    if (chunk.length > maxWriteBytes) {
      // Not even a slice of it: slicing a string flattens all of it first.
      const what = typeof chunk === "string" ? `${chunk.length} characters` : `${chunk.length} bytes`;
      send(2, Buffer.from(`[nimbus] a single write of ${what} was dropped: it exceeds the output limit of ${Math.round(maxWriteBytes / 1024 / 1024)} MB per invocation\n`));
      return;
    }
    const data = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    for (let at = 0; at < data.length; at += CHUNK_BYTES) send(fd, data.subarray(at, at + CHUNK_BYTES));
  };
  for (const [stream, fd] of [
    [process.stdout, 1],
    [process.stderr, 2],
  ] as const) {
    const write: Write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error) => void), cb?: (err?: Error) => void) => {
      const callback = typeof encoding === "function" ? encoding : cb;
      ship(fd, chunk, typeof encoding === "string" ? encoding : "utf8");
      if (callback) process.nextTick(callback);
      return true;
    }) as Write;
    stream.write = write;
  }
}

/**
 * FC's Node.js log line: `<ISO time> <requestId> [<level>] <message>`, one line per call (embedded
 * newlines become `\r`, as FC's runtime does, so a multi-line message stays one log record).
 */
export function logLine(level: string, args: unknown[]): string {
  const requestId = scope.getStore()?.requestId ?? "";
  return `${new Date().toISOString()} ${requestId} [${level}] ${format(...args).replace(/\n/g, "\r")}\n`;
}

/** A logger with FC's levels that writes FC-formatted lines (used for console.* and context.logger). */
export function createLogger(write: (line: string, stream: 1 | 2) => void) {
  const at = (level: string, stream: 1 | 2) => (...args: unknown[]) => write(logLine(level, args), stream);
  return {
    debug: at("debug", 1),
    info: at("info", 1),
    log: at("verbose", 1),
    verbose: at("verbose", 1),
    warn: at("warn", 2),
    error: at("error", 2),
  };
}

/** Routes console.* through FC's line format. */
export function patchConsole(): void {
  const logger = createLogger((line, stream) => (stream === 1 ? process.stdout : process.stderr).write(line));
  console.log = logger.log;
  console.info = logger.info;
  console.debug = logger.debug;
  console.warn = logger.warn;
  console.error = logger.error;
  console.trace = (...args: unknown[]) => logger.error(format(...args), new Error().stack?.split("\n").slice(2).join("\n") ?? "");
}
