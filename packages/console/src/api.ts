// The API as the console uses it: every request signed in the browser with the session's key pair,
// errors with FC's code, message and request id, and a watch on the gateway's reachability.
import { signal } from "@preact/signals";
import { forgetKeys, signedHeaders, type Credentials } from "./sign";

export const API = "/2016-08-15";
const SESSION_KEY = "nimbus.console.session";

/** A failed call as FC describes it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** The key pair signed in with: in session storage only (gone with the tab; never in a URL, a cookie or local storage). */
export const session = signal<Credentials | undefined>(load());
/** False while the gateway cannot be reached (a banner says so; calls resume when it is back). */
export const online = signal(true);

function load(): Credentials | undefined {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Credentials) : undefined;
  } catch {
    return undefined;
  }
}

export function signIn(credentials: Credentials): void {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(credentials));
  session.value = credentials;
}

export function signOut(): void {
  sessionStorage.removeItem(SESSION_KEY);
  forgetKeys();
  session.value = undefined;
}

export interface CallOptions {
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the body as is (bytes or text) rather than as JSON. */
  raw?: BodyInit;
  credentials?: Credentials;
  signal?: AbortSignal;
}

export interface Answer<T> {
  status: number;
  data: T;
  headers: Headers;
  requestId: string | undefined;
}

/** A signed call; resolves with the JSON answer (or text), throws ApiError. */
export async function call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
  const res = await send(method, path, options);
  const text = await res.text();
  const requestId = res.headers.get("x-fc-request-id") ?? undefined;
  if (res.status >= 400) {
    let code = `HTTP${res.status}`;
    let message = text.slice(0, 500) || res.statusText;
    try {
      const body = JSON.parse(text) as { ErrorCode?: string; ErrorMessage?: string };
      code = body.ErrorCode ?? code;
      message = body.ErrorMessage ?? message;
    } catch {
      // not FC's JSON error
    }
    throw new ApiError(res.status, code, message, requestId);
  }
  let data: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json") && text) data = JSON.parse(text);
  return { status: res.status, data: data as T, headers: res.headers, requestId };
}

/** The signed request itself (for streams and bodies read as they come). */
export async function send(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const credentials = options.credentials ?? session.value;
  if (!credentials) throw new ApiError(401, "NotSignedIn", "sign in first", undefined);
  const url = API + path;
  const headers: Record<string, string> = { ...options.headers };
  let body: BodyInit | undefined = options.raw;
  // A browser adds a content type to a text body on its own; it must be the one signed.
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/octet-stream";
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const signed = await signedHeaders(credentials, method, url, headers);
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== "") query.set(k, String(v));
  const qs = query.toString();
  let res: Response;
  try {
    res = await fetch(qs ? `${url}?${qs}` : url, { method, headers: signed, ...(body === undefined ? {} : { body }), ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    if ((err as Error).name !== "AbortError") gatewayGone();
    throw new ApiError(0, "GatewayUnreachable", "the gateway cannot be reached; retrying", undefined);
  }
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    if (!res.headers.get("x-fc-request-id")) gatewayGone();
  } else if (!online.value) online.value = true;
  if (res.status === 401 || res.status === 403) {
    // A key that stopped working (removed, or the clock is off): back to the sign-in page, saying why.
    const clone = res.clone();
    void clone.text().then((t) => {
      if (/InvalidAccessKeyId|SignatureNotMatch|AccessDenied/.test(t) && !options.credentials) {
        signInError.value = t.includes("ErrorMessage") ? (JSON.parse(t) as { ErrorMessage: string }).ErrorMessage : t;
        signOut();
      }
    });
  }
  return res;
}

/** Why the last session ended (shown on the sign-in page). */
export const signInError = signal<string | undefined>(undefined);

let probing = false;
/** Marks the gateway gone and watches /readyz until it answers again. */
function gatewayGone(): void {
  online.value = false;
  if (probing) return;
  probing = true;
  const probe = async () => {
    try {
      const res = await fetch("/healthz", { cache: "no-store" });
      if (res.ok) {
        online.value = true;
        probing = false;
        return;
      }
    } catch {
      // still gone
    }
    setTimeout(() => void probe(), 1_000);
  };
  setTimeout(() => void probe(), 1_000);
}

/** Every page of a listing that pages with `nextToken` (up to `max` items). */
export async function listAll<T>(path: string, field: string, query: Record<string, string | number | undefined> = {}, max = 1_000): Promise<T[]> {
  const all: T[] = [];
  let nextToken: string | undefined;
  do {
    const { data } = await call<Record<string, unknown>>("GET", path, { query: { ...query, limit: 100, nextToken } });
    all.push(...((data[field] as T[] | undefined) ?? []));
    nextToken = data["nextToken"] as string | undefined;
  } while (nextToken && all.length < max);
  return all;
}

/** Path segment encoding. */
export const seg = (s: string) => encodeURIComponent(s);

/** Bytes as base64 (a code package for `code.zipFile`), in chunks a call's arguments can hold. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
