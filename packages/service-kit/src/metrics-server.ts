import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Gauge, type Registry } from "@nimbus/telemetry";

/**
 * A service's own `/metrics` (Prometheus text) on `host:port` (port 0: any free one), with
 * `/healthz` (alive) and `/readyz` (its NATS and Redis connections are up: 200, else 503) for
 * probes. Unsigned and meant for a scraper on the operator's network: bind it to loopback or a
 * private interface.
 */
export async function serveMetrics(registry: Registry, host: string, port: number, ready: () => boolean = () => true): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || (path !== "/metrics" && path !== "/healthz" && path !== "/readyz")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const up = ready();
      res.writeHead(up ? 200 : 503, { "content-type": "text/plain" }).end(up ? "ready\n" : "not ready: NATS or Redis is not connected\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    // A scraper's idle keep-alive connection must not hold a shutdown up.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The state of a service's NATS and Redis connections: what readiness and presence read, exported
 * as `nimbus_connection_up{dependency}` on its registry. Pass `onNats`/`onRedis` to the connect
 * helpers.
 */
export class Connections {
  nats = false;
  redis = false;
  private readonly gauge: Gauge;

  constructor(registry: Registry) {
    this.gauge = new Gauge({ name: "nimbus_connection_up", help: "1 while the connection to a dependency is up.", labelNames: ["dependency"], registers: [registry] });
    this.gauge.set({ dependency: "nats" }, 0);
    this.gauge.set({ dependency: "redis" }, 0);
  }

  readonly onNats = (up: boolean): void => {
    this.nats = up;
    this.gauge.set({ dependency: "nats" }, up ? 1 : 0);
  };

  readonly onRedis = (up: boolean): void => {
    this.redis = up;
    this.gauge.set({ dependency: "redis" }, up ? 1 : 0);
  };

  get up(): boolean {
    return this.nats && this.redis;
  }

  /** Waits until Redis is ready, at most `ms` (a service reports ready only once it can serve). */
  async redisReady(ms = 5_000): Promise<boolean> {
    for (let waited = 0; !this.redis && waited < ms; waited += 50) await new Promise((r) => setTimeout(r, 50));
    return this.redis;
  }
}
