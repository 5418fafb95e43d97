import { Defaults } from "./limits.js";
import { isCustomRuntime, isPythonRuntime } from "./runtimes.js";
import { containerArgv } from "./resources/custom-container.js";
import type { FunctionRecord } from "./resources/function.js";

/** How an image function's instances start (custom-container). */
export interface EffectiveContainer {
  /** The digest-pinned reference every node pulls (`registry/repository@sha256:…`), never the tag. */
  readonly pinned: string;
  readonly digest: string;
  /** Overrides of the image's Entrypoint and Cmd; undefined keeps the image's own. */
  readonly command: string[] | undefined;
  readonly args: string[] | undefined;
  /** true: the container serves HTTP on caPort (the custom-runtime contract); false: it runs once per call and exits 0. */
  readonly webServerMode: boolean;
}

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
  /** A Python handler (FC's python3 runtimes) rather than a Node.js one. */
  readonly python: boolean;
  readonly hasInitializer: boolean;
  /** Set for custom-container functions: the image and how it starts. */
  readonly container: EffectiveContainer | undefined;
  /** FC's `instanceLifecycleConfig.preStop`: run before an instance is stopped on purpose. */
  readonly preStop: { handler: string; timeoutMs: number } | undefined;
  /**
   * How long the function's own start-up (loading its module, or its server starting to listen) may
   * take: the longer of its timeout and its initialization timeout.
   */
  readonly loadTimeoutMs: number;
}

/**
 * Applies FC's defaults to a function record, once per record object: records are immutable once
 * stored, and every call reads its function's (an image's command is parsed from JSON).
 */
export function effectiveFunction(record: FunctionRecord): EffectiveFunction {
  let fn = cache.get(record);
  if (!fn) cache.set(record, (fn = compute(record)));
  return fn;
}

const cache = new WeakMap<FunctionRecord, EffectiveFunction>();

function compute(record: FunctionRecord): EffectiveFunction {
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
    python: isPythonRuntime(record.runtime),
    hasInitializer: Boolean(record.initializer),
    container: effectiveContainer(record),
    preStop: preStopOf(record),
    loadTimeoutMs: Math.max(timeoutMs, initializationTimeoutMs),
  };
}

/** FC's default lifecycle-hook timeout, in seconds. */
const DEFAULT_HOOK_TIMEOUT_SECONDS = 3;

function preStopOf(record: FunctionRecord): EffectiveFunction["preStop"] {
  const hook = (record.instanceLifecycleConfig as { preStop?: { handler?: unknown; timeout?: unknown } } | undefined)?.preStop;
  if (!hook || typeof hook.handler !== "string" || !hook.handler) return undefined;
  const seconds = typeof hook.timeout === "number" && hook.timeout > 0 ? hook.timeout : DEFAULT_HOOK_TIMEOUT_SECONDS;
  return { handler: hook.handler, timeoutMs: seconds * 1000 };
}

function effectiveContainer(record: FunctionRecord): EffectiveContainer | undefined {
  const config = record.customContainerConfig;
  const resolved = record.resolvedImage;
  if (!config || !resolved) return undefined;
  return { pinned: resolved.pinned, digest: resolved.digest, ...containerArgv(config), webServerMode: config.webServerMode };
}
