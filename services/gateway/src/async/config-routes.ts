import type { FastifyInstance } from "fastify";
import {
  assertName,
  AsyncDefaults,
  asyncConfigView,
  errors,
  fcTimestamp,
  LATEST,
  parseOrThrow,
  parseQualifiedService,
  PutAsyncConfigBody,
  type AsyncConfigRecord,
} from "@nimbus/protocol";
import type { TargetResolver } from "@nimbus/dispatch";
import type { GatewayContext } from "../context.js";
import { jsonBody } from "../http/body.js";
import { ListQuery, paginate } from "../http/listing.js";

interface Params {
  serviceName: string;
  functionName: string;
}

/** FC's async config API: `…/async-invoke-config` (per qualifier) and `…/async-invoke-configs` (list). */
export function asyncConfigRoutes(app: FastifyInstance, ctx: GatewayContext, resolver: TargetResolver): void {
  const path = "/2016-08-15/services/:serviceName/functions/:functionName/async-invoke-config";
  const target = (params: Params) => {
    const { service, qualifier } = parseQualifiedService(params.serviceName);
    const fn = assertName("function", params.functionName);
    resolver.resolve(service, qualifier, fn);
    const q = qualifier ?? LATEST;
    return { service, fn, qualifier: q, key: ctx.naming.kvKeys.asyncConfig(service, q, fn) };
  };

  app.put<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const body = jsonBody(req, PutAsyncConfigBody);
    const existing = await ctx.store.asyncConfigs.get(t.key);
    const now = fcTimestamp();
    const record: AsyncConfigRecord = {
      service: t.service,
      function: t.fn,
      qualifier: t.qualifier,
      maxAsyncRetryAttempts: body.maxAsyncRetryAttempts ?? AsyncDefaults.maxAsyncRetryAttempts,
      maxAsyncEventAgeInSeconds: body.maxAsyncEventAgeInSeconds ?? AsyncDefaults.maxAsyncEventAgeInSeconds,
      destinationConfig: body.destinationConfig ?? {},
      statefulInvocation: body.statefulInvocation ?? false,
      ...(body.maxAsyncConcurrency === undefined ? {} : { maxAsyncConcurrency: body.maxAsyncConcurrency }),
      ...(body.recursiveLoop === undefined ? {} : { recursiveLoop: body.recursiveLoop }),
      ...(body.maxChainDepth === undefined ? {} : { maxChainDepth: body.maxChainDepth }),
      createdTime: existing?.value.createdTime ?? now,
      lastModifiedTime: now,
    };
    await ctx.store.asyncConfigs.put(t.key, record);
    return asyncConfigView(record);
  });

  app.get<{ Params: Params }>(path, async (req) => {
    const t = target(req.params);
    const found = ctx.mirrors.asyncConfigs.get(t.key);
    if (!found) throw errors.asyncConfigNotFound(t.service, t.fn, t.qualifier);
    return asyncConfigView(found.value);
  });

  app.delete<{ Params: Params }>(path, async (req, reply) => {
    const t = target(req.params);
    if (!(await ctx.store.asyncConfigs.get(t.key))) throw errors.asyncConfigNotFound(t.service, t.fn, t.qualifier);
    await ctx.store.asyncConfigs.delete(t.key);
    return reply.status(204).send();
  });

  app.get<{ Params: Params }>("/2016-08-15/services/:serviceName/functions/:functionName/async-invoke-configs", async (req) => {
    const { service } = parseQualifiedService(req.params.serviceName);
    const fn = assertName("function", req.params.functionName);
    resolver.resolve(service, undefined, fn);
    const query = parseOrThrow(ListQuery, req.query);
    const configs = [...ctx.mirrors.asyncConfigs.withPrefix(ctx.naming.kvKeys.asyncConfig(service, "", fn))].map(([, v]) => v.value);
    const { page, nextToken } = paginate(configs, (c) => c.qualifier, query);
    return { configs: page.map(asyncConfigView), ...(nextToken ? { nextToken } : {}) };
  });
}
