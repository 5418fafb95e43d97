import type { FastifyRequest } from "fastify";
import type { z } from "zod";
import { assertJsonDepth, assertNoPrototypeKeys, dropNulls, errors, parseOrThrow } from "@nimbus/protocol";

/**
 * The request's JSON body validated against `schema`. Bodies sent with another content type are
 * still read as JSON (FC's SDKs are not consistent about it); `null` members count as absent.
 */
export function jsonBody<S extends z.ZodType>(req: FastifyRequest, schema: S): z.output<S> {
  let body: unknown = req.body;
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) body = undefined;
    else {
      const text = body.toString("utf8");
      assertJsonDepth(text);
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw errors.invalidArgument(`the request body is not valid JSON: ${(err as Error).message}`);
      }
    }
  }
  if (body === undefined) body = {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw errors.invalidArgument("the request body must be a JSON object");
  }
  assertNoPrototypeKeys(body);
  return parseOrThrow(schema, dropNulls(body));
}
