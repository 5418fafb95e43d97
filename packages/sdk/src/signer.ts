import { createHmac } from "node:crypto";
import { Limits } from "@nimbus/protocol";

/** Header values as Node and fetch present them. */
export type HeaderBag = Record<string, string | string[] | number | undefined>;
/** Query values as parsed from a URL: a key may repeat. */
export type QueryBag = Record<string, string | string[] | undefined>;
/** Query pairs in order; a null value is a key given without `=`. */
export type QueryPairs = ReadonlyArray<readonly [string, string | null]>;

export interface SignableRequest {
  method: string;
  /** The path FC signs: `/2016-08-15/...`, without the query string. */
  path: string;
  /** Header names in lowercase. */
  headers: HeaderBag;
  /** Only for `/proxy/` paths (HTTP triggers), whose queries FC also signs. */
  queries?: QueryBag | QueryPairs | null;
  /** Replaces the Date line: a signed URL's `x-fc-expires`. */
  dateOverride?: string;
}

const SIGNED_PREFIX = "x-fc-";

function headerValue(value: HeaderBag[string]): string {
  if (value === undefined) return "";
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Sorted `name:value\n` lines of the `x-fc-*` headers, names lowercased. */
export function canonicalHeaders(headers: HeaderBag): string {
  const names: string[] = [];
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(headers)) {
    const name = key.toLowerCase().trim();
    if (!name.startsWith(SIGNED_PREFIX) || value === undefined) continue;
    names.push(name);
    values.set(name, headerValue(value));
  }
  names.sort();
  let out = "";
  for (const name of names) out += `${name}:${values.get(name)}\n`;
  return out;
}

/**
 * Sorted `key=value` lines of a query, every value of a repeated key included; a key given without
 * `=` is its own line.
 */
export function canonicalQueries(queries: QueryBag | QueryPairs): string {
  const params: string[] = [];
  if (Array.isArray(queries)) {
    for (const [key, value] of queries as QueryPairs) params.push(value === null ? key : `${key}=${value}`);
  } else {
    for (const [key, value] of Object.entries(queries as QueryBag)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) params.push(`${key}=${v}`);
    }
  }
  params.sort();
  return params.join("\n");
}

/**
 * FC's string to sign: method, Content-MD5, Content-Type, Date, the canonical `x-fc-*` headers, the
 * path, and for `/proxy/` paths the sorted queries.
 */
export function composeStringToSign(req: SignableRequest): string {
  const h = req.headers;
  const date = req.dateOverride ?? headerValue(h["date"] ?? h["x-fc-date"]);
  let out = `${req.method.toUpperCase()}\n${headerValue(h["content-md5"])}\n${headerValue(h["content-type"])}\n${date}\n${canonicalHeaders(h)}${req.path}`;
  if (req.queries) out += `\n${canonicalQueries(req.queries)}`;
  return out;
}

/** Base64 HMAC-SHA256 of a string to sign. */
export function signString(stringToSign: string, secret: string): string {
  return createHmac("sha256", secret).update(stringToSign, "utf8").digest("base64");
}

/** The `Authorization` header value for a request: `FC <accessKeyId>:<signature>`. */
export function authorization(accessKeyId: string, accessKeySecret: string, req: SignableRequest): string {
  return `FC ${accessKeyId}:${signString(composeStringToSign(req), accessKeySecret)}`;
}

/** Splits `FC <id>:<signature>`; undefined when the header is not of that form. */
export function parseAuthorization(header: string): { accessKeyId: string; signature: string } | undefined {
  const m = /^FC\s+([^:\s]+):(\S+)$/.exec(header.trim());
  if (!m) return undefined;
  return { accessKeyId: m[1] as string, signature: m[2] as string };
}

/** Query parameters of an FC signed URL. */
export const SignedUrlParams = {
  accessKeyId: "x-fc-access-key-id",
  expires: "x-fc-expires",
  signature: "x-fc-signature",
} as const;

/** A path as it goes in a URL: each segment percent-encoded, the `/` between them kept. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/**
 * A URL anyone can use with `method` (GET by default) until `expiresAt`, at most
 * `Limits.signedUrlMaxSeconds` (7 days) ahead. FC's signed-URL scheme, as its Go SDK builds it: the
 * expiry (Unix seconds) takes the place of the Date line, and every query parameter but the
 * signature is signed (the caller's, the access key id and the expiry), sorted, after the decoded
 * path.
 */
export function signUrl(opts: {
  baseUrl: string;
  /** The path as the server sees it decoded, e.g. `/2016-08-15/proxy/svc/fn/a b`. */
  path: string;
  accessKeyId: string;
  accessKeySecret: string;
  expiresAt: Date;
  method?: string;
  queries?: QueryBag;
}): string {
  const expiresAt = Math.floor(opts.expiresAt.getTime() / 1000);
  if (expiresAt - Date.now() / 1000 > Limits.signedUrlMaxSeconds) {
    throw new RangeError(`a signed URL may expire at most 7 days (${Limits.signedUrlMaxSeconds} seconds) ahead`);
  }
  const expires = String(expiresAt);
  const pairs: [string, string][] = [];
  for (const [key, value] of Object.entries(opts.queries ?? {})) {
    if (value === undefined || key === SignedUrlParams.accessKeyId || key === SignedUrlParams.expires || key === SignedUrlParams.signature) continue;
    for (const v of Array.isArray(value) ? value : [value]) pairs.push([key, v]);
  }
  pairs.push([SignedUrlParams.accessKeyId, opts.accessKeyId], [SignedUrlParams.expires, expires]);
  const signature = signString(
    composeStringToSign({ method: opts.method ?? "GET", path: opts.path, headers: {}, queries: pairs, dateOverride: expires }),
    opts.accessKeySecret,
  );
  const query = new URLSearchParams([...pairs, [SignedUrlParams.signature, signature]]);
  return `${opts.baseUrl.replace(/\/+$/, "")}${encodePath(opts.path)}?${query.toString()}`;
}
