import { instanceClass, LATEST, parseQualifiedService, assertName, type FunctionRecord } from "@nimbus/protocol";
import type { FunctionCatalog } from "../functions/catalog.js";

/** The concrete function configuration a call runs, and its instance class. */
export interface Target {
  service: string;
  fn: string;
  /** As the caller wrote it (defaults to LATEST). */
  qualifier: string;
  /** The concrete version; undefined for LATEST. */
  versionId: string | undefined;
  record: FunctionRecord;
  cls: string;
}

/** Resolves `{svc}[.{qualifier}]` and a function name against the watched metadata (404s as FC). */
export function resolveTarget(functions: FunctionCatalog, serviceSegment: string, functionName: string): Target {
  const { service, qualifier } = parseQualifiedService(serviceSegment);
  const fn = assertName("function", functionName);
  const record = functions.getQualified(service, qualifier, fn);
  const versionId = undefined;
  return { service, fn, qualifier: qualifier ?? LATEST, versionId, record, cls: instanceClass(record, versionId ?? LATEST) };
}
