import type { FastifyInstance } from "fastify";
import {
  aliasView,
  assertName,
  CreateAliasBody,
  errors,
  Headers,
  ListVersionsQuery,
  parseOrThrow,
  PublishVersionBody,
  UpdateAliasBody,
  VERSION_ID_PATTERN,
  versionView,
} from "@nimbus/protocol";
import type { AliasCatalog } from "../aliases/catalog.js";
import { jsonBody } from "../http/body.js";
import { checkIfMatch, etagOf, hasIfMatch } from "../http/etag.js";
import { ListQuery, paginate } from "../http/listing.js";
import type { VersionCatalog } from "./catalog.js";

interface ServiceParams {
  serviceName: string;
}

/** FC's version API (`…/services/{svc}/versions`) and alias API (`…/services/{svc}/aliases`). */
export function versionRoutes(app: FastifyInstance, versions: VersionCatalog, aliases: AliasCatalog): void {
  const base = "/2016-08-15/services/:serviceName";

  app.post<{ Params: ServiceParams }>(`${base}/versions`, async (req) => {
    const service = assertName("service", req.params.serviceName);
    const body = jsonBody(req, PublishVersionBody);
    return versionView(await versions.publish(service, body.description ?? ""));
  });

  app.get<{ Params: ServiceParams }>(`${base}/versions`, async (req) => {
    const service = assertName("service", req.params.serviceName);
    const page = versions.list(service, parseOrThrow(ListVersionsQuery, req.query));
    return { versions: page.versions.map(versionView), direction: page.direction, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  });

  app.delete<{ Params: ServiceParams & { versionId: string } }>(`${base}/versions/:versionId`, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    if (!VERSION_ID_PATTERN.test(req.params.versionId)) throw errors.invalidArgument(`'${req.params.versionId.slice(0, 64)}' is not a version id`);
    await versions.delete(service, req.params.versionId);
    return reply.status(204).send();
  });

  app.post<{ Params: ServiceParams }>(`${base}/aliases`, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const record = await aliases.create(service, jsonBody(req, CreateAliasBody));
    return reply.header(Headers.etag, etagOf(record)).send(aliasView(record));
  });

  app.get<{ Params: ServiceParams }>(`${base}/aliases`, async (req) => {
    const service = assertName("service", req.params.serviceName);
    const { page, nextToken } = paginate(aliases.list(service), (a) => a.aliasName, parseOrThrow(ListQuery, req.query));
    return { aliases: page.map(aliasView), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: ServiceParams & { aliasName: string } }>(`${base}/aliases/:aliasName`, async (req, reply) => {
    const record = aliases.get(assertName("service", req.params.serviceName), assertName("alias", req.params.aliasName));
    return reply.header(Headers.etag, etagOf(record)).send(aliasView(record));
  });

  app.put<{ Params: ServiceParams & { aliasName: string } }>(`${base}/aliases/:aliasName`, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const alias = assertName("alias", req.params.aliasName);
    const guard = { check: (current: unknown) => checkIfMatch(req, current), strict: hasIfMatch(req) };
    const record = await aliases.update(service, alias, jsonBody(req, UpdateAliasBody), guard);
    return reply.header(Headers.etag, etagOf(record)).send(aliasView(record));
  });

  app.delete<{ Params: ServiceParams & { aliasName: string } }>(`${base}/aliases/:aliasName`, async (req, reply) => {
    const service = assertName("service", req.params.serviceName);
    const alias = assertName("alias", req.params.aliasName);
    await aliases.delete(service, alias, { check: (current) => checkIfMatch(req, current), strict: hasIfMatch(req) });
    return reply.status(204).send();
  });
}
