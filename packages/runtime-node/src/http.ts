import { validateHeaderName, validateHeaderValue } from "node:http";
import { Readable } from "node:stream";
import type { FunctionError, HttpRequestInfo, HttpResponseInfo } from "@nimbus/protocol/wire";
import { functionError } from "./errors.js";
import { callHandler } from "./event.js";

/** FC's HTTP request: a readable stream of the body, with the request's fields on it. */
function buildRequest(info: HttpRequestInfo, body: Buffer) {
  const request = new Readable({ read() {} }) as Readable & HttpRequestInfo;
  request.push(body);
  request.push(null);
  return Object.assign(request, {
    headers: info.headers,
    path: info.path,
    queries: info.queries,
    method: info.method,
    clientIP: info.clientIP,
    url: info.url,
  });
}

/**
 * Final statuses a function may answer with (1xx are interim, nothing above 599 is HTTP); the
 * gateway checks the same range (services/gateway/src/invoke/http-response.ts). Kept here as a
 * literal: the runtime bundle imports nothing from the platform but the wire types.
 */
const STATUS_MIN = 200;
const STATUS_MAX = 599;

interface Sent {
  http: HttpResponseInfo;
  body: Buffer;
}

/** FC's HTTP response: setStatusCode, setHeader, deleteHeader, send(string | Buffer | stream). */
function buildResponse(done: (sent: Sent | { error: unknown }) => void) {
  let status = 200;
  const headers: Record<string, string | string[]> = {};
  let sent = false;
  const finish = (body: Buffer) => {
    if (sent) return;
    sent = true;
    done({ http: { status, headers }, body });
  };
  return {
    setStatusCode(code: number) {
      if (!Number.isInteger(code) || code < STATUS_MIN || code > STATUS_MAX) {
        throw new RangeError(`invalid status code ${String(code)}: an HTTP function answers with an integer from ${STATUS_MIN} to ${STATUS_MAX}`);
      }
      status = code;
    },
    // Node's own checks, as its http server would apply them: a name that is not a token or a value
    // with CR/LF (header injection) throws here, to the function, instead of failing the answer later.
    setHeader(name: string, value: string | number | string[]) {
      validateHeaderName(name);
      const values = Array.isArray(value) ? value.map(String) : String(value);
      for (const v of Array.isArray(values) ? values : [values]) validateHeaderValue(name, v);
      headers[name.toLowerCase()] = values;
    },
    getHeader(name: string) {
      return headers[name.toLowerCase()];
    },
    hasHeader(name: string) {
      return name.toLowerCase() in headers;
    },
    deleteHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
    send(body?: string | Buffer | Uint8Array | Readable) {
      if (body instanceof Readable) {
        const chunks: Buffer[] = [];
        body.on("data", (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
        body.on("end", () => finish(Buffer.concat(chunks)));
        body.on("error", (error) => {
          if (!sent) {
            sent = true;
            done({ error });
          }
        });
        return;
      }
      finish(body === undefined || body === null ? Buffer.alloc(0) : typeof body === "string" ? Buffer.from(body) : Buffer.from(body));
    },
  };
}

/**
 * Runs an HTTP handler `(request, response, context)`; it answers when the handler calls
 * `response.send`. A throw before that is an UnhandledInvocationError.
 */
export function runHttp(
  fn: (...args: unknown[]) => unknown,
  info: HttpRequestInfo,
  body: Buffer,
  context: unknown,
): Promise<Sent | { error: FunctionError }> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (value: Sent | { error: FunctionError }) => {
      if (!settled) {
        settled = true;
        resolve(value);
      }
    };
    const response = buildResponse((sent) =>
      "error" in sent ? settle({ error: functionError("UnhandledInvocationError", sent.error) }) : settle(sent),
    );
    void callHandler(fn, [buildRequest(info, body), response, context]).then((outcome) => {
      // A callback-style or async HTTP handler that ends without send(): report its error, if any.
      if (!outcome.ok) settle({ error: outcome.error });
    });
  });
}
