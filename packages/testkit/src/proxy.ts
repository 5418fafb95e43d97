import { createConnection, createServer, type Server, type Socket } from "node:net";
import { once } from "node:events";

/**
 * A TCP proxy on loopback that a test cuts like a network partition: while partitioned no byte
 * moves either way and connections stay open (a partition is silence, not a reset), and a new
 * connection is held unanswered; healed, everything flows again from where it stopped.
 */
export class PartitionProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly held: Socket[] = [];
  private cut = false;

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host?: string; port: number }): Promise<PartitionProxy> {
    const server = createServer();
    const proxy = new PartitionProxy(server, { host: target.host ?? "127.0.0.1", port: target.port });
    server.on("connection", (client) => {
      client.on("error", () => undefined);
      if (proxy.cut) proxy.held.push(client);
      else proxy.join(client);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  private join(client: Socket): void {
    const upstream = createConnection(this.target);
    upstream.on("error", () => undefined);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("close", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.cut) this.pause(pair);
  }

  private pause([client, upstream]: [Socket, Socket]): void {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }

  /** Stops every byte, both ways, on every connection; new ones wait. */
  partition(): void {
    this.cut = true;
    for (const pair of this.pairs) this.pause(pair);
  }

  /** Lets everything flow again: what was sent meanwhile arrives now, and waiting connections go through. */
  heal(): void {
    this.cut = false;
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    for (const client of this.held.splice(0)) if (!client.destroyed) this.join(client);
  }

  async stop(): Promise<void> {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    for (const client of this.held.splice(0)) client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
