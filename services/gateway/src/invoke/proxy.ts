import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errors, NimbusError } from "@nimbus/protocol";
import type { InvocationOutcome } from "@nimbus/protocol/wire";
import type { Authenticator } from "../http/auth.js";
import type { TriggerCatalog } from "../triggers/catalog.js";
import type { CallAddress, FunctionCaller } from "@nimbus/dispatch";
import { answerQueued, type AsyncIntake } from "../async/enqueue.js";
import type { InvocationLimits } from "./routes.js";
import { baggageOf, invocationType, traceparentOf } from "./headers.js";
import { Attr, SpanKind } from "@nimbus/telemetry";
import { rawBodies } from "./raw-bodies.js";
import { checkFunctionResponse } from "./http-response.js";
import { callAddress } from "./target.js";

interface Params {
  serviceName: string;
  functionName: string;
  "*"?: string;
}

/** Request headers never passed to a function (FC's list). */
const DROPPED_REQUEST_HEADERS = new Set(["connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

function forwardedHeaders(req: FastifyRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith("x-fc-") || DROPPED_REQUEST_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function queriesOf(req: FastifyRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) {
    out[k] = Array.isArray(v) ? v.map(String) : String(v ?? "");
  }
  return out;
}

function functionFailed(reply: FastifyReply, errorType: string, body: Buffer | string): FastifyReply {
  return reply.status(502).type("application/json").header("x-fc-error-type", errorType).send(body);
}

function answer(reply: FastifyReply, outcome: InvocationOutcome & { body: Uint8Array }): FastifyReply {
  const body = Buffer.from(outcome.body.buffer, outcome.body.byteOffset, outcome.body.byteLength);
  // The function failed before answering: FC's 502 with the error body.
  if (outcome.errorType || !outcome.http) return functionFailed(reply, outcome.errorType ?? "UnhandledInvocationError", body);
  const checked = checkFunctionResponse(outcome.http);
  if (!checked.ok) {
    reply.log.warn({ reason: checked.errorMessage }, "function answered an invalid HTTP response");
    return functionFailed(reply, "UnhandledInvocationError", JSON.stringify({ errorMessage: checked.errorMessage, errorType: "InvalidHttpResponse" }));
  }
  if (checked.dropped.length > 0) reply.log.warn({ headers: checked.dropped }, "dropped response headers that are not valid HTTP");
  for (const [name, value] of checked.headers) reply.header(name, value);
  return reply.status(checked.status).send(body);
}

export interface HttpDeps {
  caller: FunctionCaller;
  triggers: TriggerCatalog;
  authenticator: Authenticator;
  limits: InvocationLimits;
  /** Where `X-Fc-Invocation-Type: Async` requests are queued. */
  intake: AsyncIntake;
}

/**
 * Serves one request with a function's HTTP handler through its HTTP trigger for the qualifier
 * (which must exist and allow the method; `authType: function` requires FC's signature over the
 * URL as the client sent it). Shared by HTTP triggers and custom domains.
 */
export async function serveHttp(
  req: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  to: CallAddress,
  where: { path: string; basePath: string; url: string },
): Promise<FastifyReply> {
  const target = deps.caller.resolve(to);
  const trigger = deps.triggers.httpTrigger(target.service, target.fn, target.qualifier);
  if (!trigger) {
    throw new NimbusError("TriggerNotFound", `function '${target.fn}' of service '${target.service}' has no HTTP trigger for qualifier '${target.qualifier}'`);
  }
  if (!trigger.triggerConfig.methods.includes(req.method as never)) {
    throw new NimbusError("MethodNotAllowed", `method ${req.method} is not allowed by the HTTP trigger '${trigger.triggerName}' (allowed: ${trigger.triggerConfig.methods.join(", ")})`);
  }
  if (trigger.triggerConfig.authType === "function") {
    req.accessKeyId = deps.authenticator.verify({ method: req.method, url: where.url, headers: req.headers });
  }
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const http = { method: req.method, path: where.path, queries: queriesOf(req), headers: forwardedHeaders(req), clientIP: req.ip, url: where.url, basePath: where.basePath };
  if (invocationType(req) === "Async") {
    // As on FC: the request is queued (202 with its ids) and reaches the HTTP handler later, retried
    // and recorded like any asynchronous invocation; what the handler answers goes to its record.
    if (body.length > deps.limits.maxAsyncBodyBytes) throw errors.entityTooLarge(deps.limits.maxAsyncBodyBytes);
    return answerQueued(reply, deps.intake, req, { target, body, trigger: "http", spanName: `enqueue ${req.method} ${target.service}/${target.fn}`, traceparent: traceparentOf(req), http });
  }
  const { outcome } = await deps.caller.call({
    to,
    target,
    kind: "http",
    trigger: "http",
    body,
    http,
    requestId: req.id,
    traceparent: traceparentOf(req),
    baggage: baggageOf(req),
    span: { name: `${req.method} ${target.service}/${target.fn}`, kind: SpanKind.SERVER, attributes: { [Attr.httpRequestMethod]: req.method, [Attr.urlPath]: where.path } },
  });
  return answer(reply, outcome);
}

/**
 * HTTP triggers: `/2016-08-15/proxy/{svc}[.{qualifier}]/{fn}/{path…}` reaches the function's HTTP
 * handler with the method, path, queries, headers, client IP and body; the handler's status,
 * headers and body come back. `authType: function` requires FC's signature, queries included.
 */
export function proxyRoutes(app: FastifyInstance, deps: HttpDeps): void {
  void app.register(async (scope) => {
    rawBodies(scope);
    const handler = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) =>
      serveHttp(req, reply, deps, callAddress(req.params.serviceName, req.params.functionName), {
        path: `/${req.params["*"] ?? ""}`,
        basePath: `/2016-08-15/proxy/${req.params.serviceName}/${req.params.functionName}`,
        url: req.url,
      });
    const options = { bodyLimit: deps.limits.maxSyncBodyBytes, config: { public: true } };
    scope.all<{ Params: Params }>("/2016-08-15/proxy/:serviceName/:functionName", options, handler);
    scope.all<{ Params: Params }>("/2016-08-15/proxy/:serviceName/:functionName/*", options, handler);
  });
}
