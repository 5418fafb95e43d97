import type { FastifyReply, FastifyRequest } from "fastify";
import type { AsyncSubmitter } from "@nimbus/async";
import { callAttributes, type Target } from "@nimbus/dispatch";
import { Attr, inSpan, SpanKind, traceparentFor } from "@nimbus/telemetry";
import { assertName, CHAIN_DEPTH_BAGGAGE, errors, isNimbusError } from "@nimbus/protocol";
import type { HttpRequestInfo, TriggerKind } from "@nimbus/protocol/wire";
import { baggageOf } from "../invoke/headers.js";

export const STATEFUL_ID_HEADER = "x-fc-stateful-async-invocation-id";

/** What taking an asynchronous invocation needs: the queue, and how to tell Redis is there. */
export interface AsyncIntake {
  submitter: AsyncSubmitter;
  /** False while the gateway's Redis connection is down: enqueueing then fails at once. */
  redisReady: () => boolean;
  /** The longest an enqueue may wait for Redis (a frozen server never closes its connections). */
  timeoutMs: number;
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(errors.unavailable(`the async queue (Redis) did not answer within ${ms} ms; retry`)), ms);
  });
  // A late answer after the deadline is dropped by the race (an invocation it enqueued runs: at-least-once).
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Answers a request with FC's `202` once its invocation is queued, in a producer span the later run
 * continues — for the invocation API and for HTTP triggers (with the request, for the HTTP handler).
 */
export function answerQueued(
  reply: FastifyReply,
  intake: AsyncIntake,
  req: FastifyRequest,
  call: { target: Target; body: Buffer; trigger: TriggerKind; spanName: string; traceparent: string | undefined; http?: HttpRequestInfo },
): Promise<FastifyReply> {
  const attributes = { ...callAttributes(call.target, req.id, call.trigger), [Attr.invocationType]: "Async" };
  return inSpan(call.spanName, { kind: SpanKind.PRODUCER, attributes, traceparent: call.traceparent }, async (span) => {
    const invocationId = await enqueueAsync(intake, req, call.target, call.body, traceparentFor(span, call.traceparent), call.http);
    return reply.status(202).header(STATEFUL_ID_HEADER, invocationId).send();
  });
}

/**
 * Queues an asynchronous invocation and returns its id, once Redis has it. A caller-chosen id that
 * exists already is FC's conflict error: a retried request never runs twice. Redis down, failing or
 * silent past the deadline is FC's 503 ServiceUnavailable, never a hang or a 500.
 */
export async function enqueueAsync(intake: AsyncIntake, req: FastifyRequest, target: Target, body: Buffer, traceparent: string | undefined, http?: HttpRequestInfo): Promise<string> {
  const header = req.headers[STATEFUL_ID_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  const invocationId = given === undefined || given === "" ? undefined : assertName("invocation", given);
  if (!intake.redisReady()) throw errors.unavailable("the async queue (Redis) is unreachable right now; retry");
  // A function calling back into Nimbus with its tracing context continues its chain (loop protection).
  const depth = Number(baggageOf(req)?.[CHAIN_DEPTH_BAGGAGE] ?? 0);
  const submission = { service: target.service, fn: target.fn, qualifier: target.qualifier, requestId: req.id, invocationId, payload: body, http, traceparent, depth };
  let result: Awaited<ReturnType<AsyncSubmitter["submit"]>>;
  try {
    result = await withDeadline(intake.submitter.submit(submission), intake.timeoutMs);
  } catch (err) {
    if (isNimbusError(err)) throw err;
    throw errors.unavailable("the async queue (Redis) did not take the invocation; retry", err);
  }
  if (result.duplicate) throw errors.invocationExists(result.invocationId);
  return result.invocationId;
}
