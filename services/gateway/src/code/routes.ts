import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { FastifyInstance } from "fastify";
import { errors } from "@nimbus/protocol";
import { signUrl } from "@nimbus/sdk";
import type { GatewayContext } from "../context.js";

const DOWNLOAD_PATH = "/2016-08-15/code-packages/";
const SHA256 = /^[0-9a-f]{64}$/;

/** A signed, expiring URL that downloads a stored code package. */
export function codeUrl(ctx: GatewayContext, baseUrl: string, sha256: string): string {
  return signUrl({
    baseUrl: ctx.env.NIMBUS_PUBLIC_URL ?? baseUrl,
    path: `${DOWNLOAD_PATH}${sha256}`,
    accessKeyId: ctx.env.NIMBUS_ACCESS_KEY_ID,
    accessKeySecret: ctx.env.NIMBUS_ACCESS_KEY_SECRET,
    expiresAt: new Date(Date.now() + ctx.env.NIMBUS_CODE_URL_TTL_SECONDS * 1000),
  });
}

/** The download behind `getFunctionCode`'s URL (verified like any signed request). */
export function codeRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get<{ Params: { sha256: string } }>(`${DOWNLOAD_PATH}:sha256`, async (req, reply) => {
    const { sha256 } = req.params;
    if (!SHA256.test(sha256)) throw errors.invalidArgument("not a code package id");
    const found = await ctx.store.code.stream(sha256);
    if (!found) throw errors.codeNotFound();
    return reply
      .type("application/zip")
      .header("content-length", found.size)
      .send(Readable.fromWeb(found.data as WebReadableStream<Uint8Array>));
  });
}
