// FC's request signature, computed in the browser with Web Crypto (HMAC-SHA256): the same string to
// sign as the SDKs' (method, Content-MD5, Content-Type, date, the sorted `x-fc-*` headers, the path).
// Browsers may not set `Date`, so the date travels as `x-fc-date`, which FC accepts in its place.

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
}

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

/** Forgets the imported keys (signing out). */
export function forgetKeys(): void {
  keys.clear();
}

export function stringToSign(method: string, path: string, headers: Record<string, string>): string {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const fc = Object.keys(lower)
    .filter((k) => k.startsWith("x-fc-"))
    .sort()
    .map((k) => `${k}:${lower[k]}\n`)
    .join("");
  return `${method.toUpperCase()}\n${lower["content-md5"] ?? ""}\n${lower["content-type"] ?? ""}\n${lower["date"] ?? lower["x-fc-date"] ?? ""}\n${fc}${path}`;
}

function base64(bytes: ArrayBuffer): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

/** The headers that sign a request: `x-fc-date` and `Authorization: FC <id>:<signature>`. */
export async function signedHeaders(credentials: Credentials, method: string, path: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const all = { ...headers, "x-fc-date": new Date().toUTCString() };
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(credentials.accessKeySecret), encoder.encode(stringToSign(method, path, all)));
  return { ...all, authorization: `FC ${credentials.accessKeyId}:${base64(signature)}` };
}
