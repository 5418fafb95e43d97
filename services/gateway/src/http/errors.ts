import { errors, isNimbusError, NimbusError } from "@nimbus/protocol";

/** The router's bound on one path parameter (names are far shorter; this only stops abuse). */
export const MAX_PATH_SEGMENT_CHARS = 1024;

/**
 * nats.js and ioredis errors that mean "the control plane or Redis is unreachable right now":
 * retryable, not a bug.
 */
const UNAVAILABLE = new Set([
  "MaxRetriesPerRequestError",
  "TimeoutError",
  "ClosedConnectionError",
  "DrainingConnectionError",
  "ConnectionError",
  "RequestError",
  "NoRespondersError",
]);

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

/**
 * Maps anything a request can fail with to the FC error the client sees. Fastify's own errors
 * (body too large, bad JSON, bad content length) become FC codes; unknown errors are 500s that
 * never leak internals.
 */
export function toNimbusError(err: unknown, bodyLimit: number): NimbusError {
  if (isNimbusError(err)) return err;
  const e = (err ?? {}) as FastifyLikeError & { name?: string };
  if (e.name && UNAVAILABLE.has(e.name)) return errors.unavailable("the control plane (NATS or Redis) is unreachable right now; retry", err);
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return errors.entityTooLarge(bodyLimit);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return errors.invalidArgument("unsupported Content-Type");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return errors.invalidArgument("the request body does not match its Content-Length");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errors.invalidArgument("the request body is empty");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return errors.invalidArgument(`a segment of the request path is too long (longer than ${MAX_PATH_SEGMENT_CHARS} characters)`);
    case "FST_ERR_BAD_URL":
      return errors.invalidArgument("the request path is not a valid URL path (malformed percent-encoding)");
    default:
      break;
  }
  if (e instanceof SyntaxError || (e.statusCode === 400 && /JSON|prototype|constructor/i.test(e.message ?? ""))) {
    return errors.invalidArgument(`the request body is not valid JSON: ${e.message ?? "parse error"}`);
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return errors.invalidArgument(e.message ?? "bad request");
  }
  return errors.internal(undefined, err);
}
