import { createNaming } from "@nimbus/protocol";
import { Connections, connectNats, connectRedis, drainNats, PresencePublisher, type App } from "@nimbus/service-kit";
import { ensureLogStream } from "@nimbus/store";
import { Counter, createMetricsRegistry, Gauge, type Logger } from "@nimbus/telemetry";
import { Collector } from "./collector.js";
import type { CollectorEnv } from "./env.js";

export interface CollectorDeps {
  env: CollectorEnv;
  logger: Logger;
}

/** A log-collector replica: owns the logs stream (retention, size cap) and builds its indexes. */
export async function buildCollector({ env, logger }: CollectorDeps): Promise<App> {
  const naming = createNaming(env.NIMBUS_PREFIX);
  const node = env.NIMBUS_NODE_ID;
  const metrics = createMetricsRegistry({ service: "log-collector", node });
  const connections = new Connections(metrics);
  const nc = await connectNats({ url: env.NIMBUS_NATS_URL, name: `log-collector/${node}`, logger: logger.child({ module: "nats" }), onConnectedChange: connections.onNats });
  const redis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `log-collector/${node}`,
    logger: logger.child({ module: "redis" }),
    maxRetriesPerRequest: null,
    autoPipelining: true,
    onReadyChange: connections.onRedis,
  });
  await ensureLogStream(nc, naming, { maxAgeMs: env.NIMBUS_LOG_RETENTION, maxBytes: env.NIMBUS_LOG_MAX_BYTES, replicas: env.NIMBUS_NATS_REPLICAS });
  const collector = new Collector(
    nc,
    redis,
    naming,
    { retentionMs: env.NIMBUS_LOG_RETENTION, ackWaitMs: env.NIMBUS_COLLECTOR_ACK_WAIT_MS, maxBytesPerFunction: env.NIMBUS_LOG_MAX_BYTES_PER_FUNCTION },
    {
      batches: new Counter({ name: "nimbus_collector_batches_total", help: "Batches taken from the logs stream.", labelNames: ["kind"], registers: [metrics] }),
      lines: new Counter({ name: "nimbus_collector_lines_total", help: "Function output lines indexed.", registers: [metrics] }),
      records: new Counter({ name: "nimbus_collector_invocation_records_total", help: "Invocation records counted.", registers: [metrics] }),
      purges: new Counter({ name: "nimbus_collector_share_purges_total", help: "Purges of a function's oldest output because it held more than its share of the logs stream.", registers: [metrics] }),
    },
    logger.child({ module: "collector" }),
  );
  new Gauge({
    name: "nimbus_collector_pending_batches",
    help: "Batches on the logs stream no collector has processed yet.",
    registers: [metrics],
    async collect() {
      this.set(await collector.pending().catch(() => -1));
    },
  });
  const presence = new PresencePublisher({ natsUrl: env.NIMBUS_NATS_URL, prefix: env.NIMBUS_PREFIX, identity: { service: "log-collector", node }, isReady: () => connections.up, logger });

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      await collector.start();
      await presence.start();
      return { metrics, ready: () => connections.up };
    },
    stop() {
      stopped ??= (async () => {
        await presence.stop();
        await collector.stop();
        redis.disconnect();
        await drainNats(nc, 1_000);
      })();
      return stopped;
    },
  };
}
