import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { reapStale } from "./process.js";
import { ServerProcess } from "./server-process.js";

export interface RedisServerOptions {
  /** Directory for the config, pid file, log and AOF; reused across restarts. */
  dir: string;
  host?: string;
  port?: number;
  password?: string;
  /** Starts as a replica of this primary (on `host`); Sentinel may make it the primary later. */
  replicaOf?: number;
  /** A Redis Cluster node: how long a node may be unreachable before it is failed over. */
  cluster?: { nodeTimeoutMs: number };
  readyTimeoutMs?: number;
  onLine?: (line: string) => void;
}

/**
 * A real redis-server configured the way Nimbus needs it in production: AOF on (fsync every second),
 * no RDB snapshots, `noeviction` so queued work is never silently dropped.
 */
export class RedisServer extends ServerProcess {
  private constructor(
    readonly options: RedisServerOptions,
    readonly port: number,
    configFile: string,
  ) {
    super({
      binary: "redis-server",
      args: [configFile],
      dir: options.dir,
      readyLine: "Ready to accept connections",
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
      ...(options.onLine === undefined ? {} : { onLine: options.onLine }),
    });
  }

  static async start(options: RedisServerOptions): Promise<RedisServer> {
    await mkdir(options.dir, { recursive: true });
    const port = options.port ?? (await freePort(options.host));
    const configFile = join(options.dir, "redis.conf");
    const pidFile = join(options.dir, "redis-server.pid");
    const lines = [
      "# written by Nimbus at every start",
      `bind ${options.host ?? "127.0.0.1"}`,
      `port ${port}`,
      `dir "${options.dir}"`,
      `pidfile "${pidFile}"`,
      `daemonize no`,
      `logfile ""`,
      `appendonly yes`,
      `appendfsync everysec`,
      `save ""`,
      `maxmemory-policy noeviction`,
      ...(options.password ? [`requirepass "${options.password}"`, `masterauth "${options.password}"`] : []),
      ...(options.replicaOf ? [`replicaof ${options.host ?? "127.0.0.1"} ${options.replicaOf}`] : []),
      // The cluster bus gets a free port of its own (by default it is the port + 10000: maybe taken).
      ...(options.cluster
        ? ["cluster-enabled yes", `cluster-config-file "${join(options.dir, "nodes.conf")}"`, `cluster-node-timeout ${options.cluster.nodeTimeoutMs}`, `cluster-port ${await freePort(options.host)}`]
        : []),
    ];
    await writeFile(configFile, lines.join("\n") + "\n", { mode: 0o600 });
    await reapStale(pidFile, configFile);
    const server = new RedisServer(options, port, configFile);
    await server.launch();
    return server;
  }

  /** `redis://[:password@]host:port` */
  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : "";
    return `redis://${auth}${this.options.host ?? "127.0.0.1"}:${this.port}`;
  }
}
