import { z } from "zod";
import { errors, type NimbusError } from "./errors.js";
import { Limits } from "./limits.js";

/** Turns the first zod issue into FC's InvalidArgument, naming the offending field. */
export function toInvalidArgument(error: z.ZodError): NimbusError {
  const issue = error.issues[0];
  if (!issue) return errors.invalidArgument("invalid request");
  const path = issue.path.map(String).join(".");
  return errors.invalidArgument(path ? `${path}: ${issue.message}` : issue.message);
}

/** Parses `value` with `schema`, throwing InvalidArgument on failure. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw toInvalidArgument(result.error);
  return result.data;
}

/**
 * An integer field that also accepts a decimal string, as FC does (`initializationTimeout: '20'`
 * reads back as 20).
 */
export function intField(min: number, max: number) {
  return z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z
      .number({ error: "must be an integer" })
      .int({ error: "must be an integer" })
      .min(min, { error: `must be between ${min} and ${max}` })
      .max(max, { error: `must be between ${min} and ${max}` }),
  );
}

/** A boolean field that also accepts "true"/"false". */
export function boolField() {
  return z.preprocess(
    (v) => (v === "true" ? true : v === "false" ? false : v),
    z.boolean({ error: "must be a boolean" }),
  );
}

/** Keys no JSON object from a client may carry (prototype pollution). */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** A string-to-string map with validated keys, no prototype keys, and a size limit. */
export function stringMap(opts: { keyPattern: RegExp; keyHint: string; maxBytes?: number; maxEntries?: number }) {
  const key = z.string().refine((k) => !FORBIDDEN_KEYS.has(k) && opts.keyPattern.test(k), {
    error: (issue) => `key '${String(issue.input)}' is invalid: ${opts.keyHint}`,
  });
  return z.record(key, z.string({ error: "values must be strings" })).superRefine((map, ctx) => {
    const entries = Object.entries(map);
    const bytes = entries.reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (opts.maxEntries !== undefined && entries.length > opts.maxEntries) {
      ctx.addIssue({ code: "custom", message: `at most ${opts.maxEntries} entries are allowed` });
    }
    if (opts.maxBytes !== undefined && bytes > opts.maxBytes) {
      ctx.addIssue({ code: "custom", message: `total size ${bytes} bytes exceeds the limit of ${opts.maxBytes} bytes` });
    }
  });
}

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Throws InvalidArgument if a JSON text nests arrays and objects deeper than `maxDepth`. One pass
 * over the text, before parsing: every walk over a parsed value (prototype-key checks, null removal,
 * schemas) recurses, and a body 100,000 levels deep would overflow the stack.
 */
export function assertJsonDepth(text: string, maxDepth: number = Limits.jsonDepth): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) throw errors.invalidArgument(`the JSON body nests deeper than ${maxDepth} levels`);
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
}

function tooDeep(): NimbusError {
  return errors.invalidArgument(`the JSON body nests deeper than ${Limits.jsonDepth} levels`);
}

/** Throws InvalidArgument if any object in a parsed JSON value has a `__proto__` or `constructor` key. */
export function assertNoPrototypeKeys(value: unknown, path = "", depth = 0): void {
  if (value === null || typeof value !== "object") return;
  if (depth >= Limits.jsonDepth) throw tooDeep();
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertNoPrototypeKeys(v, `${path}[${i}]`, depth + 1));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === "__proto__" || key === "constructor") throw errors.invalidArgument(`${at}: the key '${key}' is not allowed`);
    assertNoPrototypeKeys(v, at, depth + 1);
  }
}

/**
 * FC's Go SDK sends `null` for every field it does not set; FC reads null as "absent". Returns a copy
 * of a parsed JSON value without null-valued object members, at any depth (up to Limits.jsonDepth).
 */
export function dropNulls(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= Limits.jsonDepth) throw tooDeep();
  if (Array.isArray(value)) return value.map((v) => dropNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && !FORBIDDEN_KEYS.has(key)) out[key] = dropNulls(v, depth + 1);
  }
  return out;
}
