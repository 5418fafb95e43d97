import { timingSafeEqual } from "node:crypto";
import { errors, Headers, Limits } from "@nimbus/protocol";
import {
  composeStringToSign,
  parseAuthorization,
  signString,
  SignedUrlParams,
  type HeaderBag,
  type QueryPairs,
} from "@nimbus/sdk";

/** Secrets by access key id. */
export type KeyRing = ReadonlyMap<string, string>;

export interface AuthRequest {
  method: string;
  /** The raw request target: path and query, as received. */
  url: string;
  headers: HeaderBag;
}

export interface Authenticator {
  /** Verifies a request's FC signature (header or signed URL); returns the caller's key id or throws. */
  verify(req: AuthRequest): string;
}

const PROXY_PREFIX = "/2016-08-15/proxy/";

/** Splits the raw query into ordered pairs, decoding each part; `k` without `=` keeps a null value. */
export function parseQueryPairs(query: string): [string, string | null][] {
  if (!query) return [];
  const pairs: [string, string | null][] = [];
  for (const part of query.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = decodeQueryPart(eq === -1 ? part : part.slice(0, eq));
    pairs.push([key, eq === -1 ? null : decodeQueryPart(part.slice(eq + 1))]);
  }
  return pairs;
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

/** The paths a client may have signed: FC signs the decoded path; some SDKs sign it as sent. */
function candidatePaths(rawPath: string): string[] {
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    decoded = undefined;
  }
  return decoded === undefined || decoded === rawPath ? [rawPath] : [decoded, rawPath];
}

function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function single(value: HeaderBag[string]): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

/** FC request-signature verification against a key ring, with a bound on clock skew. */
export function createAuthenticator(keys: KeyRing, now: () => number = Date.now): Authenticator {
  const maxSkewMs = Limits.dateSkewSeconds * 1000;

  // A client's clock may run ahead of ours by the Date skew we accept.
  const maxUrlLifetimeMs = (Limits.signedUrlMaxSeconds + Limits.dateSkewSeconds) * 1000;

  function check(accessKeyId: string, signature: string, req: AuthRequest, rawPath: string, queries: QueryPairs | null, dateOverride?: string): string {
    const secret = keys.get(accessKeyId);
    if (secret === undefined) throw errors.invalidAccessKeyId(accessKeyId);
    for (const path of candidatePaths(rawPath)) {
      const stringToSign = composeStringToSign({
        method: req.method,
        path,
        headers: req.headers,
        queries,
        ...(dateOverride === undefined ? {} : { dateOverride }),
      });
      if (sameSignature(signString(stringToSign, secret), signature)) return accessKeyId;
    }
    throw errors.signatureNotMatch();
  }

  return {
    verify(req) {
      const q = req.url.indexOf("?");
      const rawPath = q === -1 ? req.url : req.url.slice(0, q);
      const pairs = parseQueryPairs(q === -1 ? "" : req.url.slice(q + 1));
      const signedUrlSignature = pairs.find(([k]) => k === SignedUrlParams.signature)?.[1];

      if (signedUrlSignature !== undefined && signedUrlSignature !== null) {
        const accessKeyId = pairs.find(([k]) => k === SignedUrlParams.accessKeyId)?.[1];
        const expires = pairs.find(([k]) => k === SignedUrlParams.expires)?.[1];
        if (!accessKeyId || !expires || !/^\d{1,12}$/.test(expires)) {
          throw errors.accessDenied(`a signed URL needs ${SignedUrlParams.accessKeyId}, ${SignedUrlParams.expires} and ${SignedUrlParams.signature}`);
        }
        const expiresMs = Number(expires) * 1000;
        if (expiresMs < now()) throw errors.accessDenied("the signed URL has expired");
        if (expiresMs > now() + maxUrlLifetimeMs) {
          throw errors.accessDenied(`the signed URL expires too far ahead: at most 7 days (${Limits.signedUrlMaxSeconds} seconds) from now`);
        }
        // FC signs every query parameter of a signed URL but the signature, whatever the path.
        const signed = pairs.filter(([k]) => k !== SignedUrlParams.signature);
        return check(accessKeyId, signedUrlSignature, req, rawPath, signed, expires);
      }

      const header = single(req.headers[Headers.authorization]);
      if (header === undefined) throw errors.missingHeader("Authorization");
      const parsed = parseAuthorization(header);
      if (!parsed) throw errors.accessDenied("the Authorization header must be 'FC <accessKeyId>:<signature>'");
      const date = single(req.headers[Headers.date]) ?? single(req.headers["x-fc-date"]);
      if (date === undefined) throw errors.missingHeader("Date");
      const at = Date.parse(date);
      if (Number.isNaN(at)) throw errors.invalidArgument(`the Date header '${date}' is not an HTTP date`);
      if (Math.abs(now() - at) > maxSkewMs) throw errors.timeTooSkewed(Limits.dateSkewSeconds);
      // With a signed header, FC signs the queries of HTTP-trigger paths only.
      return check(parsed.accessKeyId, parsed.signature, req, rawPath, rawPath.startsWith(PROXY_PREFIX) ? pairs : null);
    },
  };
}
