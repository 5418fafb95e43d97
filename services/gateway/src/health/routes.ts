import type { FastifyInstance } from "fastify";
import type { PresenceTracker } from "@nimbus/service-kit";
import type { Registry } from "@nimbus/telemetry";

export interface ReadinessSources {
  natsConnected: () => boolean;
  redisReady: () => boolean;
  mirrorsReady: () => boolean;
  presence: PresenceTracker;
  requiredServices: readonly string[];
}

/** What /readyz reports: ready only when NATS is up, metadata is loaded and every required service has a ready node. */
export function readiness(src: ReadinessSources): { ready: boolean; checks: Record<string, unknown> } {
  const nats = src.natsConnected();
  const redis = src.redisReady();
  const metadata = src.mirrorsReady();
  const missing = src.presence.missing(src.requiredServices, "gateway");
  return {
    ready: nats && redis && metadata && missing.length === 0,
    checks: {
      nats: nats ? "connected" : "disconnected",
      redis: redis ? "connected" : "disconnected",
      metadata: metadata ? "loaded" : "loading",
      services: src.presence.alive().map((b) => ({ service: b.service, node: b.node, ready: b.ready })),
      missingServices: missing,
    },
  };
}

/** Unsigned operational endpoints: /healthz (alive), /readyz (ready to serve), /metrics (Prometheus). */
export function healthRoutes(app: FastifyInstance, src: ReadinessSources, registry: Registry): void {
  const publicRoute = { config: { public: true } };
  app.get("/healthz", publicRoute, async () => ({ status: "ok" }));
  app.get("/readyz", publicRoute, async (_req, reply) => {
    const { ready, checks } = readiness(src);
    if (!ready) src.presence.probe();
    return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", ...checks });
  });
  app.get("/metrics", publicRoute, async (_req, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
