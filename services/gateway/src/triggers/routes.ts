import type { FastifyInstance } from "fastify";
import { assertName, CreateTriggerBody, Headers, parseOrThrow, triggerView, UpdateTriggerBody } from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import { baseUrl } from "../http/base-url.js";
import { jsonBody } from "../http/body.js";
import { checkIfMatch, etagOf, hasIfMatch } from "../http/etag.js";
import { ListQuery, paginate } from "../http/listing.js";
import type { TriggerCatalog } from "./catalog.js";

interface FunctionParams {
  serviceName: string;
  functionName: string;
}
interface TriggerParams extends FunctionParams {
  triggerName: string;
}

/** FC 2.0 trigger API: `/2016-08-15/services/{svc}/functions/{fn}/triggers[/{name}]`. */
export function triggerRoutes(app: FastifyInstance, ctx: GatewayContext, triggers: TriggerCatalog): void {
  const base = "/2016-08-15/services/:serviceName/functions/:functionName/triggers";
  const names = (p: FunctionParams) => ({ service: assertName("service", p.serviceName), fn: assertName("function", p.functionName) });

  app.post<{ Params: FunctionParams }>(base, async (req, reply) => {
    const { service, fn } = names(req.params);
    const record = await triggers.create(service, fn, jsonBody(req, CreateTriggerBody));
    return reply.header(Headers.etag, etagOf(record)).send(triggerView(record, baseUrl(req, ctx.env.NIMBUS_PUBLIC_URL)));
  });

  app.get<{ Params: FunctionParams }>(base, async (req) => {
    const { service, fn } = names(req.params);
    const query = parseOrThrow(ListQuery, req.query);
    const { page, nextToken } = paginate(triggers.list(service, fn), (t) => t.triggerName, query);
    const url = baseUrl(req, ctx.env.NIMBUS_PUBLIC_URL);
    return { triggers: page.map((t) => triggerView(t, url)), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: TriggerParams }>(`${base}/:triggerName`, async (req, reply) => {
    const { service, fn } = names(req.params);
    const record = triggers.get(service, fn, assertName("trigger", req.params.triggerName));
    return reply.header(Headers.etag, etagOf(record)).send(triggerView(record, baseUrl(req, ctx.env.NIMBUS_PUBLIC_URL)));
  });

  app.put<{ Params: TriggerParams }>(`${base}/:triggerName`, async (req, reply) => {
    const { service, fn } = names(req.params);
    const change = jsonBody(req, UpdateTriggerBody);
    const guard = { check: (current: unknown) => checkIfMatch(req, current), strict: hasIfMatch(req) };
    const record = await triggers.update(service, fn, assertName("trigger", req.params.triggerName), change, guard);
    return reply.header(Headers.etag, etagOf(record)).send(triggerView(record, baseUrl(req, ctx.env.NIMBUS_PUBLIC_URL)));
  });

  app.delete<{ Params: TriggerParams }>(`${base}/:triggerName`, async (req, reply) => {
    const { service, fn } = names(req.params);
    const guard = { check: (current: unknown) => checkIfMatch(req, current), strict: hasIfMatch(req) };
    await triggers.delete(service, fn, assertName("trigger", req.params.triggerName), guard);
    return reply.status(204).send();
  });
}
