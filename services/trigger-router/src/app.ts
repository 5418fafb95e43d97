import { AsyncQueues, AsyncSubmitter, InvocationStore, RedisClock } from "@nimbus/async";
import { Dispatcher, FunctionCaller, TargetResolver } from "@nimbus/dispatch";
import { createNaming, effectiveAsyncConfig } from "@nimbus/protocol";
import { Connections, connectNats, connectRedis, drainNats, PresencePublisher, PresenceTracker, traceServices, type App } from "@nimbus/service-kit";
import { openControlPlane, openMirrors } from "@nimbus/store";
import { Counter, createMetricsRegistry, type Logger } from "@nimbus/telemetry";
import type { TriggerRouterEnv } from "./env.js";
import { TriggerInvoker } from "./invoke.js";
import { NatsTriggers } from "./nats-triggers.js";
import { ObjectEvents } from "./objects.js";
import { Timers } from "./timers.js";

export interface TriggerRouterDeps {
  env: TriggerRouterEnv;
  logger: Logger;
}

/**
 * A trigger-router replica: timers, NATS subject triggers and object-storage triggers turned into
 * invocations. Any number may run; they share the work (BullMQ for ticks, NATS queue groups and
 * durable consumers for messages). Trigger changes are followed through the watched triggers
 * bucket, so they take effect without a restart.
 */
export async function buildTriggerRouter({ env, logger }: TriggerRouterDeps): Promise<App> {
  const naming = createNaming(env.NIMBUS_PREFIX);
  const node = env.NIMBUS_NODE_ID;
  const metrics = createMetricsRegistry({ service: "trigger-router", node });
  const connections = new Connections(metrics);
  const nc = await connectNats({ url: env.NIMBUS_NATS_URL, name: `trigger-router/${node}`, logger: logger.child({ module: "nats" }), onConnectedChange: connections.onNats });
  // BullMQ's (its worker blocks): never give up on a command.
  const redis = connectRedis({
    url: env.NIMBUS_REDIS_URL,
    name: `trigger-router/${node}`,
    logger: logger.child({ module: "redis" }),
    maxRetriesPerRequest: null,
    onReadyChange: connections.onRedis,
  });
  const recordsRedis = connectRedis({ url: env.NIMBUS_REDIS_URL, name: `trigger-router/${node}/records`, logger: logger.child({ module: "redis" }), maxRetriesPerRequest: null, autoPipelining: true });
  const store = await openControlPlane(nc, { naming, replicas: env.NIMBUS_NATS_REPLICAS });
  const onInvalid = (key: string, err: unknown) => logger.warn({ key, err }, "skipping unreadable control-plane record");
  const mirrors = await openMirrors(store, ["services", "functions", "versions", "versionFunctions", "aliases", "triggers", "asyncConfigs"], onInvalid);
  traceServices(naming, (key) => mirrors.services.get(key)?.value);

  const presenceTracker = new PresenceTracker(nc, naming);
  const dispatcher = new Dispatcher(nc, naming, presenceTracker, store.payloads, logger.child({ module: "dispatch" }), {
    ackTimeoutMs: 5_000,
    livenessCheckMs: 500,
    direct: { caller: `trigger-router/${node}` },
  });
  const queues = new AsyncQueues(redis, nc, naming);
  const clock = new RedisClock(recordsRedis);
  const submitter = new AsyncSubmitter(queues, new InvocationStore(recordsRedis, naming, env.NIMBUS_ASYNC_RETENTION_MS), recordsRedis, naming, {
    now: () => clock.now(),
    replicas: { count: env.NIMBUS_REDIS_WAIT_REPLICAS, timeoutMs: env.NIMBUS_REDIS_WAIT_MS },
    maxBacklog: env.NIMBUS_ASYNC_MAX_BACKLOG,
    asyncConfig: (service, qualifier, fn) => effectiveAsyncConfig((key) => mirrors.asyncConfigs.get(key)?.value, service, qualifier, fn),
  });
  const caller = new FunctionCaller(new TargetResolver(mirrors, naming), dispatcher, {
    coldStartAllowanceMs: env.NIMBUS_COLD_START_ALLOWANCE_MS,
    maxResponseBytes: env.NIMBUS_MAX_RESPONSE_BYTES,
  });
  const invoker = new TriggerInvoker(caller, submitter, new Counter({ name: "nimbus_trigger_events_total", help: "Events turned into invocations, by trigger type and outcome.", labelNames: ["type", "outcome"], registers: [metrics] }));
  const timers = new Timers(redis, naming, mirrors.triggers, invoker, logger.child({ module: "timers" }));
  const nats = new NatsTriggers(
    nc,
    naming,
    mirrors.triggers,
    invoker,
    { ackWaitMs: env.NIMBUS_TRIGGER_ACK_WAIT_MS, streamMaxAgeMs: env.NIMBUS_TRIGGER_STREAM_MAX_AGE_MS, replicas: env.NIMBUS_NATS_REPLICAS, maxInFlight: env.NIMBUS_TRIGGER_MAX_IN_FLIGHT },
    logger.child({ module: "nats-triggers" }),
  );
  const objects = new ObjectEvents(nc, env.NIMBUS_OBJECT_EVENTS_SUBJECT, mirrors.triggers, invoker, env.NIMBUS_REGION, logger.child({ module: "object-events" }));
  const presence = new PresencePublisher({
    natsUrl: env.NIMBUS_NATS_URL,
    prefix: env.NIMBUS_PREFIX,
    identity: { service: "trigger-router", node },
    isReady: () => connections.up && mirrors.ready(),
    logger,
  });

  let stopped: Promise<void> | undefined;
  return {
    async start() {
      await connections.redisReady();
      await clock.start();
      presenceTracker.start();
      dispatcher.start();
      await timers.start();
      await nats.start();
      objects.start();
      await presence.start();
      return { metrics, ready: () => connections.up };
    },
    stop() {
      stopped ??= (async () => {
        await presence.stop();
        clock.stop();
        await objects.stop();
        await nats.stop();
        await timers.stop();
        dispatcher.stop();
        presenceTracker.stop();
        await queues.close();
        await mirrors.stop();
        redis.disconnect();
        recordsRedis.disconnect();
        await drainNats(nc, 1_000);
      })();
      return stopped;
    },
  };
}
