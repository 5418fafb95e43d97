import type { FastifyInstance } from "fastify";
import {
  assertName,
  CreateServiceBody,
  Headers,
  parseOrThrow,
  parseQualifiedService,
  serviceView,
  UpdateServiceBody,
  type ServiceRecord,
} from "@nimbus/protocol";
import { jsonBody } from "../http/body.js";
import { checkIfMatch, etagOf, hasIfMatch } from "../http/etag.js";
import { ListQuery, paginate } from "../http/listing.js";
import type { ServiceCatalog } from "./catalog.js";

interface ServiceParams {
  serviceName: string;
}

/** `tag_<key>=<value>` query filters; an empty value matches any value of that key. */
function tagFilters(query: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(query)) {
    if (!key.startsWith("tag_") || key.length === 4) continue;
    out.push([key.slice(4), Array.isArray(value) ? String(value[0] ?? "") : String(value ?? "")]);
  }
  return out;
}

function matchesTags(record: ServiceRecord, filters: [string, string][]): boolean {
  return filters.every(([k, v]) => Object.hasOwn(record.tags, k) && (v === "" || record.tags[k] === v));
}

/** FC 2.0 service API: `/2016-08-15/services[/{serviceName}]`. */
export function serviceRoutes(app: FastifyInstance, catalog: ServiceCatalog): void {
  app.post("/2016-08-15/services", async (req, reply) => {
    const { serviceName, ...spec } = jsonBody(req, CreateServiceBody);
    const record = await catalog.create(serviceName, spec);
    return reply.header(Headers.etag, etagOf(record)).send(serviceView(record));
  });

  app.get("/2016-08-15/services", async (req) => {
    const raw = req.query as Record<string, unknown>;
    const query = parseOrThrow(ListQuery, raw);
    const filters = tagFilters(raw);
    const services = catalog.all().filter((s) => matchesTags(s, filters));
    const { page, nextToken } = paginate(services, (s) => s.serviceName, query);
    return { services: page.map(serviceView), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: ServiceParams }>("/2016-08-15/services/:serviceName", async (req, reply) => {
    const { service, qualifier } = parseQualifiedService(req.params.serviceName);
    const record = catalog.getQualified(service, qualifier);
    return reply.header(Headers.etag, etagOf(record)).send(serviceView(record));
  });

  app.put<{ Params: ServiceParams }>("/2016-08-15/services/:serviceName", async (req, reply) => {
    const name = assertName("service", req.params.serviceName);
    const spec = jsonBody(req, UpdateServiceBody);
    const record = await catalog.update(name, spec, { check: (current) => checkIfMatch(req, current), strict: hasIfMatch(req) });
    return reply.header(Headers.etag, etagOf(record)).send(serviceView(record));
  });

  app.delete<{ Params: ServiceParams }>("/2016-08-15/services/:serviceName", async (req, reply) => {
    const name = assertName("service", req.params.serviceName);
    await catalog.delete(name, { check: (current) => checkIfMatch(req, current), strict: hasIfMatch(req) });
    return reply.status(204).send();
  });
}
