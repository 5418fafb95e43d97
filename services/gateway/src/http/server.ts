import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { errors, Headers, Limits, statusOf } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";
import type { Authenticator } from "./auth.js";
import { toNimbusError } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Routes that answer without a signature (health, metrics). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** The verified access key id of the caller. */
    accessKeyId?: string;
  }
}

export interface HttpServerOptions {
  logger: Logger;
  authenticator: Authenticator;
  maxHeaderBytes: number;
}

/**
 * The gateway's Fastify instance: a UUID request id on every response, FC signature checks before
 * any body is read, lenient JSON (FC's SDKs send empty JSON bodies on GET/DELETE), raw bytes for
 * everything else, and every failure answered as FC's `{ErrorCode, ErrorMessage}`.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    // pino's Logger and Fastify's logger interface differ only in fields Fastify never reads.
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "requestId" }),
    genReqId: () => randomUUID(),
    bodyLimit: Limits.managementBodyBytes,
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: true,
    forceCloseConnections: "idle",
    http: { maxHeaderSize: opts.maxHeaderBytes },
    clientErrorHandler: (err, socket) => {
      const requestId = randomUUID();
      const tooLarge = (err as { code?: string }).code === "HPE_HEADER_OVERFLOW";
      const fc = tooLarge
        ? errors.invalidArgument(`request headers exceed the limit of ${opts.maxHeaderBytes} bytes`)
        : errors.invalidArgument("malformed HTTP request");
      const body = JSON.stringify(fc.toFcBody());
      const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
            `${Headers.requestId}: ${requestId}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    },
  });

  // Empty JSON bodies are "no body" (the Python SDK sends Content-Type: application/json on GET/DELETE).
  const jsonParser = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.length === 0) return done(null, undefined);
    jsonParser(req, text, done);
  });
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.addHook("onRequest", async (req, reply) => {
    reply.header(Headers.requestId, req.id);
    if (req.routeOptions.config.public) return;
    req.accessKeyId = opts.authenticator.verify({ method: req.method, url: req.url, headers: req.headers });
  });

  app.setErrorHandler((err, req, reply) => {
    const fc = toNimbusError(err, req.routeOptions.bodyLimit ?? Limits.managementBodyBytes);
    if (statusOf(fc.code) >= 500) req.log.error({ err }, "request failed");
    else req.log.debug({ code: fc.code, message: fc.message }, "request rejected");
    return reply.status(statusOf(fc.code)).type("application/json").send(fc.toFcBody());
  });

  app.setNotFoundHandler((req) => {
    throw errors.pathNotSupported(req.method, req.url.split("?")[0] ?? req.url);
  });

  return app;
}
