import { validateHeaderName, validateHeaderValue } from "node:http";
import type { HttpResponseInfo } from "@nimbus/protocol/wire";

/** Response headers a function may not set (the platform owns them). */
const PLATFORM_RESPONSE_HEADERS = new Set(["connection", "content-length", "date", "keep-alive", "server", "transfer-encoding"]);

/**
 * Final statuses a function may answer with: 1xx are interim responses (a client would wait for the
 * real one) and nothing above 599 is HTTP. The runtime refuses others in `setStatusCode`; this is the
 * gateway's own check, for custom runtimes and anything else an instance sends.
 */
export const FUNCTION_STATUS = { min: 200, max: 599 } as const;

export type CheckedResponse =
  | { ok: true; status: number; headers: [string, string | string[]][]; dropped: string[] }
  | { ok: false; errorMessage: string };

function isValidHeader(name: string, value: unknown): value is string | string[] {
  try {
    validateHeaderName(name);
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== "string") return false;
      validateHeaderValue(name, v);
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * What the gateway may send for a function's HTTP response. An invalid status fails the call (the
 * function did not answer HTTP); a header Node would refuse to write (a name that is not a token, a
 * value with CR, LF or other control characters) is dropped and reported, never written: no header
 * injection, and the rest of the answer still reaches the client. `x-fc-*` and the headers the
 * platform owns are dropped silently, as FC does.
 */
export function checkFunctionResponse(http: HttpResponseInfo): CheckedResponse {
  const { status } = http;
  if (!Number.isInteger(status) || status < FUNCTION_STATUS.min || status > FUNCTION_STATUS.max) {
    return { ok: false, errorMessage: `the function answered with an invalid HTTP status code ${JSON.stringify(status)} (allowed: ${FUNCTION_STATUS.min}-${FUNCTION_STATUS.max})` };
  }
  const headers: [string, string | string[]][] = [];
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(http.headers ?? {}) as [string, unknown][]) {
    const lower = name.toLowerCase();
    if (lower.startsWith("x-fc-") || PLATFORM_RESPONSE_HEADERS.has(lower)) continue;
    if (isValidHeader(lower, value)) headers.push([lower, value]);
    else dropped.push(lower.slice(0, 64));
  }
  return { ok: true, status, headers, dropped };
}
