import { createHash } from "node:crypto";
import { effectiveFunction } from "./effective-function.js";
import type { FunctionRecord } from "./resources/function.js";

/**
 * The instance class of a function configuration: a short hash of the function's identity and of
 * everything that changes what an instance is (code or image digest, runtime, handler, limits,
 * environment, layers, an image's command…), not of what does not (description, timestamps). Instances are per class: a warm instance of one class never serves
 * another, and a changed function's old instances are retired.
 */
export function instanceClass(record: FunctionRecord, versionId = "LATEST"): string {
  let byVersion = cache.get(record);
  if (!byVersion) cache.set(record, (byVersion = new Map()));
  let cls = byVersion.get(versionId);
  if (cls === undefined) byVersion.set(versionId, (cls = computeClass(record, versionId)));
  return cls;
}

/** Records are immutable once stored; the hash is computed once per record object. */
const cache = new WeakMap<FunctionRecord, Map<string, string>>();

function computeClass(record: FunctionRecord, versionId: string): string {
  // What instances run with (FC's defaults applied), so an absent setting and its default are one class.
  const fn = effectiveFunction(record);
  const relevant = [
    // An instance belongs to one function: identical code deployed twice must never share instances.
    record.serviceName,
    record.functionName,
    versionId,
    record.codeSha256,
    record.runtime,
    record.handler,
    record.initializer ?? "",
    fn.initializationTimeoutMs / 1000,
    fn.timeoutMs / 1000,
    fn.memoryMb,
    fn.instanceConcurrency,
    fn.caPort,
    record.layers ?? [],
    record.customRuntimeConfig ?? {},
    Object.entries(record.environmentVariables ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    // Image functions: the pinned digest (a moved tag re-resolved means new instances) and how the
    // image starts. Appended only for them, so the classes of code functions stay what they were.
    // A pre-stop hook is part of what an instance runs; appended only when set, like an image's.
    ...(fn.preStop ? [fn.preStop.handler, fn.preStop.timeoutMs] : []),
    ...(record.customContainerConfig
      ? [record.resolvedImage?.pinned ?? "", record.customContainerConfig.command ?? "", record.customContainerConfig.args ?? "", record.customContainerConfig.webServerMode]
      : []),
  ];
  return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
}
