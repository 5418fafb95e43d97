import { createHash } from "node:crypto";
import { z } from "zod";
import { Limits } from "../limits.js";
import { NAME_PATTERN, VERSION_ID_PATTERN } from "../names.js";
import { intField } from "../validation.js";
import { FunctionRecord } from "./function.js";
import { ServiceRecord } from "./service.js";

/** Body of `POST /services/{svc}/versions`. */
export const PublishVersionBody = z.object({
  description: z.string().max(Limits.descriptionChars, { error: `must be at most ${Limits.descriptionChars} characters` }).optional(),
});

/**
 * A published version of a service as stored in KV: the service's configuration at publish time;
 * its functions' snapshots are stored beside it (one record each), and `digest` says what the
 * service and its functions were, so publishing without a change is refused.
 */
export const VersionRecord = z.object({
  serviceName: z.string(),
  versionId: z.string().regex(VERSION_ID_PATTERN),
  description: z.string(),
  service: ServiceRecord,
  functions: z.array(z.string().regex(NAME_PATTERN)),
  digest: z.string(),
  createdTime: z.string(),
  lastModifiedTime: z.string(),
});
export type VersionRecord = z.output<typeof VersionRecord>;

/** A function's configuration frozen in a version (the function record as it was). */
export const VersionFunctionRecord = FunctionRecord;
export type VersionFunctionRecord = z.output<typeof VersionFunctionRecord>;

/** The last version id a service (or a layer) handed out: ids are never reused, even after a delete. */
export const CounterRecord = z.object({ last: z.number().int().min(0) });
export type CounterRecord = z.output<typeof CounterRecord>;

export function versionView(record: VersionRecord) {
  return {
    versionId: record.versionId,
    description: record.description,
    createdTime: record.createdTime,
    lastModifiedTime: record.lastModifiedTime,
  };
}

/**
 * What a service and its functions are, for "did anything change since the last version": every
 * field that a version freezes, none of the timestamps or ids that change without a change.
 */
export function serviceDigest(service: ServiceRecord, functions: FunctionRecord[]): string {
  const { createdTime: _c, lastModifiedTime: _m, serviceId: _id, tags: _tags, ...serviceConfig } = service;
  const fns = [...functions]
    .sort((a, b) => (a.functionName < b.functionName ? -1 : 1))
    .map(({ createdTime: _fc, lastModifiedTime: _fm, functionId: _fid, ...config }) => canonical(config));
  return createHash("sha256").update(JSON.stringify([canonical(serviceConfig), fns])).digest("hex");
}

/** A value with its object keys sorted, at any depth (so equal configurations serialize equally). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, canonical(v)]),
  );
}

/** Query of `GET /services/{svc}/versions`. */
export const ListVersionsQuery = z.object({
  limit: intField(1, Limits.listLimitMax).optional(),
  startKey: z.string().regex(VERSION_ID_PATTERN).optional(),
  nextToken: z.string().regex(VERSION_ID_PATTERN, { error: "is not a token this API returned" }).optional(),
  direction: z.enum(["FORWARD", "BACKWARD"]).optional(),
});
