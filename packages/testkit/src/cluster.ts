import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer, NimbusServiceProcess, RedisServer, RegistryServer } from "@nimbus/embedded";
import type { ServiceName } from "@nimbus/protocol";
import { NimbusClient } from "@nimbus/sdk";
import { NatsCluster, RedisClusterSet, RedisSentinelSet } from "./ha.js";

export interface ClusterOptions {
  /** Nimbus services to start, one process each (more with `startService`). Default: gateway. */
  services?: ServiceName[];
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /**
   * Start redis-server too (default true); "sentinel": a primary, two replicas and three sentinels;
   * "cluster": a Redis Cluster of three primaries with two replicas each.
   */
  redis?: boolean | "sentinel" | "cluster";
  /** "cluster": a 3-node nats-server cluster (JetStream R3, services given every seed). */
  nats?: "single" | "cluster";
  /** Protect the servers with a token/password, as `npm start` does (default true). */
  auth?: boolean;
  /** nats-server's max_payload (default 8 MB); a small one exercises payloads that do not fit a message. */
  natsMaxPayloadBytes?: number;
  /**
   * Start an image registry too (Debian's docker-registry on a free loopback port); with
   * `{ auth: true }` (or `"basic"`) it requires a password, with `{ auth: "token" }` a bearer token
   * its token server gives for that password; services get it through NIMBUS_REGISTRY_AUTH.
   */
  registry?: boolean | { auth: RegistryAuth };
}

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  accountId: string;
  region: string;
}

/**
 * A whole Nimbus on loopback for one test suite: a real nats-server (JetStream) and redis-server on
 * free ports in a temp dir, and Nimbus services as child processes. Anything here can be killed,
 * frozen and restarted on the same data.
 */
export class TestCluster {
  readonly services = new Map<ServiceName, NimbusServiceProcess[]>();
  readonly credentials: Credentials = {
    accessKeyId: `LTAI${randomBytes(8).toString("hex")}`,
    accessKeySecret: randomBytes(24).toString("base64url"),
    accountId: String(1_000_000_000_000_000 + Math.floor(Math.random() * 8_000_000_000_000_000)),
    region: "cn-local",
  };
  private counter = 0;

  private constructor(
    readonly dir: string,
    /** The (first) nats-server. */
    readonly nats: NatsServer,
    /** The redis-server (with Sentinel: the one that started as primary). */
    readonly redis: RedisServer | undefined,
    readonly registry: RegistryServer | undefined,
    private readonly baseEnv: Record<string, string>,
    /** With `nats: "cluster"`: every node. */
    readonly natsCluster?: NatsCluster,
    /** With `redis: "sentinel"`: the primary, the replica and the sentinels. */
    readonly sentinel?: RedisSentinelSet,
    /** With `redis: "cluster"`: every node. */
    readonly redisCluster?: RedisClusterSet,
  ) {}

  /** Starts the servers and the requested services; resolves when every service reported ready. */
  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), "nimbus-test-"));
    await chmod(dir, 0o755); // instances run as another uid and must reach their code under it
    const auth = options.auth ?? true;
    let nats: NatsServer | undefined;
    let redis: RedisServer | undefined;
    let registry: RegistryServer | undefined;
    let natsCluster: NatsCluster | undefined;
    let sentinel: RedisSentinelSet | undefined;
    let redisCluster: RedisClusterSet | undefined;
    // NIMBUS_TEST_REDIS=cluster runs suites that take the default Redis on a Redis Cluster instead.
    const redisKind = options.redis ?? (process.env["NIMBUS_TEST_REDIS"] === "cluster" ? "cluster" : true);
    const token = auth ? randomBytes(12).toString("hex") : undefined;
    const password = auth ? randomBytes(12).toString("hex") : undefined;
    try {
      [nats, redis] = await Promise.all([
        options.nats === "cluster"
          ? NatsCluster.start(dir, token).then((c) => ((natsCluster = c), c.nodes[0] as NatsServer))
          : NatsServer.start({ dir: join(dir, "nats"), ...(token ? { token } : {}), ...(options.natsMaxPayloadBytes ? { maxPayloadBytes: options.natsMaxPayloadBytes } : {}) }),
        redisKind === false
          ? Promise.resolve(undefined)
          : redisKind === "sentinel"
            ? RedisSentinelSet.start(dir, password).then((s) => ((sentinel = s), s.primary))
            : redisKind === "cluster"
              ? RedisClusterSet.start(dir, password).then((c) => ((redisCluster = c), c.nodes[0] as RedisServer))
              : RedisServer.start({ dir: join(dir, "redis"), ...(password ? { password } : {}) }),
      ]);
      await mkdir(join(dir, "logs"), { recursive: true });
      const env = { ...options.env };
      if (natsCluster) {
        env["NIMBUS_NATS_URL"] = natsCluster.url;
        env["NIMBUS_NATS_REPLICAS"] ??= "3";
      }
      if (sentinel) {
        env["NIMBUS_REDIS_URL"] = sentinel.url;
        // An async invocation is acknowledged once the replica has it too: a failover loses none.
        env["NIMBUS_REDIS_WAIT_REPLICAS"] ??= "1";
      }
      if (redisCluster) {
        env["NIMBUS_REDIS_URL"] = redisCluster.url;
        env["NIMBUS_REDIS_WAIT_REPLICAS"] ??= "1";
      }
      if (options.registry) {
        registry = await startRegistry(join(dir, "registry"), typeof options.registry === "object" ? options.registry.auth : false);
        if (registry.credentials) env["NIMBUS_REGISTRY_AUTH"] = await writeAuthFile(join(dir, "registry-auth.json"), [registry]);
      }
      const cluster = new TestCluster(dir, nats, redis, registry, env, natsCluster, sentinel, redisCluster);
      for (const name of options.services ?? ["gateway"]) await cluster.startService(name);
      return cluster;
    } catch (err) {
      await Promise.allSettled([natsCluster ? natsCluster.stop() : nats?.stop(), (sentinel ?? redisCluster ?? redis)?.stop(), registry?.stop()]);
      await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
      throw err;
    }
  }

  /** The environment every service of this cluster gets (plus `extra`). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: process.env["HOME"] ?? "/tmp",
      NIMBUS_NATS_URL: this.nats.url,
      ...(this.redis ? { NIMBUS_REDIS_URL: this.redis.url } : {}),
      NIMBUS_ACCESS_KEY_ID: this.credentials.accessKeyId,
      NIMBUS_ACCESS_KEY_SECRET: this.credentials.accessKeySecret,
      NIMBUS_ACCOUNT_ID: this.credentials.accountId,
      NIMBUS_REGION: this.credentials.region,
      NIMBUS_PORT: "0",
      NIMBUS_LOG_LEVEL: process.env["NIMBUS_TEST_LOG_LEVEL"] ?? "info",
      NIMBUS_SHUTDOWN_TIMEOUT_MS: "5000",
      ...this.baseEnv,
      ...extra,
    };
  }

  /** Starts one more process of a service (scale out) and waits until it is ready. */
  async startService(name: ServiceName, extraEnv: Record<string, string> = {}, nodeArgs: string[] = []): Promise<NimbusServiceProcess> {
    const index = this.counter++;
    const proc = new NimbusServiceProcess({
      name,
      nodeArgs,
      env: this.env({ NIMBUS_NODE_ID: `${name}-${index}`, NIMBUS_INVOKER_DIR: join(this.dir, "invoker", `${name}-${index}`), ...extraEnv }),
      logFile: join(this.dir, "logs", `${name}-${index}.log`),
    });
    const list = this.services.get(name) ?? [];
    list.push(proc);
    this.services.set(name, list);
    await proc.start();
    return proc;
  }

  /** The first (or n-th) process of a service. */
  service(name: ServiceName, n = 0): NimbusServiceProcess {
    const proc = this.services.get(name)?.[n];
    if (!proc) throw new Error(`no ${name} #${n} in this cluster`);
    return proc;
  }

  /** `http://127.0.0.1:<port>` of the first (or n-th) gateway. */
  endpoint(n = 0): string {
    const port = this.service("gateway", n).ready?.port;
    if (!port) throw new Error("the gateway is not running");
    return `http://127.0.0.1:${port}`;
  }

  /** A client signed with the root key, talking to the first (or n-th) gateway. */
  client(n = 0): NimbusClient {
    return new NimbusClient({
      endpoint: this.endpoint(n),
      accessKeyId: this.credentials.accessKeyId,
      accessKeySecret: this.credentials.accessKeySecret,
      accountId: this.credentials.accountId,
    });
  }

  /** What a service process wrote to its log (for assertions and failure messages). */
  async logs(name: ServiceName, n = 0): Promise<string> {
    const proc = this.service(name, n);
    return readFile(proc.process.options.logFile ?? "", "utf8").catch(() => proc.process.recentOutput());
  }

  /** The end of every service's log, each under its name: what to print when a test failed. */
  async logTails(lines = 30): Promise<string> {
    const parts: string[] = [];
    for (const [name, list] of this.services) {
      for (let n = 0; n < list.length; n++) {
        const tail = (await this.logs(name, n)).trimEnd().split("\n").slice(-lines).join("\n");
        if (tail) parts.push(`--- ${name}[${n}] (last ${lines} lines)\n${tail}`);
      }
    }
    return parts.join("\n");
  }

  /** Stops everything and removes the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    const all = [...this.services.values()].flat();
    await Promise.allSettled(all.map((p) => p.stop(5_000)));
    await Promise.allSettled(all.map((p) => p.close()));
    this.services.clear();
    await Promise.allSettled([
      this.natsCluster ? this.natsCluster.stop() : this.nats.stop(),
      (this.sentinel ?? this.redisCluster ?? this.redis)?.stop(),
      this.registry?.stop(),
    ]);
    if (!process.env["NIMBUS_TEST_KEEP"]) await rm(this.dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
  }
}

/**
 * How a test registry guards its images: not at all, HTTP basic (`true` or `"basic"`, htpasswd),
 * or bearer tokens from a token server of its own (`"token"`, Distribution's token auth).
 */
export type RegistryAuth = boolean | "basic" | "token";

/** A test image registry in `dir`, with a random password for user `nimbus` when `auth` is on. */
export function startRegistry(dir: string, auth: RegistryAuth = false): Promise<RegistryServer> {
  const account = { user: "nimbus", password: randomBytes(12).toString("hex") };
  if (auth === "token") return RegistryServer.start({ dir, token: { accounts: [account] } });
  return RegistryServer.start({ dir, ...(auth ? { htpasswd: account } : {}) });
}

/** Writes a Docker-style auth file (`{"auths": {host: {auth}}}`) for registries with credentials; returns its path. */
export async function writeAuthFile(path: string, registries: { host: string; credentials?: string | undefined }[]): Promise<string> {
  const auths: Record<string, { auth: string }> = {};
  for (const r of registries) if (r.credentials) auths[r.host] = { auth: Buffer.from(r.credentials).toString("base64") };
  await writeFile(path, JSON.stringify({ auths }, null, 2), { mode: 0o600 });
  return path;
}
