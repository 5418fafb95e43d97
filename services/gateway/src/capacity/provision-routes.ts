import type { FastifyInstance } from "fastify";
import type { RedisClient } from "@nimbus/service-kit";
import { z } from "zod";
import {
  assertName,
  DEFAULT_MAXIMUM_INSTANCE_COUNT,
  errors,
  fcTimestamp,
  intField,
  LATEST,
  Limits,
  parseOrThrow,
  parseQualifiedService,
  policyProblems,
  provisionView,
  PutProvisionConfigBody,
  QUALIFIER_PATTERN,
  VERSION_ID_PATTERN,
  type ProvisionConfigRecord,
} from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import type { FunctionCatalog } from "../functions/catalog.js";
import { jsonBody } from "../http/body.js";
import { liveInstances } from "./routes.js";

interface Params {
  serviceName: string;
  functionName: string;
}

const ListProvisionQuery = z.object({
  serviceName: z.string().max(128).optional(),
  qualifier: z.string().regex(QUALIFIER_PATTERN).optional(),
  limit: intField(1, Limits.listLimitMax).default(20),
  nextToken: z.string().max(512).optional(),
});

/**
 * FC's provision API: `target` warm instances of a function for an alias or LATEST, kept by the
 * invokers (see the invoker's Provisioner); `current` counts those up right now, cluster-wide.
 */
export function provisionRoutes(app: FastifyInstance, ctx: GatewayContext, functions: FunctionCatalog, redis: RedisClient): void {
  const path = "/2016-08-15/services/:serviceName/functions/:functionName/provision-config";
  const target = (params: Params) => {
    const { service, qualifier } = parseQualifiedService(params.serviceName);
    const fn = assertName("function", params.functionName);
    const q = qualifier ?? LATEST;
    if (VERSION_ID_PATTERN.test(q)) throw errors.invalidArgument(`provisioned instances are for an alias or LATEST, not a version ('${q}'): create an alias for it`);
    functions.getQualified(service, q, fn);
    return { service, fn, qualifier: q, key: ctx.naming.kvKeys.provisionConfig(service, q, fn) };
  };
  const current = async (service: string, qualifier: string, fn: string) =>
    (await liveInstances(ctx, redis, service, fn)).filter((i) => i.provisioned === qualifier && i.state === "ready").length;

  app.put<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const body = jsonBody(req, PutProvisionConfigBody);
    const max = ctx.mirrors.onDemandConfigs.get(ctx.naming.kvKeys.onDemandConfig(t.service, t.qualifier, t.fn))?.value.maximumInstanceCount ?? DEFAULT_MAXIMUM_INSTANCE_COUNT;
    if (body.target > max) {
      throw errors.invalidArgument(`target ${body.target} is above the function's maximumInstanceCount of ${max} for '${t.qualifier}' (raise it with putOnDemandConfig)`);
    }
    const problems = policyProblems(body.scheduledActions ?? [], body.targetTrackingPolicies ?? [], max);
    if (problems.length) throw errors.invalidArgument(problems.join("; "));
    const record: ProvisionConfigRecord = {
      serviceName: t.service,
      qualifier: t.qualifier,
      functionName: t.fn,
      target: body.target,
      alwaysAllocateCPU: body.alwaysAllocateCPU ?? true,
      scheduledActions: body.scheduledActions ?? [],
      targetTrackingPolicies: body.targetTrackingPolicies ?? [],
      lastModifiedTime: fcTimestamp(),
    };
    // Target 0 without policies releases the instances: the config goes (the invokers stop what it kept).
    if (record.target === 0 && !record.scheduledActions.length && !record.targetTrackingPolicies.length) await ctx.store.provisionConfigs.delete(t.key);
    else await ctx.store.provisionConfigs.put(t.key, record);
    return provisionView(record, ctx.arn.accountId, await current(t.service, t.qualifier, t.fn));
  });

  app.get<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const found = ctx.mirrors.provisionConfigs.get(t.key)?.value;
    const record: ProvisionConfigRecord = found ?? {
      serviceName: t.service,
      qualifier: t.qualifier,
      functionName: t.fn,
      target: 0,
      alwaysAllocateCPU: true,
      scheduledActions: [],
      targetTrackingPolicies: [],
      lastModifiedTime: "",
    };
    return provisionView(record, ctx.arn.accountId, await current(t.service, t.qualifier, t.fn));
  });

  app.get("/2016-08-15/provision-configs", async (req) => {
    const query = parseOrThrow(ListProvisionQuery, req.query);
    if (query.qualifier && !query.serviceName) throw errors.invalidArgument("qualifier is only accepted with serviceName");
    const records = [...ctx.mirrors.provisionConfigs.values()]
      .map((v) => v.value)
      .filter((r) => (!query.serviceName || r.serviceName === query.serviceName) && (!query.qualifier || r.qualifier === query.qualifier))
      .sort((a, b) => (key(a) < key(b) ? -1 : 1))
      .filter((r) => !query.nextToken || key(r) >= query.nextToken);
    const page = records.slice(0, query.limit);
    const next = records[query.limit];
    const provisionConfigs = await Promise.all(page.map(async (r) => provisionView(r, ctx.arn.accountId, await current(r.serviceName, r.qualifier, r.functionName))));
    return { provisionConfigs, ...(next ? { nextToken: key(next) } : {}) };
  });
}

function key(r: ProvisionConfigRecord): string {
  return `${r.serviceName}#${r.qualifier}#${r.functionName}`;
}
