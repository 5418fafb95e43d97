import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { errors, Headers } from "@nimbus/protocol";

/** JSON with object keys sorted, so equal records hash equally whatever order their keys were built in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** A resource's ETag: the MD5 of its stored form, 32 hex digits, as FC shows it. */
export function etagOf(record: unknown): string {
  return createHash("md5").update(canonicalJson(record)).digest("hex");
}

/** Throws PreconditionFailed when the request's If-Match does not name the current version. */
export function checkIfMatch(req: FastifyRequest, record: unknown): void {
  const header = req.headers[Headers.ifMatch];
  if (header === undefined) return;
  const wanted = String(header).trim().replace(/^W\//, "").replace(/^"|"$/g, "");
  if (wanted !== "*" && wanted !== etagOf(record)) throw errors.preconditionFailed();
}

/** True when the request carries If-Match (then a concurrent change must fail, not be retried over). */
export function hasIfMatch(req: FastifyRequest): boolean {
  return req.headers[Headers.ifMatch] !== undefined;
}
