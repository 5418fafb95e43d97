import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  CreateCustomDomainBody,
  customDomainView,
  DOMAIN_NAME_PATTERN,
  errors,
  Headers,
  NimbusError,
  parseOrThrow,
  UpdateCustomDomainBody,
} from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";
import { jsonBody } from "../http/body.js";
import { checkIfMatch, etagOf, hasIfMatch } from "../http/etag.js";
import { ListQuery, paginate } from "../http/listing.js";
import { CUSTOM_DOMAIN_PREFIX, customDomainOf } from "../http/server.js";
import { serveHttp, type HttpDeps } from "../invoke/proxy.js";
import { rawBodies } from "../invoke/raw-bodies.js";
import type { CustomDomainCatalog } from "./catalog.js";

function domainParam(raw: string): string {
  const domain = raw.toLowerCase();
  if (!DOMAIN_NAME_PATTERN.test(domain)) throw errors.invalidArgument(`'${raw.slice(0, 256)}' is not a domain name`);
  return domain;
}

/** FC's custom domain API (`/2016-08-15/custom-domains`), and the requests custom domains receive. */
export function customDomainRoutes(app: FastifyInstance, ctx: GatewayContext, domains: CustomDomainCatalog, http: HttpDeps): void {
  const view = (record: Parameters<typeof customDomainView>[0]) => customDomainView(record, ctx.arn.accountId);

  app.post("/2016-08-15/custom-domains", async (req, reply) => {
    const record = await domains.create(jsonBody(req, CreateCustomDomainBody));
    return reply.header(Headers.etag, etagOf(record)).send(view(record));
  });

  app.get("/2016-08-15/custom-domains", async (req) => {
    const { page, nextToken } = paginate(domains.list(), (d) => d.domainName, parseOrThrow(ListQuery, req.query));
    return { customDomains: page.map(view), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: { domainName: string } }>("/2016-08-15/custom-domains/:domainName", async (req, reply) => {
    const record = domains.get(domainParam(req.params.domainName));
    return reply.header(Headers.etag, etagOf(record)).send(view(record));
  });

  app.put<{ Params: { domainName: string } }>("/2016-08-15/custom-domains/:domainName", async (req, reply) => {
    const guard = { check: (current: unknown) => checkIfMatch(req, current), strict: hasIfMatch(req) };
    const record = await domains.update(domainParam(req.params.domainName), jsonBody(req, UpdateCustomDomainBody), guard);
    return reply.header(Headers.etag, etagOf(record)).send(view(record));
  });

  app.delete<{ Params: { domainName: string } }>("/2016-08-15/custom-domains/:domainName", async (req, reply) => {
    await domains.delete(domainParam(req.params.domainName));
    return reply.status(204).send();
  });

  // Requests for a custom domain's host arrive here (the server rewrites their URL; see http/server.ts).
  void app.register(async (scope) => {
    rawBodies(scope);
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const host = customDomainOf(req);
      if (!host) throw errors.pathNotSupported(req.method, req.url.split("?")[0] ?? req.url);
      const url = req.originalUrl;
      const path = url.split("?")[0] ?? "/";
      const route = domains.route(host, path);
      if (!route) throw new NimbusError("ResourceNotFound", `no route of custom domain '${host}' matches the path '${path}'`);
      if (route.methods?.length && !route.methods.includes(req.method as never)) {
        throw new NimbusError("MethodNotAllowed", `method ${req.method} is not routed for '${route.path}' on '${host}' (allowed: ${route.methods.join(", ")})`);
      }
      return serveHttp(req, reply, http, { service: route.serviceName, qualifier: route.qualifier, fn: route.functionName }, { path, basePath: "", url });
    };
    const options = { bodyLimit: http.limits.maxSyncBodyBytes, config: { public: true } };
    scope.all(CUSTOM_DOMAIN_PREFIX, options, handler);
    scope.all(`${CUSTOM_DOMAIN_PREFIX}/*`, options, handler);
  });
}
