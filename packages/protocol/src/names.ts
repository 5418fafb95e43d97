import { errors } from "./errors.js";

/** FC resource names: services, functions, triggers, aliases, layers. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
/** Version ids are decimal integers starting at 1. */
export const VERSION_ID_PATTERN = /^[1-9][0-9]{0,9}$/;
/** The mutable head qualifier. */
export const LATEST = "LATEST";

export type ResourceKind = "service" | "function" | "trigger" | "alias" | "layer" | "version" | "invocation";

/** True when `value` is a valid FC resource name. */
export function isValidName(value: unknown): value is string {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

/** Throws InvalidArgument unless `value` is a valid FC resource name. */
export function assertName(kind: ResourceKind, value: unknown): string {
  if (!isValidName(value)) {
    const shown = typeof value === "string" ? value : JSON.stringify(value);
    const what = kind === "invocation" ? "invocation id" : `${kind} name`;
    throw errors.invalidArgument(
      `${what} '${shown}' is invalid: it must start with a letter or underscore, contain only letters, digits, underscores and hyphens, and be 1 to 128 characters long`,
    );
  }
  return value;
}

/** A qualifier is LATEST, a version id or an alias name. */
export const QUALIFIER_PATTERN = /^(?:LATEST|[1-9][0-9]{0,9}|[A-Za-z_][A-Za-z0-9_-]{0,127})$/;

/** A qualifier is LATEST, a version id or an alias name. */
export function isValidQualifier(value: string): boolean {
  return QUALIFIER_PATTERN.test(value);
}

export interface QualifiedService {
  service: string;
  /** As given in the path, or undefined when none was given. */
  qualifier: string | undefined;
}

/** Splits the `{service}[.{qualifier}]` path segment FC uses, validating both parts. */
export function parseQualifiedService(segment: string): QualifiedService {
  const dot = segment.indexOf(".");
  if (dot === -1) return { service: assertName("service", segment), qualifier: undefined };
  const service = assertName("service", segment.slice(0, dot));
  const qualifier = segment.slice(dot + 1);
  if (!isValidQualifier(qualifier)) {
    throw errors.invalidArgument(`qualifier '${qualifier}' is invalid: use LATEST, a version id or an alias name`);
  }
  return { service, qualifier };
}
