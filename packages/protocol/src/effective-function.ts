import { Defaults } from "./limits.js";
import { isCustomRuntime } from "./runtimes.js";
import type { FunctionRecord } from "./resources/function.js";

/**
 * A function as its instances run it: the record with FC's defaults applied once, so no caller
 * repeats `?? 128` or `timeout ?? 3`.
 */
export interface EffectiveFunction {
  readonly record: FunctionRecord;
  readonly memoryMb: number;
  readonly timeoutMs: number;
  readonly initializationTimeoutMs: number;
  readonly instanceConcurrency: number;
  readonly caPort: number;
  /** A custom runtime (`bootstrap` serving HTTP on caPort) rather than a Node.js handler. */
  readonly custom: boolean;
  readonly hasInitializer: boolean;
  /**
   * How long the function's own start-up (loading its module, or its server starting to listen) may
   * take: the longer of its timeout and its initialization timeout.
   */
  readonly loadTimeoutMs: number;
}

/** Applies FC's defaults to a function record. */
export function effectiveFunction(record: FunctionRecord): EffectiveFunction {
  const timeoutMs = (record.timeout ?? Defaults.timeoutSeconds) * 1000;
  const initializationTimeoutMs = (record.initializationTimeout ?? Defaults.initializationTimeoutSeconds) * 1000;
  return {
    record,
    memoryMb: record.memorySize ?? Defaults.memorySizeMb,
    timeoutMs,
    initializationTimeoutMs,
    instanceConcurrency: Math.max(1, record.instanceConcurrency ?? Defaults.instanceConcurrency),
    caPort: record.caPort ?? Defaults.caPort,
    custom: isCustomRuntime(record.runtime),
    hasInitializer: Boolean(record.initializer),
    loadTimeoutMs: Math.max(timeoutMs, initializationTimeoutMs),
  };
}
