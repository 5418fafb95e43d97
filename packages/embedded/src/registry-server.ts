import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hash as bcryptHash } from "bcryptjs";
import { freePort } from "./ports.js";
import { ServerProcess } from "./server-process.js";
import { TokenServer, type TokenAccount } from "./token-server.js";

export { TokenServer, libtrustKeyId, type TokenAccess, type TokenAccount, type TokenRequest, type TokenServerOptions } from "./token-server.js";

export interface RegistryServerOptions {
  /** Directory for the config, htpasswd file, log and blob store; reused across restarts. */
  dir: string;
  /** Fixed port; a free one on 127.0.0.1 is picked when omitted (and kept across restarts). */
  port?: number;
  /** Require HTTP basic auth with this one account (an htpasswd file, bcrypt). */
  htpasswd?: { user: string; password: string };
  /**
   * Require bearer tokens (Distribution's token auth) from a token server started alongside, which
   * gives them to these accounts; the first one's are `credentials`. Not together with `htpasswd`.
   */
  token?: { accounts: readonly TokenAccount[] };
  readyTimeoutMs?: number;
  /** Called with every log line (for a console). */
  onLine?: (line: string) => void;
}

/** One request the registry answered, as its log reports it. */
export interface RegistryRequest {
  method: string;
  uri: string;
  status: number;
}

/**
 * The registry checks the password on every request, so a low bcrypt cost keeps pulls fast; this
 * server is for tests and local use on loopback, not for guarding anything.
 */
const BCRYPT_COST = 5;
const REQUEST_HISTORY = 10_000;
/** The `service` (a token's `aud`) and `issuer` the registry and its token server agree on. */
const TOKEN_SERVICE = "nimbus-test-registry";
const TOKEN_ISSUER = "nimbus-test-token-server";

/**
 * A real image registry: Debian's `docker-registry` (CNCF Distribution 2.8), plain HTTP on
 * 127.0.0.1 (clients treat loopback registries as insecure-allowed, as Docker does), filesystem
 * storage, optional htpasswd or bearer-token auth.
 */
export class RegistryServer extends ServerProcess {
  /** Requests answered since start (oldest dropped past 10 000), parsed from the registry's log. */
  readonly requests: RegistryRequest[] = [];

  private constructor(
    readonly options: RegistryServerOptions,
    readonly port: number,
    configFile: string,
    /** The token server that issues this registry's bearer tokens, in token mode. */
    readonly tokenServer: TokenServer | undefined,
  ) {
    super({
      binary: "docker-registry",
      args: ["serve", configFile],
      dir: options.dir,
      readyLine: "listening on",
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
      onLine: (line) => {
        this.record(line);
        options.onLine?.(line);
      },
    });
  }

  /**
   * Writes the config (and htpasswd file, or starts the token server) and starts the registry,
   * resolving once it listens.
   */
  static async start(options: RegistryServerOptions): Promise<RegistryServer> {
    if (options.htpasswd && options.token) throw new Error("a test registry takes htpasswd or token auth, not both");
    if (options.token?.accounts.length === 0) throw new Error("token auth needs at least one account");
    await mkdir(join(options.dir, "data"), { recursive: true });
    const port = options.port ?? (await freePort());
    const configFile = join(options.dir, "config.yml");
    const htpasswdFile = join(options.dir, "htpasswd");
    if (options.htpasswd) {
      const hash = await bcryptHash(options.htpasswd.password, BCRYPT_COST);
      await writeFile(htpasswdFile, `${options.htpasswd.user}:${hash}\n`, { mode: 0o600 });
    }
    const lines = [
      "# written by Nimbus at every start",
      "version: 0.1",
      "log:",
      "  level: info", // one 'response completed' line per request: tests count them
      "  formatter: text",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: "${join(options.dir, "data")}"`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: "127.0.0.1:${port}"`,
      `  secret: "${randomBytes(16).toString("hex")}"`,
      ...(options.htpasswd ? ["auth:", "  htpasswd:", "    realm: nimbus", `    path: "${htpasswdFile}"`] : []),
    ];
    const tokenServer = options.token
      ? await TokenServer.start({ dir: join(options.dir, "token"), service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, accounts: options.token.accounts })
      : undefined;
    if (tokenServer) {
      lines.push(
        "auth:",
        "  token:",
        `    realm: "${tokenServer.realm}"`,
        `    service: "${TOKEN_SERVICE}"`,
        `    issuer: "${TOKEN_ISSUER}"`,
        `    rootcertbundle: "${tokenServer.certFile}"`,
      );
    }
    await writeFile(configFile, lines.join("\n") + "\n", { mode: 0o600 });
    const server = new RegistryServer(options, port, configFile, tokenServer);
    try {
      await server.launch();
    } catch (err) {
      await tokenServer?.stop();
      throw err;
    }
    return server;
  }

  /** Stops the registry (SIGTERM, SIGKILL after the deadline), then its token server. */
  override async stop(deadlineMs?: number): Promise<void> {
    try {
      await super.stop(deadlineMs);
    } finally {
      await this.tokenServer?.stop();
    }
  }

  /** `127.0.0.1:<port>`: the registry part of image references (`127.0.0.1:5000/team/app:v1`). */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://${this.host}`;
  }

  /** `user:password` for skopeo's `--creds`, when auth is on (token auth: its first account). */
  get credentials(): string | undefined {
    const account = this.options.htpasswd ?? this.options.token?.accounts[0];
    return account ? `${account.user}:${account.password}` : undefined;
  }

  private record(line: string): void {
    if (!line.includes('msg="response completed')) return;
    const method = /http\.request\.method=(\S+)/.exec(line)?.[1];
    const uri = /http\.request\.uri="?([^"\s]+)"?/.exec(line)?.[1];
    const status = /http\.response\.status=(\d+)/.exec(line)?.[1];
    if (!method || !uri || !status) return;
    this.requests.push({ method, uri, status: Number(status) });
    if (this.requests.length > REQUEST_HISTORY) this.requests.shift();
  }
}
