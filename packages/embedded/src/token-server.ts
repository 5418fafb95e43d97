import { execFile } from "node:child_process";
import { createPrivateKey, createPublicKey, createHash, randomBytes, sign, timingSafeEqual, X509Certificate, type KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireBinary } from "./binaries.js";

const exec = promisify(execFile);

/** An account the token server knows, and the actions it may be granted on any repository. */
export interface TokenAccount {
  user: string;
  password: string;
  /** Default `pull` and `push`. */
  actions?: readonly string[];
}

export interface TokenServerOptions {
  /** Where the signing key and its certificate are written (`token-key.pem`, `token-cert.pem`). */
  dir: string;
  /** The registry's `service`: a token's `aud`, and what the `service` query parameter must say. */
  service: string;
  /** A token's `iss`; the registry trusts only this issuer. */
  issuer: string;
  accounts: readonly TokenAccount[];
  /** Fixed port; a free one on 127.0.0.1 is picked when omitted. */
  port?: number;
  /** How long a token is valid (default 300 s). */
  ttlSeconds?: number;
}

/** One entry of a token's `access` claim, as Distribution reads it. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** One request the token server answered. */
export interface TokenRequest {
  /** The account named by HTTP basic auth, undefined for an anonymous request. */
  user: string | undefined;
  status: number;
  /** The `scope` parameters asked for, verbatim. */
  scopes: string[];
  /** What the token granted (undefined when no token was given). */
  access?: TokenAccess[];
}

const REQUEST_HISTORY = 10_000;

/**
 * The token server of Distribution's bearer-token auth (the flow Docker Hub, Harbor and GitLab
 * use), for tests: on `GET /token?service=…&scope=…` it checks HTTP basic credentials and answers
 * `{"token": <JWT>}` signed with an EC P-256 key whose self-signed certificate (made with Debian's
 * `openssl`) is the registry's `rootcertbundle`. A known account gets exactly the repository
 * actions it asked for that it may have; a request without credentials gets a token granting
 * nothing, as Docker Hub answers anonymous clients; wrong credentials get 401. It runs in the
 * caller's process: a test that blocks its event loop (execFileSync) while skopeo waits for a
 * token hangs that skopeo.
 */
export class TokenServer {
  /** Requests answered since start (oldest dropped past 10 000). */
  readonly requests: TokenRequest[] = [];
  /**
   * How a token names its signing key (Distribution 2.8 takes either): `x5c`, the certificate
   * itself, checked against the root bundle; or `kid`, the libtrust fingerprint of a key in it.
   */
  keyHeader: "x5c" | "kid" = "x5c";
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly options: TokenServerOptions,
    private readonly server: Server,
    private readonly key: KeyObject,
    private readonly certificate: X509Certificate,
    /** PEM file of the signing certificate: the registry's `rootcertbundle`. */
    readonly certFile: string,
  ) {}

  /** Creates the signing key and certificate (kept in `dir` across starts) and listens on 127.0.0.1. */
  static async start(options: TokenServerOptions): Promise<TokenServer> {
    await mkdir(options.dir, { recursive: true });
    const keyFile = join(options.dir, "token-key.pem");
    const certFile = join(options.dir, "token-cert.pem");
    const existing = await readFile(certFile, "utf8").catch(() => undefined);
    if (existing === undefined) {
      // Node can sign but cannot write an X.509 certificate; Distribution only trusts keys it gets as one.
      await exec(requireBinary("openssl"), [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", keyFile, "-out", certFile, "-days", "3650", "-subj", `/CN=${options.issuer}`,
      ]);
    }
    const key = createPrivateKey(await readFile(keyFile));
    const certificate = new X509Certificate(await readFile(certFile));
    const server = createServer();
    const tokens = new TokenServer(options, server, key, certificate, certFile);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      try {
        tokens.answer(req, res);
      } catch (err) {
        // A bug here must fail the token request (the client sees a 500), not the test process.
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
    });
    return tokens;
  }

  /** The port it listens on (127.0.0.1). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:<port>/token`: the registry's `realm`. */
  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  /** Stops listening and drops open connections; idempotent. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopped;
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.realm);
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const basic = parseBasic(req.headers.authorization);
    const reply = (status: number, body: object, access?: TokenAccess[]): void => {
      this.requests.push({ user: basic?.user, status, scopes, ...(access ? { access } : {}) });
      if (this.requests.length > REQUEST_HISTORY) this.requests.shift();
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (status === 401) headers["www-authenticate"] = `Basic realm="${this.options.issuer}"`;
      res.writeHead(status, headers).end(JSON.stringify(body));
    };

    if (req.method !== "GET" || url.pathname !== "/token") return reply(404, { errors: [{ code: "NOT_FOUND", message: "GET /token only" }] });
    if (url.searchParams.get("service") !== this.options.service) {
      return reply(400, { errors: [{ code: "UNSUPPORTED", message: `unknown service; this server issues tokens for '${this.options.service}'` }] });
    }
    let access: TokenAccess[] = [];
    if (basic || req.headers.authorization !== undefined) {
      const account = basic && this.options.accounts.find((a) => a.user === basic.user && same(a.password, basic.password));
      if (!account) return reply(401, { errors: [{ code: "UNAUTHORIZED", message: "incorrect username or password" }] });
      access = grant(scopes, account.actions ?? ["pull", "push"]);
    }
    const now = Math.floor(Date.now() / 1000);
    const ttl = this.options.ttlSeconds ?? 300;
    const claims = {
      iss: this.options.issuer,
      sub: basic?.user ?? "",
      aud: this.options.service, // Distribution 2.8 reads aud as one string, not a list
      exp: now + ttl,
      nbf: now,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    reply(200, { token: this.sign(claims), expires_in: ttl, issued_at: new Date(now * 1000).toISOString() }, access);
  }

  /** A compact ES256 JWS; the signature is r‖s (JOSE's form, which libtrust verifies), not DER. */
  private sign(claims: object): string {
    const header = {
      typ: "JWT",
      alg: "ES256",
      ...(this.keyHeader === "x5c" ? { x5c: [this.certificate.raw.toString("base64")] } : { kid: libtrustKeyId(this.certificate.publicKey) }),
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(input), { key: this.key, dsaEncoding: "ieee-p1363" });
    return `${input}.${signature.toString("base64url")}`;
  }
}

/**
 * The actions of each `repository:<name>:<actions>` scope that `allowed` includes, one entry per
 * repository; other resource types (`registry:catalog:*`) get nothing.
 */
function grant(scopes: string[], allowed: readonly string[]): TokenAccess[] {
  const byName = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last === first || scope.slice(0, first) !== "repository") continue;
    const name = scope.slice(first + 1, last);
    const actions = byName.get(name) ?? new Set<string>();
    for (const action of scope.slice(last + 1).split(",")) if (allowed.includes(action)) actions.add(action);
    byName.set(name, actions);
  }
  return [...byName].filter(([, actions]) => actions.size > 0).map(([name, actions]) => ({ type: "repository", name, actions: [...actions] }));
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^basic\s+(\S+)$/i.exec(header ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString();
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function same(a: string, b: string): boolean {
  const [x, y] = [createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest()];
  return timingSafeEqual(x, y);
}

function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * libtrust's key ID, which Distribution 2.8 matches a `kid` against: the first 240 bits of the
 * SHA-256 of the key's DER SubjectPublicKeyInfo, base32 (48 characters), in 12 groups of 4 joined by ':'.
 */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === "public" ? key : createPublicKey(key);
  const digest = createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest().subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
      value &= (1 << bits) - 1;
    }
  }
  return out.match(/.{4}/g)!.join(":");
}
