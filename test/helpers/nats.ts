import { connect, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { TestCluster } from "@nimbus/testkit";

/** A NATS connection to a test cluster's server (as a client of the platform would open one). */
export async function connectNats(cluster: TestCluster): Promise<NatsConnection> {
  const url = new URL(cluster.nats.url);
  return connect({ servers: `${url.hostname}:${url.port}`, ...(url.username ? { token: url.username } : {}), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}

/** A cluster for one test, with a NATS connection to it; both go when `body` ends. */
export async function withCluster(options: Parameters<typeof TestCluster.start>[0], body: (cluster: TestCluster, nc: NatsConnection) => Promise<void>): Promise<void> {
  const cluster = await TestCluster.start(options);
  const nc = await connectNats(cluster);
  try {
    await body(cluster, nc);
  } finally {
    await nc.close().catch(() => undefined);
    await cluster.stop();
  }
}

/** Collects what is published on a subject; `next(n)` waits for the n-th message (bounded). */
export class Collector {
  readonly messages: Msg[] = [];
  private waiters: (() => void)[] = [];

  constructor(nc: NatsConnection, subject: string) {
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        this.messages.push(msg);
        for (const wake of this.waiters.splice(0)) wake();
      },
    });
  }

  /** The JSON bodies received so far. */
  json<T = Record<string, unknown>>(): T[] {
    return this.messages.map((m) => m.json<T>());
  }

  async waitFor(count: number, timeoutMs = 30_000): Promise<Msg[]> {
    const until = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = until - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages.slice(0, count);
  }
}
