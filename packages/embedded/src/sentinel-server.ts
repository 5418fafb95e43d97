import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { reapStale } from "./process.js";
import { ServerProcess } from "./server-process.js";

export interface SentinelServerOptions {
  /** Directory for the config (which Sentinel rewrites as it learns) and pid file. */
  dir: string;
  host?: string;
  port?: number;
  /** The name clients ask for, and the primary to watch at first. */
  masterName: string;
  primaryPort: number;
  /** The primary's (and its replicas') password. */
  password?: string;
  /** How many sentinels must agree the primary is down. */
  quorum: number;
  /** How long the primary may be silent before it counts as down (ms). */
  downAfterMs?: number;
  readyTimeoutMs?: number;
  onLine?: (line: string) => void;
}

/**
 * A real Redis Sentinel (`redis-server --sentinel`, as Debian's redis-sentinel runs it): watches a
 * primary, and with its peers promotes a replica when the primary is down.
 */
export class SentinelServer extends ServerProcess {
  private constructor(
    readonly options: SentinelServerOptions,
    readonly port: number,
    configFile: string,
  ) {
    super({
      binary: "redis-server",
      args: [configFile, "--sentinel"],
      dir: options.dir,
      readyLine: "+monitor master",
      ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
      ...(options.onLine === undefined ? {} : { onLine: options.onLine }),
    });
  }

  static async start(options: SentinelServerOptions): Promise<SentinelServer> {
    await mkdir(options.dir, { recursive: true });
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? (await freePort(options.host));
    const configFile = join(options.dir, "sentinel.conf");
    const pidFile = join(options.dir, "sentinel.pid");
    const name = options.masterName;
    const lines = [
      "# written by Nimbus at every start (Sentinel adds what it learns)",
      `bind ${host}`,
      `port ${port}`,
      `dir "${options.dir}"`,
      `pidfile "${pidFile}"`,
      `daemonize no`,
      `logfile ""`,
      `sentinel resolve-hostnames no`,
      `sentinel monitor ${name} ${host} ${options.primaryPort} ${options.quorum}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 2_000}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      ...(options.password ? [`sentinel auth-pass ${name} "${options.password}"`] : []),
    ];
    await writeFile(configFile, lines.join("\n") + "\n", { mode: 0o600 });
    await reapStale(pidFile, configFile);
    const server = new SentinelServer(options, port, configFile);
    await server.launch();
    return server;
  }

  /** `host:port` of this sentinel (what a `redis+sentinel://` URL lists). */
  get url(): string {
    return `${this.options.host ?? "127.0.0.1"}:${this.port}`;
  }
}
