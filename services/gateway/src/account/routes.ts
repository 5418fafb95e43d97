import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { errors, parseOrThrow } from "@nimbus/protocol";
import type { GatewayContext } from "../context.js";

/** What `/accountConfigs` tells: the limits this gateway enforces, by FC's config names. */
function accountConfigs(ctx: GatewayContext): Record<string, number> {
  const env = ctx.env;
  return {
    CodeSizeLimit: env.NIMBUS_MAX_CODE_ZIP_BYTES,
    CodeSizeLimitUnzipped: env.NIMBUS_MAX_CODE_UNZIPPED_BYTES,
    SyncPayloadSizeLimit: env.NIMBUS_MAX_SYNC_BODY_BYTES,
    AsyncPayloadSizeLimit: env.NIMBUS_MAX_ASYNC_BODY_BYTES,
    ResponseSizeLimit: env.NIMBUS_MAX_RESPONSE_BYTES,
  };
}

/** `config`: the names wanted (FC's SDK sends `config=CodeSizeLimit`, repeated for several); all when absent. */
const ConfigsQuery = z.object({ config: z.union([z.string().max(256), z.array(z.string().max(256)).max(32)]).optional() });
const PageQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).optional(), nextToken: z.string().max(1024).optional() });

/** What to do instead of uploading through a temporary OSS bucket. */
const codeInstead = (ctx: GatewayContext) =>
  `Nimbus takes a function's or layer's code inline, as code.zipFile (base64) in createFunction, updateFunction or publishLayerVersion, up to ${Math.floor(ctx.env.NIMBUS_MAX_CODE_ZIP_BYTES / 1024 / 1024)} MB zipped; there is no temporary OSS bucket to upload to`;

/**
 * FC 2.0's account-level reads (`/account-settings`, `/accountConfigs`, `/reservedCapacities`), and
 * the temporary OSS bucket tokens FC's SDK asks for before uploading large code, which only make
 * sense inside Alibaba Cloud: those say what Nimbus takes instead.
 */
export function accountRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get("/2016-08-15/account-settings", async () => ({
    // One zone per region: instances run wherever an invoker node of this deployment has room.
    availableAZs: [`${ctx.arn.region}-a`],
    defaultRole: "",
  }));

  app.get("/2016-08-15/accountConfigs", async (req) => {
    const query = parseOrThrow(ConfigsQuery, req.query);
    const all = accountConfigs(ctx);
    const asked = query.config === undefined ? [] : ([] as string[]).concat(query.config);
    const names = asked.length ? asked.flatMap((n) => n.split(",")).map((n) => n.trim()).filter(Boolean) : Object.keys(all);
    const unknown = names.filter((n) => !(n in all));
    if (unknown.length) throw errors.invalidArgument(`config: unknown ${unknown.join(", ")}; known: ${Object.keys(all).join(", ")}`);
    return Object.fromEntries(names.map((n) => [n, all[n]]));
  });

  // Subscription (reserved) capacity is a billing construct of Alibaba Cloud: always an empty page.
  app.get("/2016-08-15/reservedCapacities", async (req) => {
    parseOrThrow(PageQuery, req.query);
    return { reservedCapacities: [] };
  });

  app.get("/2016-08-15/tempBucketToken", async () => {
    throw errors.operationNotSupported("GetTempBucketToken", codeInstead(ctx));
  });
  app.get<{ Params: { serviceName: string } }>("/2016-08-15/services/:serviceName/tempCodeBucketToken", async () => {
    throw errors.operationNotSupported("GetTempCodeBucketToken", codeInstead(ctx));
  });
}
