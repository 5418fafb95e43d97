import type { FastifyReply, FastifyRequest } from "fastify";
import { CHAIN_DEPTH_BAGGAGE, chainDepthAfter, errors } from "@nimbus/protocol";
import type { InvocationOutcome } from "@nimbus/protocol/wire";

/** The `x-fc-*` request headers a caller may send on an invocation; anything else `x-fc-*` is refused. */
const ALLOWED_FC_HEADERS = new Set([
  "x-fc-account-id",
  "x-fc-date",
  "x-fc-security-token",
  "x-fc-trace-id",
  "x-fc-invocation-type",
  "x-fc-log-type",
  "x-fc-stateful-async-invocation-id",
  "x-fc-stateful-async-invocation-enable",
  "x-fc-invocation-code-version",
  "x-fc-invoker-identity",
  "x-fc-code-checksum",
]);

/** Refuses `x-fc-*` headers FC does not document for invocations (callers may not impersonate the platform). */
export function checkFcHeaders(req: FastifyRequest): void {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith("x-fc-") && !ALLOWED_FC_HEADERS.has(name) && !name.startsWith("x-fc-tracing-")) {
      throw errors.invalidArgument(`the request header '${name}' is not allowed`);
    }
  }
}

function single(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `x-fc-invocation-type`: Sync (default) or Async, case-insensitive. */
export function invocationType(req: FastifyRequest): "Sync" | "Async" {
  const value = single(req, "x-fc-invocation-type");
  if (value === undefined || value === "") return "Sync";
  const lower = value.toLowerCase();
  if (lower === "sync") return "Sync";
  if (lower === "async") return "Async";
  throw errors.invalidArgument(`InvocationType is set to an invalid value (allowed: Sync | Async, actual: '${value}')`);
}

/** `x-fc-log-type`: None (default) or Tail; Async invocations only take None. */
export function logType(req: FastifyRequest, type: "Sync" | "Async"): "Tail" | "None" {
  const value = single(req, "x-fc-log-type");
  if (value === undefined || value === "") return "None";
  const allowed = type === "Async" ? ["None"] : ["Tail", "None"];
  if (!allowed.includes(value)) {
    throw errors.invalidArgument(`LogType is set to an invalid value (allowed: ${allowed.join(" | ")}, actual: '${value}')`);
  }
  return value as "Tail" | "None";
}

/** The `traceparent` to carry (W3C), when the caller sent a well-formed one. */
export function traceparentOf(req: FastifyRequest): string | undefined {
  const value = single(req, "traceparent");
  if (value && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)) return value;
  return traceparentOfJaeger(single(req, OPENTRACING_HEADER));
}

/** FC's OpenTracing span context header (Jaeger's `trace:span:parent:flags`) and its baggage headers' prefix. */
const OPENTRACING_HEADER = "x-fc-tracing-opentracing-span-context";
const BAGGAGE_PREFIX = `${OPENTRACING_HEADER}-baggage-`;
const MAX_BAGGAGE_ITEMS = 64;

/** The W3C traceparent of a Jaeger span context (`trace:span:parent:flags`, hex ids up to 32 and 16 digits). */
export function traceparentOfJaeger(value: string | undefined): string | undefined {
  const m = value ? /^([0-9a-f]{1,32}):([0-9a-f]{1,16}):[0-9a-f]{1,16}:([0-9a-f]{1,2})$/i.exec(value.trim()) : null;
  if (!m) return undefined;
  const trace = (m[1] as string).toLowerCase().padStart(32, "0");
  const span = (m[2] as string).toLowerCase().padStart(16, "0");
  if (/^0+$/.test(trace) || /^0+$/.test(span)) return undefined;
  return `00-${trace}-${span}-${(m[3] as string).toLowerCase().padStart(2, "0")}`;
}

/**
 * FC's OpenTracing baggage: every `x-fc-tracing-opentracing-span-context-baggage-<key>` header. A
 * chain depth in it (a function calling back into Nimbus) is moved one step on for the call made.
 */
export function baggageOf(req: FastifyRequest): Record<string, string> | undefined {
  let baggage: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith(BAGGAGE_PREFIX) || value === undefined) continue;
    baggage ??= {};
    if (Object.keys(baggage).length >= MAX_BAGGAGE_ITEMS) throw errors.invalidArgument(`at most ${MAX_BAGGAGE_ITEMS} ${BAGGAGE_PREFIX}* headers are allowed`);
    baggage[name.slice(BAGGAGE_PREFIX.length)] = Array.isArray(value) ? value.join(",") : value;
  }
  const depth = chainDepthAfter(baggage);
  if (baggage && depth !== undefined) baggage[CHAIN_DEPTH_BAGGAGE] = String(depth);
  return baggage;
}

/** FC's invocation response headers. */
export function setInvocationHeaders(reply: FastifyReply, outcome: InvocationOutcome, codeChecksum: string): void {
  reply.header("x-fc-invocation-duration", String(Math.max(0, Math.round(outcome.durationMs))));
  reply.header("x-fc-max-memory-usage", (Math.round(outcome.maxMemoryMb * 100) / 100).toFixed(2));
  reply.header("x-fc-invocation-service-version", outcome.versionId);
  reply.header("x-fc-instance-id", outcome.instanceId);
  reply.header("x-fc-code-checksum", codeChecksum);
  if (outcome.errorType) reply.header("x-fc-error-type", outcome.errorType);
  if (outcome.logTail) reply.header("x-fc-log-result", Buffer.from(outcome.logTail).toString("base64"));
}
