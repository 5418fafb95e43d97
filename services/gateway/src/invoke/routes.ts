import type { FastifyInstance } from "fastify";
import { errors, isNodeRuntime, isPythonRuntime } from "@nimbus/protocol";
import { Attr, SpanKind } from "@nimbus/telemetry";
import type { FunctionCaller } from "@nimbus/dispatch";
import { answerQueued, type AsyncIntake } from "../async/enqueue.js";
import { baggageOf, checkFcHeaders, invocationType, logType, setInvocationHeaders, traceparentOf } from "./headers.js";
import { rawBodies } from "./raw-bodies.js";
import { callAddress } from "./target.js";
import { baseUrl } from "../http/base-url.js";

const isBuiltInRuntime = (runtime: string) => isNodeRuntime(runtime) || isPythonRuntime(runtime);

/** What the gateway takes in a call (what a call may take to run and return is the FunctionCaller's). */
export interface InvocationLimits {
  maxSyncBodyBytes: number;
  maxAsyncBodyBytes: number;
}

interface Params {
  serviceName: string;
  functionName: string;
}

/** The URLs of a function's HTTP triggers (empty when it has none), for `baseUrl`. */
export type HttpTriggerUrls = (service: string, fn: string, baseUrl: string) => string[];

/**
 * `POST /2016-08-15/services/{svc}[.{q}]/functions/{fn}/invocations`. A Node.js or Python function
 * with an HTTP trigger is an HTTP function — its handler takes (request, response, context) or WSGI's
 * (environ, start_response) — and is refused here with its trigger's URL, as FC does; a custom
 * runtime or container serves both (`/invoke` here, its own paths through the trigger).
 */
export function invocationRoutes(app: FastifyInstance, caller: FunctionCaller, intake: AsyncIntake, limits: InvocationLimits, httpTriggerUrls: HttpTriggerUrls): void {
  void app.register(async (scope) => {
    rawBodies(scope);
    scope.post<{ Params: Params }>(
      "/2016-08-15/services/:serviceName/functions/:functionName/invocations",
      { bodyLimit: limits.maxSyncBodyBytes },
      async (req, reply) => {
        checkFcHeaders(req);
        const type = invocationType(req);
        const log = logType(req, type);
        const to = callAddress(req.params.serviceName, req.params.functionName);
        const target = caller.resolve(to);
        if (isBuiltInRuntime(target.record.runtime)) {
          const urls = httpTriggerUrls(target.service, target.fn, baseUrl(req));
          if (urls.length > 0) throw errors.httpFunctionInvoked(`${target.service}/${target.fn}`, urls);
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (type === "Async") {
          if (body.length > limits.maxAsyncBodyBytes) throw errors.entityTooLarge(limits.maxAsyncBodyBytes);
          return answerQueued(reply, intake, req, { target, body, trigger: "api", spanName: `enqueue ${target.service}/${target.fn}`, traceparent: traceparentOf(req) });
        }
        const { outcome } = await caller.call({
          to,
          target,
          kind: "event",
          trigger: "api",
          body,
          logTail: log === "Tail",
          requestId: req.id,
          traceparent: traceparentOf(req),
          baggage: baggageOf(req),
          span: { name: `invoke ${target.service}/${target.fn}`, kind: SpanKind.SERVER, attributes: { [Attr.invocationType]: type } },
        });
        setInvocationHeaders(reply, outcome, target.record.codeChecksum);
        reply.type(outcome.errorType ? "application/json" : "application/octet-stream");
        return reply.send(Buffer.from(outcome.body.buffer, outcome.body.byteOffset, outcome.body.byteLength));
      },
    );
  });
}
