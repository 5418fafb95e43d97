import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { invocationView, redrive, type AsyncQueues, type AsyncSubmitter, type InvocationStore } from "@nimbus/async";
import type { Dispatcher, TargetResolver } from "@nimbus/dispatch";
import { assertName, errors, INVOCATION_STATUSES, intField, parseOrThrow, parseQualifiedService, type InvocationRecord } from "@nimbus/protocol";
import { jsonBody } from "../http/body.js";

const who = (r: InvocationRecord) => ({ serviceName: r.serviceName, functionName: r.functionName, invocationId: r.invocationId });

const LOOKUP_ID = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$/;

interface Params {
  serviceName: string;
  functionName: string;
  invocationId?: string;
}

const ListInvocationsQuery = z.object({
  status: z.enum(INVOCATION_STATUSES).optional(),
  startedTimeBegin: intField(0, Number.MAX_SAFE_INTEGER).optional(),
  startedTimeEnd: intField(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: intField(1, 100).default(20),
  nextToken: z.string().regex(/^\d{1,12}$/, { error: "is not a token this API returned" }).optional(),
  sortOrderByTime: z.enum(["asc", "desc"]).optional(),
  invocationIdPrefix: z.string().max(128).optional(),
  includePayload: z.enum(["true", "false"]).optional(),
});

/** Body of Nimbus's `POST …/stateful-async-invocations/redrives`. */
const RedriveBody = z.strictObject({
  status: z.enum(["Failed", "Expired"]).optional(),
  /** epoch ms */
  since: z.number().int().min(0).optional(),
  invocationIds: z.array(z.string().regex(LOOKUP_ID, { error: "is not an invocation id" })).min(1).max(1_000).optional(),
  limit: z.number().int().min(1).max(10_000).default(1_000),
});

/**
 * FC's stateful-async-invocation API: read one invocation, list a function's, stop one (a queued
 * one is removed from its queue; a running one has its instance killed); and Nimbus's redrive,
 * which runs failed or expired ones again under new ids.
 */
export function invocationRoutes(
  app: FastifyInstance,
  deps: { resolver: TargetResolver; records: InvocationStore; queues: AsyncQueues; dispatcher: Dispatcher; submitter: AsyncSubmitter },
): void {
  const base = "/2016-08-15/services/:serviceName/functions/:functionName/stateful-async-invocations";
  // Records outlive their function (an invocation left Invalid by a delete stays readable): the
  // function is only looked up to name what is missing when no record is found.
  const target = (params: Params) => {
    const { service, qualifier } = parseQualifiedService(params.serviceName);
    const fn = assertName("function", params.functionName);
    return { service, fn, qualifier, mustExist: () => deps.resolver.resolve(service, undefined, fn) };
  };
  const load = async (params: Params): Promise<InvocationRecord> => {
    const t = target(params);
    const id = params.invocationId ?? "";
    // Ids are the caller's (a name) or, when it chose none, the request id (a UUID).
    if (!LOOKUP_ID.test(id)) throw errors.invalidArgument(`invocation id '${id.slice(0, 200)}' is not an invocation id`);
    const record = await deps.records.get(t.service, t.fn, id);
    if (record) return record;
    t.mustExist();
    throw errors.invocationNotFound(id);
  };

  app.get<{ Params: Params }>(`${base}/:invocationId`, async (req) => invocationView(await load(req.params)));

  app.get<{ Params: Params }>(base, async (req) => {
    const t = target(req.params);
    const q = parseOrThrow(ListInvocationsQuery, req.query);
    const page = await deps.records.list(t.service, t.fn, { ...q, qualifier: t.qualifier });
    if (page.invocations.length === 0 && !q.nextToken) t.mustExist();
    const invocations = page.invocations.map((r) => invocationView(r, q.includePayload !== "false"));
    return { invocations, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  });

  app.post<{ Params: Params }>(`${base}/redrives`, async (req) => {
    const t = target(req.params);
    t.mustExist();
    const body = jsonBody(req, RedriveBody);
    return redrive(deps.records, deps.submitter, t.service, t.fn, body, req.id);
  });

  app.put<{ Params: Params }>(`${base}/:invocationId`, async (req, reply) => {
    const record = await load(req.params);
    if (["Succeeded", "Failed", "Stopped", "Expired", "Invalid"].includes(record.status)) return reply.status(200).send();
    const job = await deps.queues.queue(record.serviceName, record.functionName).getJob(record.invocationId);
    const state = job ? await job.getState() : "unknown";
    if (job && (state === "waiting" || state === "delayed" || state === "prioritized" || state === "waiting-children")) {
      // Queued: it is Stopped from now on (a worker that takes it meanwhile sees that and skips it).
      if ((await deps.records.save({ ...who(record), status: "Stopped", endTime: Date.now() }, { detail: "stopped while queued" })) === "saved") {
        try {
          await job.remove();
          return reply.status(200).send();
        } catch {
          // it became active meanwhile: stop it where it runs too
        }
      }
    } else {
      // Running (or between a worker's steps): the worker records Stopped once its instance is gone.
      await deps.records.save({ ...who(record), status: "Stopping" }, { detail: "stop requested" });
    }
    deps.dispatcher.cancel(record.requestId);
    return reply.status(200).send();
  });
}
