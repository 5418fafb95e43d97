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
  return config.destination ? pino(options, config.destination as pino.DestinationStream) : pino(options);
}

/** A child logger for one module of a package or service. */
export function moduleLogger(root: Logger, module: string): Logger {
  return root.child({ module });
}
