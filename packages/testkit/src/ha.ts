import { join } from "node:path";
import { freePort, NatsServer, RedisServer, SentinelServer } from "@nimbus/embedded";

/** A 3-node nats-server cluster with JetStream (routes on loopback ports), as production runs NATS. */
export class NatsCluster {
  private constructor(
    readonly nodes: NatsServer[],
    private readonly token: string | undefined,
  ) {}

  static async start(dir: string, token: string | undefined, size = 3): Promise<NatsCluster> {
    const routes = await Promise.all(Array.from({ length: size }, () => freePort()));
    const nodes = await Promise.all(
      routes.map((port, i) => NatsServer.start({ dir: join(dir, `nats-${i}`), ...(token ? { token } : {}), cluster: { name: "nimbus", port, routes } })),
    );
    return new NatsCluster(nodes, token);
  }

  /** The seed list services get: `nats://[token@]host:port,host:port,…`. */
  get url(): string {
    return `nats://${this.token ? `${this.token}@` : ""}${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
  }
}

/**
 * Redis as it runs with automatic failover: a primary, two replicas (so that one is still there to
 * copy acknowledged writes after the other is promoted) and three sentinels (quorum 2).
 */
export class RedisSentinelSet {
  static readonly masterName = "nimbus";

  private constructor(
    readonly primary: RedisServer,
    readonly replicas: RedisServer[],
    readonly sentinels: SentinelServer[],
    private readonly password: string | undefined,
  ) {}

  static async start(dir: string, password: string | undefined): Promise<RedisSentinelSet> {
    const primary = await RedisServer.start({ dir: join(dir, "redis-primary"), ...(password ? { password } : {}) });
    const replicas = await Promise.all([0, 1].map((i) => RedisServer.start({ dir: join(dir, `redis-replica-${i}`), replicaOf: primary.port, ...(password ? { password } : {}) })));
    const sentinels = await Promise.all(
      [0, 1, 2].map((i) =>
        SentinelServer.start({
          dir: join(dir, `sentinel-${i}`),
          masterName: RedisSentinelSet.masterName,
          primaryPort: primary.port,
          quorum: 2,
          downAfterMs: 1_000,
          ...(password ? { password } : {}),
        }),
      ),
    );
    return new RedisSentinelSet(primary, replicas, sentinels, password);
  }

  /** `redis+sentinel://[:password@]host:port,…/nimbus`: what services are given. */
  get url(): string {
    return `redis+sentinel://${this.password ? `:${encodeURIComponent(this.password)}@` : ""}${this.sentinels.map((s) => s.url).join(",")}/${RedisSentinelSet.masterName}`;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.sentinels, ...this.replicas, this.primary].map((s) => s.stop()));
  }
}
