import type { FastifyInstance } from "fastify";
import { Counter, Histogram, type Registry } from "@nimbus/telemetry";

/** Counts and times every API request by route template (bounded labels: never raw paths or ids). */
export function instrumentHttp(app: FastifyInstance, registry: Registry): void {
  const requests = new Counter({
    name: "nimbus_http_requests_total",
    help: "HTTP requests answered by the gateway",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "nimbus_http_request_duration_seconds",
    help: "Time to answer an HTTP request",
    labelNames: ["method", "route"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook("onResponse", (req, reply, done) => {
    const route = req.routeOptions.url ?? "(unmatched)";
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    done();
  });
}
