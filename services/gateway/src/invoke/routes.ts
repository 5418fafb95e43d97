import type { FastifyInstance } from "fastify";
import { errors } from "@nimbus/protocol";
import { inSpan, SpanKind, traceparentFor } from "@nimbus/telemetry";
import { dispatchMeta, invokeRequestFor, type Dispatcher, type TargetResolver } from "@nimbus/dispatch";
import { enqueueAsync, STATEFUL_ID_HEADER, type AsyncIntake } from "../async/enqueue.js";
import { checkFcHeaders, invocationType, logType, setInvocationHeaders, traceparentOf } from "./headers.js";
import { rawBodies } from "./raw-bodies.js";
import { resolveTarget } from "./target.js";

export interface InvocationLimits {
  maxSyncBodyBytes: number;
  maxAsyncBodyBytes: number;
  maxResponseBytes: number;
  /** Time allowed for a cold start on top of the function's own timeouts. */
  coldStartAllowanceMs: number;
}

interface Params {
  serviceName: string;
  functionName: string;
}

/** `POST /2016-08-15/services/{svc}[.{q}]/functions/{fn}/invocations`. */
export function invocationRoutes(
  app: FastifyInstance,
  resolver: TargetResolver,
  dispatcher: Dispatcher,
  intake: AsyncIntake,
  limits: InvocationLimits,
): void {
  void app.register(async (scope) => {
    rawBodies(scope);
    scope.post<{ Params: Params }>(
      "/2016-08-15/services/:serviceName/functions/:functionName/invocations",
      { bodyLimit: limits.maxSyncBodyBytes },
      async (req, reply) => {
        checkFcHeaders(req);
        const type = invocationType(req);
        const log = logType(req, type);
        const target = resolveTarget(resolver, req.params.serviceName, req.params.functionName);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const attributes = {
          "faas.invoked_name": target.fn,
          "faas.invocation_id": req.id,
          "nimbus.service": target.service,
          "nimbus.qualifier": target.qualifier,
          "nimbus.invocation_type": type,
        };
        return inSpan(`${type === "Async" ? "enqueue" : "invoke"} ${target.service}/${target.fn}`, { kind: type === "Async" ? SpanKind.PRODUCER : SpanKind.SERVER, attributes, traceparent: traceparentOf(req) }, async (span) => {
          const traceparent = traceparentFor(span, traceparentOf(req));
          if (type === "Async") {
            if (body.length > limits.maxAsyncBodyBytes) throw errors.entityTooLarge(limits.maxAsyncBodyBytes);
            const invocationId = await enqueueAsync(intake, req, target, body, traceparent);
            return reply.status(202).header(STATEFUL_ID_HEADER, invocationId).send();
          }
          const outcome = await dispatcher.invoke(
            invokeRequestFor(target, { kind: "event", trigger: "api", body, logTail: log === "Tail", ...limits }),
            dispatchMeta(req.id, traceparent, () => resolveTarget(resolver, req.params.serviceName, req.params.functionName)),
          );
          span.setAttribute("faas.coldstart", outcome.coldStart);
          if (outcome.errorType) span.setAttribute("nimbus.error_type", outcome.errorType);
          setInvocationHeaders(reply, outcome, target.record.codeChecksum);
          reply.type(outcome.errorType ? "application/json" : "application/octet-stream");
          return reply.send(Buffer.from(outcome.body.buffer, outcome.body.byteOffset, outcome.body.byteLength));
        });
      },
    );
  });
}
