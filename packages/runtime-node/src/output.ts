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

/**
 * Sends everything the function writes through process.stdout / process.stderr (console included)
 * to the invoker as log frames tagged with the invocation it was written in, so output is
 * attributed to the right request even when an instance serves several at once.
 */
export function captureOutput(channel: Channel): void {
  for (const [stream, fd] of [
    [process.stdout, 1],
    [process.stderr, 2],
  ] as const) {
    const write: Write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error) => void), cb?: (err?: Error) => void) => {
      const callback = typeof encoding === "function" ? encoding : cb;
      const data = typeof chunk === "string" ? Buffer.from(chunk, typeof encoding === "string" ? encoding : "utf8") : chunk;
      channel.send({ t: "log", id: scope.getStore()?.id ?? 0, stream: fd, data });
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
