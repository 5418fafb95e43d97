import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { errors, Limits, parseOrThrow, parseServiceArn, TagResourceBody, UntagResourceBody } from "@nimbus/protocol";
import { jsonBody } from "../http/body.js";
import type { ServiceCatalog } from "../services/catalog.js";

const TagsQuery = z.object({ resourceArn: z.string({ error: "is required" }).min(1).max(512) });

/** The service a tagging ARN names (FC 2.0 tags services only). */
function serviceOf(arn: string): string {
  const parsed = parseServiceArn(arn);
  if (!parsed) {
    throw errors.invalidArgument(`resourceArn '${arn}' is invalid: only services can be tagged (acs:fc:{region}:{account}:services/{name})`);
  }
  return parsed.service;
}

/** FC 2.0 tag API: `POST|DELETE|GET /2016-08-15/tag`. */
export function tagRoutes(app: FastifyInstance, services: ServiceCatalog): void {
  app.post("/2016-08-15/tag", async (req) => {
    const body = jsonBody(req, TagResourceBody);
    await services.modify(serviceOf(body.resourceArn), (current) => {
      const tags = { ...current.tags, ...body.tags };
      if (Object.keys(tags).length > Limits.tagsPerResource) {
        throw errors.invalidArgument(`a resource can have at most ${Limits.tagsPerResource} tags`);
      }
      return { ...current, tags };
    });
    return {};
  });

  app.delete("/2016-08-15/tag", async (req) => {
    const body = jsonBody(req, UntagResourceBody);
    await services.modify(serviceOf(body.resourceArn), (current) => {
      const remove = new Set(body.all ? Object.keys(current.tags) : body.tagKeys ?? []);
      const tags = Object.fromEntries(Object.entries(current.tags).filter(([k]) => !remove.has(k)));
      return { ...current, tags };
    });
    return {};
  });

  app.get("/2016-08-15/tag", async (req) => {
    const { resourceArn } = parseOrThrow(TagsQuery, req.query);
    const record = services.get(serviceOf(resourceArn));
    return { resourceArn, tags: record.tags };
  });
}
