import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { reapStale } from "./process.js";
import { ServerProcess } from "./server-process.js";

export interface NatsServerOptions {
  /** Directory for the config, pid file, log and JetStream store; reused across restarts. */
  dir: string;
  host?: string;
  /** Fixed port; a free one is picked when omitted (and kept across restarts). */
  port?: number;
  /** Client auth token; no auth when omitted. */
  token?: string;
  /** Raised above nats-server's 1 MB default so that most payloads need no chunking. */
  maxPayloadBytes?: number;
  readyTimeoutMs?: number;
  /** Called with every log line (for a console). */
  onLine?: (line: string) => void;
  /** A member of a cluster: its route port and every member's (its own included), on `host`. */
  cluster?: { name: string; port: number; routes: number[] };
}

const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;

/** A real nats-server with JetStream on. */
export class NatsServer extends ServerProcess {
  private constructor(
    readonly options: NatsServerOptions,
    readonly port: number,
    configFile: string,
  ) {
    super({
      binary: "nats-server",
      args: ["-c", configFile],
      dir: options.dir,
      readyLine: "Server is ready",
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
      ...(options.onLine === undefined ? {} : { onLine: options.onLine }),
    });
  }

  /** Writes the config and starts the server, resolving once it (and JetStream) is ready. */
  static async start(options: NatsServerOptions): Promise<NatsServer> {
    await mkdir(join(options.dir, "jetstream"), { recursive: true });
    const port = options.port ?? (await freePort(options.host));
    const configFile = join(options.dir, "nats-server.conf");
    const pidFile = join(options.dir, "nats-server.pid");
    const lines = [
      "# written by Nimbus at every start",
      `server_name: nimbus_${port}`,
      `listen: "${options.host ?? "127.0.0.1"}:${port}"`,
      `max_payload: ${options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD}`,
      `pid_file: "${pidFile}"`,
      `jetstream {`,
      `  store_dir: "${join(options.dir, "jetstream")}"`,
      `}`,
      ...(options.token ? [`authorization {`, `  token: "${options.token}"`, `}`] : []),
      ...(options.cluster
        ? [
            `cluster {`,
            `  name: "${options.cluster.name}"`,
            `  listen: "${options.host ?? "127.0.0.1"}:${options.cluster.port}"`,
            `  routes: [${options.cluster.routes.map((p) => `"nats-route://${options.host ?? "127.0.0.1"}:${p}"`).join(", ")}]`,
            `}`,
          ]
        : []),
    ];
    await writeFile(configFile, lines.join("\n") + "\n", { mode: 0o600 });
    await reapStale(pidFile, configFile);
    const server = new NatsServer(options, port, configFile);
    await server.launch();
    return server;
  }

  /** `nats://[token@]host:port` */
  get url(): string {
    const auth = this.options.token ? `${this.options.token}@` : "";
    return `nats://${auth}${this.options.host ?? "127.0.0.1"}:${this.port}`;
  }
}
