import type { FastifyInstance } from "fastify";
import { liveNodes, type RedisClient } from "@nimbus/service-kit";
import { z } from "zod";
import {
  assertName,
  errors,
  fcTimestamp,
  LATEST,
  onDemandResource,
  onDemandView,
  parseOrThrow,
  parseQualifiedService,
  PutOnDemandConfigBody,
  type OnDemandConfigRecord,
} from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import type { FunctionCatalog } from "../functions/catalog.js";
import { jsonBody } from "../http/body.js";
import { ListQuery, paginate } from "../http/listing.js";

interface Params {
  serviceName: string;
  functionName: string;
}

const InstancesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  instanceIds: z.union([z.string(), z.array(z.string())]).optional(),
});

/**
 * FC's on-demand config API (`maximumInstanceCount` per function and qualifier, enforced by the
 * invokers atomically in Redis) and `listInstances` (the live instances the registry knows).
 */
export function capacityRoutes(app: FastifyInstance, ctx: GatewayContext, functions: FunctionCatalog, redis: RedisClient): void {
  const path = "/2016-08-15/services/:serviceName/functions/:functionName/on-demand-config";
  const target = (params: Params) => {
    const { service, qualifier } = parseQualifiedService(params.serviceName);
    const fn = assertName("function", params.functionName);
    functions.getQualified(service, qualifier, fn);
    const q = qualifier ?? LATEST;
    return { service, fn, qualifier: q, key: ctx.naming.kvKeys.onDemandConfig(service, q, fn) };
  };

  app.put<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const { maximumInstanceCount } = jsonBody(req, PutOnDemandConfigBody);
    const record: OnDemandConfigRecord = {
      serviceName: t.service,
      qualifier: t.qualifier,
      functionName: t.fn,
      maximumInstanceCount,
      lastModifiedTime: fcTimestamp(),
    };
    await ctx.store.onDemandConfigs.put(t.key, record);
    return onDemandView(record);
  });

  app.get<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const found = ctx.mirrors.onDemandConfigs.get(t.key);
    if (!found) throw errors.onDemandConfigNotFound(onDemandResource(t.service, t.qualifier, t.fn));
    return onDemandView(found.value);
  });

  app.delete<{ Params: Params }>(path, async (req, reply) => {
    const t = target(req.params);
    if (!(await ctx.store.onDemandConfigs.get(t.key))) throw errors.onDemandConfigNotFound(onDemandResource(t.service, t.qualifier, t.fn));
    await ctx.store.onDemandConfigs.delete(t.key);
    return reply.status(204).send();
  });

  app.get("/2016-08-15/on-demand-configs", async (req) => {
    const query = parseOrThrow(ListQuery, req.query);
    const configs = [...ctx.mirrors.onDemandConfigs.values()].map((v) => onDemandView(v.value));
    const { page, nextToken } = paginate(configs, (c) => c.resource, query);
    // FC leaves `configs` out entirely when there are none.
    return { ...(page.length ? { configs: page } : {}), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: Params }>("/2016-08-15/services/:serviceName/functions/:functionName/instances", async (req) => {
    const { service, qualifier } = parseQualifiedService(req.params.serviceName);
    const fn = assertName("function", req.params.functionName);
    functions.getQualified(service, qualifier, fn);
    const query = parseOrThrow(InstancesQuery, req.query);
    const wanted = query.instanceIds === undefined ? undefined : new Set([query.instanceIds].flat());
    const instances = (await liveInstances(ctx, redis, service, fn))
      .filter((e) => qualifier === undefined || qualifier === LATEST || e.qualifier === qualifier || e.versionId === qualifier)
      .filter((e) => !wanted || wanted.has(e.instanceId))
      .slice(0, query.limit ?? 1000)
      // FC's two fields, then Nimbus's own: where it runs, since when, for which qualifier, in which state.
      .map((e) => ({
        instanceId: e.instanceId,
        versionId: e.versionId === LATEST ? 0 : Number(e.versionId),
        node: e.node,
        qualifier: e.qualifier,
        ...(e.startedAt ? { startedAt: e.startedAt } : {}),
        state: e.state ?? "ready",
        ...(e.provisioned ? { provisioned: true } : {}),
      }));
    return { instances };
  });

  // FC's InstanceExec (a shell inside an instance, over a WebSocket): Nimbus's sandboxes have no such
  // door. The SDK shows the message of this answer to its onError hook.
  app.get<{ Params: Params & { instanceId: string } }>("/2016-08-15/services/:serviceName/functions/:functionName/instances/:instanceId/exec", async () => {
    throw errors.operationNotSupported(
      "InstanceExec",
      "instances run in sandboxes with no way in; see what one does through its logs (nimbus logs <svc>/<fn> -f) and its metrics, or run the function's code locally",
    );
  });
}

/** What the registry says about a live instance. */
export interface LiveInstance {
  instanceId: string;
  node: string;
  versionId: string;
  qualifier: string;
  provisioned?: string;
  state?: "starting" | "ready";
  startedAt?: string;
}

/** A function's instances on nodes whose heartbeat is alive (the registry in Redis). */
export async function liveInstances(ctx: GatewayContext, redis: RedisClient, service: string, fn: string): Promise<LiveInstance[]> {
  try {
    const entries = await redis.hgetall(ctx.naming.redis.instances(service, fn));
    const parsed = Object.values(entries).flatMap((json) => {
      try {
        return [JSON.parse(json) as LiveInstance];
      } catch {
        return [];
      }
    });
    const { live } = await liveNodes(redis, ctx.naming.redis.nodes);
    return parsed.filter((e) => live.has(e.node));
  } catch (err) {
    throw errors.unavailable("the instance registry (Redis) is unreachable; retry", err);
  }
}
