import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, NatsServer, RedisServer, SentinelServer } from "@nimbus/embedded";

const run = promisify(execFile);

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

/**
 * A Redis Cluster as production runs one: three primaries, each with two replicas (one takes over
 * when it fails, after cluster-node-timeout 1 s; the other still copies what is acknowledged with
 * WAIT 1), made with `redis-cli --cluster create`.
 */
export class RedisClusterSet {
  private constructor(
    readonly nodes: RedisServer[],
    private readonly password: string | undefined,
  ) {}

  static async start(dir: string, password: string | undefined): Promise<RedisClusterSet> {
    const nodes = await Promise.all(
      Array.from({ length: 9 }, (_, i) => RedisServer.start({ dir: join(dir, `redis-cluster-${i}`), cluster: { nodeTimeoutMs: 1_000 }, ...(password ? { password } : {}) })),
    );
    const set = new RedisClusterSet(nodes, password);
    try {
      await set.cli(nodes[0] as RedisServer, "--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "2", "--cluster-yes");
      await set.waitUntilServing();
      return set;
    } catch (err) {
      await set.stop();
      throw err;
    }
  }

  /** `redis+cluster://[:password@]host:port,…`: what services are given (every node, as seeds). */
  get url(): string {
    return `redis+cluster://${this.password ? `:${encodeURIComponent(this.password)}@` : ""}${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`;
  }

  /** The nodes that are primaries now (a replica becomes one when its primary fails). */
  async primaries(): Promise<RedisServer[]> {
    const lines = (await this.cli(this.nodes.find((n) => n.process.running) ?? (this.nodes[0] as RedisServer), "cluster", "nodes")).split("\n");
    const ports = new Set(lines.filter((l) => / master /.test(l) && !/fail/.test(l)).map((l) => Number(/:(\d+)@/.exec(l)?.[1])));
    return this.nodes.filter((n) => ports.has(n.port));
  }

  /** The primary that serves `key` now (its hash slot's owner). */
  async primaryFor(key: string): Promise<RedisServer> {
    const any = this.nodes.find((n) => n.process.running) ?? (this.nodes[0] as RedisServer);
    const slot = Number((await this.cli(any, "cluster", "keyslot", key)).trim());
    for (const line of (await this.cli(any, "cluster", "nodes")).split("\n")) {
      const fields = line.trim().split(" ");
      if (!/master/.test(fields[2] ?? "") || /fail/.test(fields[2] ?? "")) continue;
      const owns = fields.slice(8).some((range) => {
        const [from, to = from] = range.split("-").map(Number);
        return from !== undefined && to !== undefined && slot >= from && slot <= to;
      });
      const port = Number(/:(\d+)@/.exec(fields[1] ?? "")?.[1]);
      const node = this.nodes.find((n) => n.port === port);
      if (owns && node) return node;
    }
    throw new Error(`no primary serves slot ${slot} (${key})`);
  }

  /** Until every slot is served and every node agrees. */
  async waitUntilServing(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(this.nodes.filter((n) => n.process.running).map((n) => this.cli(n, "cluster", "info").catch(() => "")));
      if (states.every((s) => /cluster_state:ok/.test(s) && /cluster_slots_ok:16384/.test(s))) return;
      if (Date.now() > deadline) throw new Error(`the Redis Cluster is not serving every slot after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async cli(node: RedisServer, ...args: string[]): Promise<string> {
    const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(node.port), ...args], {
      env: { ...process.env, ...(this.password ? { REDISCLI_AUTH: this.password } : {}) },
      timeout: 30_000,
    });
    return stdout;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
  }
}
