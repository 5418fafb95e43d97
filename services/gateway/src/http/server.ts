import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import type { Socket } from "node:net";
import { assertJsonDepth, errors, Headers, Limits, NimbusError, statusOf } from "@nimbus/protocol";
import type { Logger } from "@nimbus/telemetry";
import type { Authenticator } from "./auth.js";
import { verifyContentMd5 } from "./content-md5.js";
import { MAX_PATH_SEGMENT_CHARS, toNimbusError } from "./errors.js";

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

/** Where requests for a custom domain's host are routed internally (their own URL follows). */
export const CUSTOM_DOMAIN_PREFIX = "/2016-08-15/_custom-domain";
const CUSTOM_DOMAIN = Symbol("nimbus.customDomain");

/** The custom domain a request was sent to (its Host), when the server routed it as one. */
export function customDomainOf(req: { raw: object }): string | undefined {
  return (req.raw as { [CUSTOM_DOMAIN]?: string })[CUSTOM_DOMAIN];
}

export interface HttpServerOptions {
  /** True when requests for this host (lowercase, no port) belong to a custom domain. */
  isCustomDomain?: (host: string) => boolean;
  logger: Logger;
  authenticator: Authenticator;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/**
 * The gateway's Fastify instance: a UUID request id on every response, FC signature checks before
 * any body is read, bodies bound to their signed Content-MD5, lenient JSON (FC's SDKs send empty
 * JSON bodies on GET/DELETE) nested at most Limits.jsonDepth deep, raw bytes for everything else,
 * and every failure answered as FC's `{ErrorCode, ErrorMessage}`.
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    // pino's Logger and Fastify's logger interface differ only in fields Fastify never reads.
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "requestId" }),
    genReqId: () => randomUUID(),
    // Most requests never log: their child logger is made the first time one does.
    childLoggerFactory: (logger, bindings, options) => new LazyChild(logger, bindings, options) as unknown as FastifyBaseLogger,
    bodyLimit: Limits.managementBodyBytes,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT_CHARS },
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Slow clients: headers and the whole request must arrive in time (checked every second).
    requestTimeout: opts.requestTimeoutMs,
    http: {
      maxHeaderSize: opts.maxHeaderBytes,
      headersTimeout: opts.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, opts.headersTimeoutMs),
    },
    // What the router refuses before any hook runs (a malformed or over-long path segment).
    frameworkErrors: (err, req, reply) => {
      const fc = toNimbusError(err, Limits.managementBodyBytes);
      req.log.debug({ code: fc.code, message: fc.message }, "request rejected by the router");
      void (reply as FastifyReply).header(Headers.requestId, req.id).status(statusOf(fc.code)).type("application/json").send(fc.toFcBody());
    },
    clientErrorHandler: (err, socket) => answerClientError(err as Error & { code?: string }, socket, opts.maxHeaderBytes),
    // A request for a custom domain's host goes to the custom-domain route, whatever its path.
    rewriteUrl: (req) => {
      const url = req.url ?? "/";
      const host = (req.headers.host ?? "").toLowerCase().replace(/:\d+$/, "");
      if (!host || !opts.isCustomDomain?.(host)) return url;
      (req as { [CUSTOM_DOMAIN]?: string })[CUSTOM_DOMAIN] = host;
      return `${CUSTOM_DOMAIN_PREFIX}${url.startsWith("/") ? url : `/${url}`}`;
    },
  });

  // Empty JSON bodies are "no body" (the Python SDK sends Content-Type: application/json on GET/DELETE).
  const jsonParser = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.length === 0) return done(null, undefined);
    try {
      assertJsonDepth(text);
    } catch (err) {
      return done(err as Error, undefined);
    }
    jsonParser(req, text, done);
  });
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  app.addHook("onRequest", async (req, reply) => {
    reply.header(Headers.requestId, req.id);
    if (req.routeOptions.config.public) return;
    req.accessKeyId = opts.authenticator.verify({ method: req.method, url: req.url, headers: req.headers });
  });
  verifyContentMd5(app);

  app.setErrorHandler((err, req, reply) => {
    const fc = toNimbusError(err, req.routeOptions.bodyLimit ?? Limits.managementBodyBytes);
    const status = statusOf(fc.code);
    if (status === 503) req.log.warn({ err }, "request failed: dependency unavailable");
    else if (status >= 500) req.log.error({ err }, "request failed");
    else req.log.debug({ code: fc.code, message: fc.message }, "request rejected");
    return reply.status(statusOf(fc.code)).type("application/json").send(fc.toFcBody());
  });

  app.setNotFoundHandler((req) => {
    throw errors.pathNotSupported(req.method, req.url.split("?")[0] ?? req.url);
  });

  return app;
}

/**
 * Answers what Node's HTTP parser refuses before Fastify sees a request (oversized headers, slow or
 * malformed requests) with FC's error body and a request id, then closes the connection.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket, maxHeaderBytes: number): void {
  let status = "400 Bad Request";
  let fc = errors.invalidArgument("malformed HTTP request");
  if (err.code === "HPE_HEADER_OVERFLOW") {
    status = "431 Request Header Fields Too Large";
    fc = errors.invalidArgument(`request headers exceed the limit of ${maxHeaderBytes} bytes`);
  } else if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = "408 Request Timeout";
    fc = new NimbusError("RequestTimeout", "the request was not received in time");
  }
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(fc.toFcBody());
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `${Headers.requestId}: ${randomUUID()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * A request's logger that becomes `parent.child(bindings)` the first time it is used: pino builds
 * (and serializes the bindings of) a child at once, which every request paid for, though few log.
 * A class, so that a request allocates one small object, not a closure per method.
 */
class LazyChild {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: object,
  ) {}

  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(value: string) {
    this.real().level = value;
  }

  fatal(...args: unknown[]): void {
    (this.real().fatal as (...a: unknown[]) => void)(...args);
  }
  error(...args: unknown[]): void {
    (this.real().error as (...a: unknown[]) => void)(...args);
  }
  warn(...args: unknown[]): void {
    (this.real().warn as (...a: unknown[]) => void)(...args);
  }
  info(...args: unknown[]): void {
    (this.real().info as (...a: unknown[]) => void)(...args);
  }
  debug(...args: unknown[]): void {
    (this.real().debug as (...a: unknown[]) => void)(...args);
  }
  trace(...args: unknown[]): void {
    (this.real().trace as (...a: unknown[]) => void)(...args);
  }
  silent(): void {}
  child(bindings: Record<string, unknown>, options?: object): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }
}
