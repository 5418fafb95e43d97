import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hash as bcryptHash } from "bcryptjs";
import { freePort } from "./ports.js";
import { ServerProcess } from "./server-process.js";

export interface RegistryServerOptions {
  /** Directory for the config, htpasswd file, log and blob store; reused across restarts. */
  dir: string;
  /** Fixed port; a free one on 127.0.0.1 is picked when omitted (and kept across restarts). */
  port?: number;
  /** Require HTTP basic auth with this one account (an htpasswd file, bcrypt). */
  htpasswd?: { user: string; password: string };
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

/**
 * A real image registry: Debian's `docker-registry` (CNCF Distribution 2.8), plain HTTP on
 * 127.0.0.1 (clients treat loopback registries as insecure-allowed, as Docker does), filesystem
 * storage, optional htpasswd auth.
 */
export class RegistryServer extends ServerProcess {
  /** Requests answered since start (oldest dropped past 10 000), parsed from the registry's log. */
  readonly requests: RegistryRequest[] = [];

  private constructor(
    readonly options: RegistryServerOptions,
    readonly port: number,
    configFile: string,
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

  /** Writes the config (and htpasswd file) and starts the registry, resolving once it listens. */
  static async start(options: RegistryServerOptions): Promise<RegistryServer> {
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
    await writeFile(configFile, lines.join("\n") + "\n", { mode: 0o600 });
    const server = new RegistryServer(options, port, configFile);
    await server.launch();
    return server;
  }

  /** `127.0.0.1:<port>`: the registry part of image references (`127.0.0.1:5000/team/app:v1`). */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://${this.host}`;
  }

  /** `user:password` for skopeo's `--creds`, when auth is on. */
  get credentials(): string | undefined {
    return this.options.htpasswd ? `${this.options.htpasswd.user}:${this.options.htpasswd.password}` : undefined;
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
