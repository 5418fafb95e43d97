import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { assertName, errors, layerVersionView, ListLayerVersionsQuery, parseOrThrow, PublishLayerVersionBody, type LayerVersionRecord } from "@nimbus/protocol";
import { codeUrl } from "../code/routes.js";
import type { GatewayContext } from "../context.js";
import { baseUrl } from "../http/base-url.js";
import { jsonBody } from "../http/body.js";
import { ListQuery, paginate } from "../http/listing.js";
import type { LayerCatalog } from "./catalog.js";

const flag = z.enum(["true", "false"], { error: "must be true or false" });
/** putLayerACL's settings, and listLayers' filters of the same names. */
const LayerFlags = z.object({ public: flag.optional(), official: flag.optional() });

function versionOf(raw: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) throw errors.invalidArgument(`'${raw.slice(0, 64)}' is not a layer version`);
  return Number(raw);
}

/** FC's layer API: `/layers`, `/layers/{name}/versions[/{n}]`, `/layerarn/{arn}`. */
export function layerRoutes(app: FastifyInstance, ctx: GatewayContext, layers: LayerCatalog, codeBodyLimit: number): void {
  const view = (req: FastifyRequest, record: LayerVersionRecord) => layerVersionView(record, ctx.arn, codeUrl(ctx, baseUrl(req), record.codeSha256));

  app.post<{ Params: { layerName: string } }>("/2016-08-15/layers/:layerName/versions", { bodyLimit: codeBodyLimit }, async (req) => {
    const layer = assertName("layer", req.params.layerName);
    return view(req, await layers.publish(layer, jsonBody(req, PublishLayerVersionBody)));
  });

  app.get("/2016-08-15/layers", async (req) => {
    const query = parseOrThrow(ListQuery, req.query);
    const which = parseOrThrow(LayerFlags, req.query);
    // Official layers are Alibaba Cloud's: a Nimbus deployment has none.
    const shown = which.official === "true" ? [] : layers.latest().filter((l) => which.public !== "true" || l.acl === 1);
    const { page, nextToken } = paginate(shown, (l) => l.layerName, query);
    return { layers: page.map((l) => view(req, l)), ...(nextToken ? { nextToken } : {}) };
  });

  app.get<{ Params: { layerName: string } }>("/2016-08-15/layers/:layerName/versions", async (req) => {
    const layer = assertName("layer", req.params.layerName);
    const query = parseOrThrow(ListLayerVersionsQuery, req.query);
    const all = layers.versions(layer);
    if (all.length === 0) throw errors.layerNotFound(layer);
    const from = all.filter((v) => v.version >= (query.startVersion ?? 1));
    const limit = query.limit ?? 20;
    const next = from[limit];
    return { layers: from.slice(0, limit).map((l) => view(req, l)), ...(next ? { nextVersion: next.version } : {}) };
  });

  app.get<{ Params: { layerName: string; version: string } }>("/2016-08-15/layers/:layerName/versions/:version", async (req) => {
    return view(req, layers.get(assertName("layer", req.params.layerName), versionOf(req.params.version)));
  });

  app.delete<{ Params: { layerName: string; version: string } }>("/2016-08-15/layers/:layerName/versions/:version", async (req, reply) => {
    await layers.delete(assertName("layer", req.params.layerName), versionOf(req.params.version));
    return reply.status(204).send();
  });

  // FC's putLayerACL: `public=true|false` makes every version of the layer public (acl 1) or private.
  app.put<{ Params: { layerName: string } }>("/2016-08-15/layers/:layerName/acl", async (req) => {
    const layer = assertName("layer", req.params.layerName);
    const query = parseOrThrow(LayerFlags, req.query);
    if (query.official === "true") throw errors.operationNotSupported("Making a layer official", "official layers are Alibaba Cloud's own; a layer of this deployment can be public (public=true)");
    if (query.public === undefined) throw errors.invalidArgument("public is required: true or false");
    await layers.setAcl(layer, query.public === "true" ? 1 : 0);
    return {};
  });

  app.get<{ Params: { arn: string } }>("/2016-08-15/layerarn/:arn", async (req) => view(req, layers.byArn(req.params.arn)));
}
