import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Gauge, type Registry } from "@nimbus/telemetry";

/**
 * A service's own `/metrics` (Prometheus text) on `host:port` (port 0: any free one). Unsigned and
 * meant for a scraper on the operator's network: bind it to loopback or a private interface.
 */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" || (path !== "/metrics" && path !== "/healthz")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
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

/** Gauges of a service's connections (1 up, 0 down), for its registry. */
export function connectionGauges(registry: Registry): { nats(up: boolean): void; redis(up: boolean): void } {
  const gauge = new Gauge({ name: "nimbus_connection_up", help: "1 while the connection to a dependency is up.", labelNames: ["dependency"], registers: [registry] });
  gauge.set({ dependency: "nats" }, 0);
  return {
    nats: (up) => gauge.set({ dependency: "nats" }, up ? 1 : 0),
    redis: (up) => gauge.set({ dependency: "redis" }, up ? 1 : 0),
  };
}
