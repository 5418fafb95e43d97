import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

export interface LoggerConfig {
  /** The process's service name (gateway, invoker, …), bound to every line. */
  service: string;
  /** This process's node id, bound to every line. */
  node?: string;
  level?: string;
  /** Where lines go (stdout by default). */
  destination?: NodeJS.WritableStream;
}

/**
 * The one pino root logger of a process. Packages never create loggers; they take one (usually a
 * `child({ module })` of this root). Messages are constants; the variable parts are fields.
 */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? "info",
    base: { service: config.service, ...(config.node ? { node: config.node } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ["req.headers.authorization", "*.accessKeySecret", "*.password", "*.token"],
      censor: "[redacted]",
    },
  };
  return pino(options, (config.destination as pino.DestinationStream | undefined) ?? stdout());
}

/** How long stdout may stay full before this process stops writing to it. */
const STDOUT_STALL_MS = 2_000;
/** What may wait for stdout meanwhile; more is dropped. */
const STDOUT_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Stdout as pino writes it by default (asynchronously, flushed at exit), but never at the cost of
 * the process: a reader that is gone or stuck (a supervisor that died, a full pipe) makes writes
 * fail with EAGAIN, which the writer retries forever — at exit synchronously, with the event loop
 * blocked, so the process never ends. After STDOUT_STALL_MS of that, lines are dropped instead.
 */
function stdout(): pino.DestinationStream {
  let stalledSince = 0;
  let lastStall = 0;
  const stream = pino.destination({
    dest: 1,
    sync: false,
    maxLength: STDOUT_BUFFER_BYTES,
    retryEAGAIN: () => {
      const now = Date.now();
      if (now - lastStall > 500) stalledSince = now;
      lastStall = now;
      return now - stalledSince < STDOUT_STALL_MS;
    },
  });
  const giveUp = () => {
    stream.write = () => true;
    stream.flushSync = () => undefined;
  };
  // Given up (stalled, or the reader closed): stop writing; the process goes on.
  stream.on("error", giveUp);
  const flushSync = stream.flushSync.bind(stream);
  stream.flushSync = () => {
    try {
      flushSync();
    } catch {
      giveUp();
    }
  };
  return stream;
}
